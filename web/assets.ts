/**
 * The page's files, held in memory with their gzip form and an ETag, made once when the web view
 * starts. In the built command the files are text inside the bundle (scripts/bundle.ts puts the
 * output of web/build-assets.ts there), so a node serves them with no file of its own on disk and
 * no CDN (gateways are often offline); from the source tree they are built on the fly.
 */
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'

export interface Asset {
  readonly type: string
  readonly body: Buffer
  readonly gzip: Buffer
  readonly etag: string
}

export async function loadAssets(): Promise<Map<string, Asset>> {
  const { buildAssets } = await import('./build-assets.js')
  const out = new Map<string, Asset>()
  for (const [name, { type, text }] of Object.entries(await buildAssets())) {
    const body = Buffer.from(text, 'utf8')
    out.set(name, { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
  }
  return out
}
