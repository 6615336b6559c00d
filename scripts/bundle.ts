/**
 * Builds the `tern` command into dist/cli/: one minified ES module bundle (esbuild) whose
 * sub-commands and protocols are chunks loaded when used, with source maps beside them
 * (`node --enable-source-maps dist/cli/tern.js` for readable stack traces).
 *
 * Why a bundle and not tsc's file-per-module output: an edge node holds every module's source text
 * in its heap, and every module costs a record, a namespace and a resolution. Bundled and minified,
 * `tern edge` with 1,000 devices settles ~3 MiB lower (README, Benchmarks).
 */
import { rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, type Plugin } from 'esbuild'
import { buildAssets } from '../web/build-assets.js'
import { noPinoTransport } from './no-pino-transport.js'

const ROOT = resolve(import.meta.dirname, '..')
const OUT = resolve(ROOT, 'dist')

/**
 * Left to node_modules: packages with native bindings that they find from their own directory
 * (classic-level, serialport), large ones only some commands load (node-opcua, the Kubernetes
 * client, D-Bus, edged's gRPC), and `debug`, which broker/quiet-debug.ts replaces in require's cache by its path.
 */
const EXTERNAL = ['classic-level', 'serialport', '@serialport/*', 'node-opcua', 'node-opcua-*', '@kubernetes/client-node', 'dbus-next', 'node-ble', '@grpc/grpc-js', '@grpc/proto-loader', 'debug']

/** modbus-serial's `require('serialport')` goes to a shim that loads serialport when a serial port opens (mappers/modbus/lazy-serialport.ts) */
const lazySerialport: Plugin = {
  name: 'lazy-serialport',
  setup(b) {
    b.onResolve({ filter: /^serialport$/ }, (args) =>
      /[\\/]node_modules[\\/]modbus-serial[\\/]/.test(args.importer) ? { path: resolve(ROOT, 'mappers/modbus/lazy-serialport.ts') } : undefined,
    )
  },
}

/**
 * The web view's page goes into the bundle as text (web/assets.ts): web/build-assets.ts, which
 * builds it with esbuild, is replaced by what it built, so a node never loads esbuild.
 */
const assets = await buildAssets()
const webAssets: Plugin = {
  name: 'web-assets',
  setup(b) {
    b.onLoad({ filter: /[\\/]web[\\/]build-assets\.ts$/ }, () => ({
      contents: `export async function buildAssets() { return ${JSON.stringify(assets)} }`,
      loader: 'js',
    }))
  },
}

await rm(OUT, { recursive: true, force: true })
await build({
  absWorkingDir: ROOT,
  entryPoints: { tern: 'cli/tern.ts' },
  outdir: 'dist/cli',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  external: EXTERNAL,
  plugins: [lazySerialport, webAssets, noPinoTransport],
  // CommonJS dependencies inside an ES module bundle still call require()
  banner: { js: "import { createRequire as __ternCreateRequire } from 'node:module'; const require = __ternCreateRequire(import.meta.url);" },
  logLevel: 'warning',
})

const sizes = Object.entries(assets).map(([name, { text }]) => ({ name, bytes: Buffer.byteLength(text), gzipped: gzipSync(text, { level: 9 }).length }))
const total = sizes.reduce((n, s) => n + s.gzipped, 0)
// the web view's budget is 60 KiB gzipped (test/web/web-view.test.ts); the build says where it stands
console.log(`web view assets: ${sizes.map((s) => `${s.name} ${s.bytes} B (${s.gzipped} B gzipped)`).join(', ')}; ${total} B gzipped in all`)
