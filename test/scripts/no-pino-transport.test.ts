/** The bundle's pino without transports (scripts/no-pino-transport.ts): logging works, a transport fails at once and clearly. */
import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { noPinoTransport, PINO_TRANSPORT_LEFT_OUT } from '../../scripts/no-pino-transport.js'
import { scratchDir } from '../support/resources.js'

const ROOT = resolve(import.meta.dirname, '../..')

describe('scripts: pino bundled without transports', function () {
  this.timeout(30_000)
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  before(async () => {
    scratch = await scratchDir()
  })
  after(() => scratch.remove())

  it('bundles pino without thread-stream; a logger writes to its stream, a transport throws the explanation', async () => {
    // the options of scripts/bundle.ts that matter here: an ES module bundle of CommonJS pino
    const out = await build({
      absWorkingDir: ROOT,
      stdin: {
        contents: `import { pino } from 'pino'
export function log(write) { pino({ base: null }, { write }).info('hello') }
export function withTransport() { return pino({ transport: { target: 'pino/file' } }) }
export function transport() { return pino.transport({ target: 'pino/file' }) }`,
        resolveDir: ROOT,
        loader: 'js',
      },
      bundle: true,
      format: 'esm',
      platform: 'node',
      write: false,
      metafile: true,
      plugins: [noPinoTransport],
      banner: { js: "import { createRequire as __ternCreateRequire } from 'node:module'; const require = __ternCreateRequire(import.meta.url);" },
      logLevel: 'silent',
    })
    const inputs = Object.keys(out.metafile.inputs)
    assert.ok(inputs.some((i) => i.includes('node_modules/pino/lib/tools.js')), `pino is bundled: ${inputs.length} inputs`)
    assert.deepEqual(
      inputs.filter((i) => i.includes('node_modules/thread-stream/')),
      [],
    )
    const file = join(scratch.path, 'bundle.mjs')
    await writeFile(file, out.outputFiles[0]?.text ?? '')
    const bundled = (await import(pathToFileURL(file).href)) as { log(write: (line: string) => void): void; withTransport(): unknown; transport(): unknown }
    const lines: string[] = []
    bundled.log((line) => lines.push(line))
    assert.equal((JSON.parse(lines[0] ?? '{}') as { msg?: string }).msg, 'hello')
    assert.throws(() => bundled.withTransport(), { message: PINO_TRANSPORT_LEFT_OUT })
    assert.throws(() => bundled.transport(), { message: PINO_TRANSPORT_LEFT_OUT })
  })
})
