/**
 * What the web view costs a browser to load (docs/web-view.md): the built `tern edge` with
 * `http.ui: true`, its page and the files the page names fetched as a browser does, with
 * `Accept-Encoding: gzip` and without; reports each file's bytes on the wire and the sum. The
 * figures are the served bytes, not a source count: what a phone on a slow link downloads.
 */
import { request } from 'node:http'
import { scratchDir } from '../test/support/resources.js'
import { startTernEdge } from '../test/support/tern.js'

export interface WebAssetsResult {
  files: Array<{ path: string; bytes: number; gzipped: number }>
  total: { bytes: number; gzipped: number }
}

export const webAssetsEstimateSeconds = (): number => 10

/** The body of `path` as it comes over the wire (not decompressed). */
function wireBytes(port: number, path: string, gzip: boolean): Promise<{ status: number; encoding: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: gzip ? { 'accept-encoding': 'gzip' } : {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

export async function runWebAssetsBench(log: (line: string) => void): Promise<WebAssetsResult> {
  const dir = await scratchDir('tern-bench-web-')
  const node = await startTernEdge(dir.path, { node: { name: 'bench' }, mqtt: { listeners: [{ port: 0 }] }, http: { listen: '127.0.0.1:0', ui: true } })
  try {
    const page = await wireBytes(node.httpPort, '/ui/', false)
    if (page.status !== 200) throw new Error(`GET /ui/ answered ${page.status}`)
    // the page and what it links: stylesheets and scripts
    const linked = [...page.body.toString('utf8').matchAll(/(?:href|src)="(\/ui\/[^"]+)"/g)].map((m) => m[1] ?? '')
    const files: WebAssetsResult['files'] = []
    for (const path of ['/ui/', ...linked]) {
      const plain = await wireBytes(node.httpPort, path, false)
      const gzipped = await wireBytes(node.httpPort, path, true)
      if (plain.status !== 200 || gzipped.status !== 200 || gzipped.encoding !== 'gzip') throw new Error(`GET ${path}: ${plain.status}/${gzipped.status}, encoding ${String(gzipped.encoding)}`)
      files.push({ path, bytes: plain.body.length, gzipped: gzipped.body.length })
      log(`web: ${path} ${plain.body.length} B, ${gzipped.body.length} B gzipped`)
    }
    const total = { bytes: files.reduce((n, f) => n + f.bytes, 0), gzipped: files.reduce((n, f) => n + f.gzipped, 0) }
    process.stdout.write(`${JSON.stringify({ bench: 'web', ...total })}\n`)
    return { files, total }
  } finally {
    await node.stop()
    await dir.remove()
  }
}
