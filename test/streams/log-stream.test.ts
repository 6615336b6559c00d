/**
 * A container that writes without newlines (a progress bar, a binary dump): containerd cuts its
 * output into partial (P) records of 16 KiB, and the line has no end for as long as it writes.
 * `kubectl logs [-f]` is served its text as it is written, in pieces of bounded size, as the
 * kubelet passes records on, instead of the edge joining the whole line in memory first (and
 * printing nothing until its end).
 */
import assert from 'node:assert/strict'
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { logStream } from '../../cloud-sync/streams/log-stream.js'
import { scratchDir } from '../support/resources.js'

const RECORD_TEXT = 16 * 1024
const time = (i: number): string => new Date(1_800_000_000_000 + i).toISOString().replace('Z', '000000Z')

describe('logs of a line that does not end: passed on in pieces as written (real files)', function () {
  this.timeout(60_000)
  let dir: Awaited<ReturnType<typeof scratchDir>>
  let containerDir: string
  before(async () => {
    dir = await scratchDir()
    containerDir = join(dir.path, 'app')
    await mkdir(containerDir)
  })
  after(() => dir.remove())

  it('20 MB without a newline: read in pieces of at most a block and a line cap, timestamp once; the end of the line ends it', async () => {
    const path = join(containerDir, '0.log')
    await writeFile(path, `${time(0)} stdout F before\n`)
    const piece = 'y'.repeat(RECORD_TEXT)
    const records = Array.from({ length: 1280 }, (_, i) => `${time(i + 1)} stdout P ${piece}\n`)
    for (let i = 0; i < records.length; i += 128) await appendFile(path, records.slice(i, i + 128).join(''))
    const abort = new AbortController()
    let running = true
    const chunks: Buffer[] = []
    let written = false
    let bytes = 0
    const reading = (async () => {
      for await (const chunk of logStream({ containerDir, attempt: 0, follow: true, timestamps: true, running: () => Promise.resolve(running), signal: abort.signal, intervalMs: 20 })) {
        chunks.push(chunk)
        bytes += chunk.length
        // the line's text comes before its end is written
        if (!written && bytes > 20e6) {
          written = true
          await appendFile(path, `${time(5000)} stdout F !\n${time(5001)} stderr F after\n`)
          running = false
        }
      }
    })()
    // held until its end, the line would never come: give up after a while
    const deadline = setTimeout(() => abort.abort(), 30_000)
    await reading
    clearTimeout(deadline)
    assert.ok(written, `only ${bytes} bytes came before the line ended`)
    const text = Buffer.concat(chunks).toString('utf8')
    assert.equal(text, `${time(0)} before\n${time(1)} ${'y'.repeat(1280 * RECORD_TEXT)}!\n${time(5001)} after\n`)
    assert.ok(chunks.length > 100 && Math.max(...chunks.map((c) => c.length)) <= 2 * 64 * 1024 + 100, `${chunks.length} chunks, the largest ${Math.max(...chunks.map((c) => c.length))} bytes`)
  })
})
