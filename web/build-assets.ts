/**
 * Builds the page (web/client/): the script bundled and minified by esbuild, the style minified,
 * the HTML as written. No framework: the whole page is a few KiB gzipped. At build time
 * scripts/bundle.ts replaces this module by its result, so esbuild is never loaded by a node.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'

export interface BuiltAsset {
  type: string
  text: string
}

const CLIENT = resolve(import.meta.dirname, 'client')

export async function buildAssets(): Promise<Record<string, BuiltAsset>> {
  const { build } = await import('esbuild')
  const common = { bundle: true, minify: true, write: false, logLevel: 'warning', target: 'es2020' } as const
  const [js, css, html] = await Promise.all([
    build({ ...common, entryPoints: [resolve(CLIENT, 'app.ts')], format: 'iife', tsconfig: resolve(CLIENT, 'tsconfig.json') }),
    build({ ...common, entryPoints: [resolve(CLIENT, 'app.css')] }),
    readFile(resolve(CLIENT, 'index.html'), 'utf8'),
  ])
  return {
    'index.html': { type: 'text/html; charset=utf-8', text: html },
    'app.js': { type: 'text/javascript; charset=utf-8', text: js.outputFiles[0]?.text ?? '' },
    'app.css': { type: 'text/css; charset=utf-8', text: css.outputFiles[0]?.text ?? '' },
  }
}
