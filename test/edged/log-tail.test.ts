/**
 * The last N lines of a CRI log file, found from its end (edged/logs/tail.ts), as `kubectl logs
 * --tail` and `tern logs --tail` read them: the same lines as parsing the whole file and keeping
 * the last N, for logs whose stdout and stderr lines the runtime split into partial records and
 * interleaved, with records that do not parse and an unfinished record at the end, across the
 * reading blocks' boundaries; and what reading them costs does not grow with the file.
 */
import assert from 'node:assert/strict'
import { appendFile, mkdir, open, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { logStream } from '../../cloud-sync/streams/log-stream.js'
import { parseRecords, splitRecords } from '../../edged/logs/cri-log.js'
import { logBlocks, logStart } from '../../edged/logs/blocks.js'
import { readLogLines } from '../../edged/logs/read.js'
import { findTailStart } from '../../edged/logs/tail.js'
import { scratchDir } from '../support/resources.js'

/** A deterministic random number source (mulberry32). */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** CRI records: lines of both streams, some split into P records and interleaved, some garbage, sizes across the 64 KiB blocks. */
function makeLog(seed: number, records: number): string {
  const next = random(seed)
  const out: string[] = []
  let t = 0
  for (let i = 0; i < records; i++) {
    const stream = next() < 0.3 ? 'stderr' : 'stdout'
    const time = new Date(1_800_000_000_000 + t++).toISOString().replace('Z', '123456Z')
    const r = next()
    if (r < 0.03) out.push(`garbage record ${i}`)
    else if (r < 0.05) out.push(`${time} ${stream} F`)
    else {
      const text = `${stream}-${i}-` + 'é'.repeat(Math.floor(next() * (next() < 0.05 ? 40_000 : 200)))
      out.push(`${time} ${stream} ${next() < 0.3 ? 'P' : 'F'} ${text}`)
    }
  }
  return `${out.join('\n')}\n${next() < 0.5 ? '2026-01-01T00:00:00.000000000Z stdout P unfinished' : ''}`
}

describe('the last N lines of a CRI log file, found from its end', function () {
  this.timeout(60_000)
  let dir: Awaited<ReturnType<typeof scratchDir>>
  before(async () => {
    dir = await scratchDir()
  })
  after(() => dir.remove())

  it('the same lines as the whole file parsed, for any N, over random logs of interleaved partial lines', async () => {
    for (const [seed, records] of [[1, 50], [2, 3_000], [3, 20_000], [4, 1]] as const) {
      const text = makeLog(seed, records)
      const path = join(dir.path, `log-${seed}.log`)
      await writeFile(path, text)
      const all = parseRecords(splitRecords(text).records)
      for (const n of [0, 1, 2, 3, 7, 100, 999, all.length - 1, all.length, all.length + 5]) {
        const got = await readLogLines(path, n)
        assert.deepEqual(got.lines, n === 0 ? [] : all.slice(-n), `seed ${seed}, tail ${n}`)
      }
    }
  })

  it('logStream with tailLines prints those lines, and follow goes on from the end of the file', async () => {
    const containerDir = join(dir.path, 'c')
    await mkdir(containerDir)
    const made = makeLog(7, 5_000)
    const text = made.slice(0, made.lastIndexOf('\n') + 1)
    const path = join(containerDir, '0.log')
    await writeFile(path, text)
    const all = parseRecords(splitRecords(text).records)
    for (const n of [0, 1, 10, 4_000, 10_000]) {
      let out = ''
      for await (const chunk of logStream({ containerDir, attempt: 0, follow: false, timestamps: true, tailLines: n, running: () => Promise.resolve(false), signal: new AbortController().signal })) out += chunk.toString('utf8')
      assert.equal(out, (n === 0 ? [] : all.slice(-n)).map((l) => `${l.time} ${l.text}\n`).join(''), `tail ${n}`)
    }
    // follow: the last line, then what is written after
    const abort = new AbortController()
    let running = true
    const got: string[] = []
    const reading = (async () => {
      for await (const chunk of logStream({ containerDir, attempt: 0, follow: true, timestamps: false, tailLines: 1, running: () => Promise.resolve(running), signal: abort.signal, intervalMs: 20 })) got.push(chunk.toString('utf8'))
    })()
    await new Promise((resolve) => setTimeout(resolve, 200))
    await appendFile(path, '2026-01-01T00:00:01.000000000Z stdout F after\n')
    await new Promise((resolve) => setTimeout(resolve, 300))
    running = false
    await reading
    const lines = got.join('').split('\n').filter((l) => l !== '')
    assert.equal(lines.at(-1), 'after')
    assert.deepEqual(lines, [all.at(-1)?.text, 'after'])
  })

  it('a rotation between finding the last lines and reading them: the lines are read from the file under its new name, then the new file', async () => {
    const containerDir = join(dir.path, 'rotated')
    await mkdir(containerDir)
    const path = join(containerDir, '0.log')
    const records = Array.from({ length: 100 }, (_, i) => `2026-01-01T00:00:00.${String(i).padStart(9, '0')}Z stdout F line-${i}\n`)
    await writeFile(path, records.join(''))
    for (const tail of [undefined, 10]) {
      const start = await logStart(path, tail === undefined ? {} : { tailLines: tail })
      // rotate.ts's rotation, then the runtime's first record in the new file
      const rotated = `${path}.20260101-000000${tail ?? 'all'}`
      await rename(path, rotated)
      await writeFile(path, '2026-01-01T00:00:01.000000000Z stdout F new\n')
      let text = ''
      for await (const block of logBlocks({ start, follow: false, signal: new AbortController().signal })) text += block.bytes.toString('latin1')
      const lines = parseRecords(splitRecords(text).records).slice(start.skip).map((l) => l.text)
      assert.deepEqual(lines, [...Array.from({ length: tail ?? 100 }, (_, i) => `line-${100 - (tail ?? 100) + i}`), 'new'], `tail ${tail ?? 'none'}`)
      await rm(rotated)
      await writeFile(path, records.join(''))
    }
  })

  it('the last lines of a 200 MB log are found reading a block or two from its end (up to 1 MiB when the other stream has none before)', async () => {
    const path = join(dir.path, 'big.log')
    const line = `2026-01-01T00:00:00.000000000Z stdout F ${'x'.repeat(1000)}\n`
    const block = line.repeat(10_000)
    for (let i = 0; i < 20; i++) await appendFile(path, block)
    const handle = await open(path, 'r')
    let read = 0
    const counting = new Proxy(handle, {
      get(target, key) {
        if (key === 'read') {
          return (buffer: Buffer, offset: number, length: number, position: number) => {
            read += length
            return target.read(buffer, offset, length, position)
          }
        }
        const value = Reflect.get(target, key) as unknown
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    try {
      let size = (await handle.stat()).size
      assert.ok(size > 200e6)
      assert.deepEqual(await findTailStart(counting, size, 2), { offset: size - 2 * line.length, skip: 0, lines: 2 })
      assert.ok(read <= 2 * 64 * 1024, `read ${read} bytes`)
      // a last line on stderr, the only one there: the start of its line is looked for 1 MiB back
      const last = '2026-01-01T00:00:01.000000000Z stderr F the last one\n'
      await appendFile(path, last)
      size += last.length
      read = 0
      const start = await findTailStart(counting, size, 1)
      assert.ok(read <= 1024 * 1024 + 2 * 64 * 1024, `read ${read} bytes`)
      assert.ok(size - start.offset <= 1024 * 1024 + 2 * line.length)
    } finally {
      await handle.close()
    }
    const { lines } = await readLogLines(path, 1)
    assert.deepEqual(lines.map((l) => l.text), ['the last one'])
  })
})
