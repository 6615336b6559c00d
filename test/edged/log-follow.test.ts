/**
 * `tern logs -f` (edged/logs/read.ts followLog) on a real file as it grows: a UTF-8 character the
 * reads cut in two arrives whole, and a large unread part of the file is read a block at a time.
 */
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { appendFile, open, rename, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { LogLine } from '../../edged/logs/cri-log.js'
import { followLog, readLogLines } from '../../edged/logs/read.js'
import { LOG_BLOCK } from '../../edged/logs/tail.js'
import { eventually } from '../support/edged.js'
import { scratchDir } from '../support/resources.js'

const T = '2026-01-01T00:00:00.000000000Z'

describe('tern logs -f: following a CRI log file', function () {
  this.timeout(120_000)
  let dir: Awaited<ReturnType<typeof scratchDir>>
  beforeEach(async () => {
    dir = await scratchDir()
  })
  afterEach(() => dir.remove())

  /** `tern logs -f` of `<dir>/0.log`: what is there, then what is written; the lines so far and a stop. */
  async function follow(intervalMs = 10): Promise<{ lines: LogLine[]; signal: AbortSignal; stop(): Promise<void> }> {
    const first = await readLogLines(join(dir.path, '0.log'))
    const lines = [...first.lines]
    const abort = new AbortController()
    const following = followLog({ containerDir: dir.path, attempt: 0, offset: first.offset, ino: first.ino, rest: first.rest, pending: first.pending, onLine: (l) => lines.push(l), intervalMs, signal: abort.signal })
    return {
      lines,
      signal: abort.signal,
      stop: async () => {
        abort.abort()
        await following
      },
    }
  }

  it('a character cut in two by the reads arrives whole, between the first read and the follow and between two follow reads', async () => {
    const path = join(dir.path, '0.log')
    const bytes = (text: string): Buffer => Buffer.from(text, 'utf8')
    const euro = bytes('€') // three bytes
    const smile = bytes('😀') // four
    // the file ends inside "é" when it is first read, and inside "€" and "😀" at later reads
    await writeFile(path, Buffer.concat([bytes(`${T} stdout F zero\n${T} stdout F d`), bytes('é').subarray(0, 1)]))
    const f = await follow()
    try {
      assert.deepEqual(f.lines.map((l) => l.text), ['zero'])
      await appendFile(path, Buffer.concat([bytes('é').subarray(1), bytes(`jà vu\n${T} stdout F 10 `), euro.subarray(0, 2)]))
      await eventually(() => Promise.resolve(f.lines.length === 2), 10_000, 'the second line')
      await appendFile(path, Buffer.concat([euro.subarray(2), bytes(`\n${T} stderr F `), smile.subarray(0, 1)]))
      await eventually(() => Promise.resolve(f.lines.length === 3), 10_000, 'the third line')
      await appendFile(path, Buffer.concat([smile.subarray(1), bytes('!\n')]))
      await eventually(() => Promise.resolve(f.lines.length === 4), 10_000, 'the fourth line')
      assert.deepEqual(f.lines.map((l) => `${l.stream} ${l.text}`), ['stdout zero', 'stdout déjà vu', 'stdout 10 €', 'stderr 😀!'])
    } finally {
      await f.stop()
    }
  })

  it('a rotation between the first read and the follow: the rest of the old file under its new name, then the new file', async () => {
    const path = join(dir.path, '0.log')
    await writeFile(path, `${T} stdout F one\n${T} stdout F two\n`)
    const first = await readLogLines(path)
    // rotate.ts's rename, the runtime's last record in the old file, and its first in the new one
    const rotated = `${path}.20260101-000000`
    await rename(path, rotated)
    await appendFile(rotated, `${T} stdout F three\n`)
    await writeFile(path, `${T} stdout F four\n`)
    const lines = first.lines.map((l) => l.text)
    const abort = new AbortController()
    const following = followLog({ containerDir: dir.path, attempt: 0, offset: first.offset, ino: first.ino, rest: first.rest, pending: first.pending, onLine: (l) => lines.push(l.text), intervalMs: 10, signal: abort.signal })
    try {
      await eventually(() => Promise.resolve(lines.length >= 4), 10_000, 'the lines written after the first read')
      assert.deepEqual(lines, ['one', 'two', 'three', 'four'])
    } finally {
      abort.abort()
      await following
    }
  })

  it('50 MB written at once is read LOG_BLOCK bytes at a time, every line whole', async () => {
    const path = join(dir.path, '0.log')
    await writeFile(path, `${T} stdout F start\n`)
    // every read of a FileHandle, whoever makes it: the size of the largest buffer and of the largest read
    const probe = await open(path, 'r')
    const proto = Object.getPrototypeOf(probe) as { read: FileHandle['read'] }
    await probe.close()
    const read = proto.read
    let largestBuffer = 0
    let largestRead = 0
    proto.read = function (this: FileHandle, ...args: unknown[]) {
      const [buffer, , length] = args as [Buffer | undefined, number | undefined, number | undefined]
      largestBuffer = Math.max(largestBuffer, buffer?.length ?? 0)
      largestRead = Math.max(largestRead, length ?? buffer?.length ?? 0)
      return (read as (...a: unknown[]) => ReturnType<FileHandle['read']>).apply(this, args)
    }
    const f = await follow()
    try {
      // lines of 1-, 2-, 3- and 4-byte characters, so that blocks end inside them
      const text = (i: number): string => `${i} ${'aé€😀'.repeat(20 + (i % 50))}`
      const records: string[] = []
      let size = 0
      for (let i = 0; size < 50e6; i++) {
        const record = `${T} ${i % 3 === 0 ? 'stderr' : 'stdout'} F ${text(i)}\n`
        records.push(record)
        size += Buffer.byteLength(record)
      }
      // one write (appendFile would write it 512 KiB at a time)
      const handle = await open(path, 'a')
      try {
        await handle.write(records.join(''))
      } finally {
        await handle.close()
      }
      await eventually(() => Promise.resolve(f.lines.length === records.length + 1), 100_000, 'every line')
      assert.ok(largestBuffer <= LOG_BLOCK && largestRead <= LOG_BLOCK, `reads of ${largestRead} bytes into a buffer of ${largestBuffer}`)
      assert.equal(f.lines[0]?.text, 'start')
      const wrong = f.lines.slice(1).findIndex((l, i) => l.text !== text(i))
      assert.equal(wrong, -1, `line ${wrong}: ${f.lines[wrong + 1]?.text.slice(0, 80)}`)
    } finally {
      proto.read = read
      await f.stop()
    }
  })

  it('a follow that waits a long time holds one abort listener, not one per wait', async () => {
    await writeFile(join(dir.path, '0.log'), `${T} stdout F one\n`)
    // a wait every millisecond: a few hundred waits, as many as two minutes of `tern logs -f`
    const f = await follow(1)
    try {
      await new Promise((resolve) => setTimeout(resolve, 500))
      assert.ok(getEventListeners(f.signal, 'abort').length <= 1, `${getEventListeners(f.signal, 'abort').length} abort listeners`)
    } finally {
      await f.stop()
    }
  })
})
