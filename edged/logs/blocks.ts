/**
 * A container's log read as one run of bytes across its files (files.ts): the rotated ones, oldest
 * first (compressed ones unpacked as they are read, never whole in memory), then the current one,
 * which a follow goes on reading as it grows. A follow goes on past a rotation (rotate.ts renames the
 * file and containerd opens a new one of the old name): the file being read is recognised by its
 * inode, read to its end under its new name, and once nothing more was written to it for a polling
 * interval after the new file appeared (containerd may still write its last records), the new file
 * is read from its start. The kubelet's follow moves to the new file as soon as it appears; lines
 * still written to the old one are then missed. A log removed while it is read (its container or
 * pod removed, gc.ts) ends the read.
 */
import { open, stat } from 'node:fs/promises'
import { createGunzip } from 'node:zlib'
import { GZIP_SUFFIX, logSegments, rotatedLogs, type LogSegment } from './files.js'
import { findTailStart, LOG_BLOCK, RECORD_HEAD } from './tail.js'

export interface LogStart {
  segments: LogSegment[]
  /** the file to begin with */
  index: number
  /** the byte to begin at in it */
  offset: number
  /** complete lines to drop from what is read there */
  skip: number
  /**
   * The inode of the current file when the start was found (undefined when there was none): a
   * rotation after that is followed from the file under its new name, not taken for the file.
   */
  ino?: bigint
}

/**
 * Where reading the log whose current file is `path` begins: the last `tailLines` lines, over as
 * many files as they take; else the first file written to at or after `sinceMs` (a rotated file's
 * time is that of its last line, compressed or not); else the oldest.
 */
export async function logStart(path: string, o: { tailLines?: number; sinceMs?: number } = {}): Promise<LogStart> {
  for (let tries = 1; ; tries++) {
    const ino = await inode(path)
    const start = await startIn(await logSegments(path), o)
    // a rotation while the start was looked for moved the files under it: look again
    if (tries === 3 || (await inode(path)) === ino) return ino === undefined ? start : { ...start, ino }
  }
}

async function startIn(segments: LogSegment[], o: { tailLines?: number; sinceMs?: number }): Promise<LogStart> {
  if (o.tailLines !== undefined) {
    let need = o.tailLines
    for (let index = segments.length - 1; index >= 0; index--) {
      const found = await tailOf(segments[index]!, need)
      if (found === undefined) continue
      if (found.lines >= need || index === 0) return { segments, index, offset: found.offset, skip: found.skip }
      need -= found.lines
    }
    return { segments, index: 0, offset: 0, skip: 0 }
  }
  if (o.sinceMs !== undefined) {
    const sinceMs = o.sinceMs
    const times = await Promise.all(segments.map(async (s) => (await stat(s.path).catch(() => undefined))?.mtimeMs ?? Infinity))
    const index = times.findIndex((t) => t >= sinceMs)
    return { segments, index: index < 0 ? segments.length - 1 : index, offset: 0, skip: 0 }
  }
  return { segments, index: 0, offset: 0, skip: 0 }
}

async function inode(path: string): Promise<bigint | undefined> {
  return (await stat(path, { bigint: true }).catch(() => undefined))?.ino
}

/** The start of the last `lines` lines of one file, and how many it has of them; undefined when it is gone. */
async function tailOf(segment: LogSegment, lines: number): Promise<{ offset: number; skip: number; lines: number } | undefined> {
  if (segment.gz) {
    let count = 0
    let rest = ''
    const counted = await gunzipped(segment.path, 0, (chunk) => {
      const records = (rest + chunk.toString('latin1')).split('\n')
      rest = records.pop() ?? ''
      for (const r of records) if (RECORD_HEAD.exec(r)?.[2] === 'F') count++
    })
    return counted ? { offset: 0, skip: Math.max(0, count - lines), lines: Math.min(count, lines) } : undefined
  }
  const handle = await open(segment.path, 'r').catch(() => undefined)
  if (handle === undefined) return segment.path.endsWith(GZIP_SUFFIX) ? undefined : tailOf({ path: `${segment.path}${GZIP_SUFFIX}`, gz: true }, lines)
  try {
    return await findTailStart(handle, (await handle.stat()).size, lines)
  } finally {
    await handle.close()
  }
}

/** Bytes of the log, and where they were read. */
export interface LogBlock {
  bytes: Buffer
  /** read from the current file (or, past its rotation, from what it was renamed to) */
  current: boolean
  /** the offset in that file after these bytes */
  end: number
  /** that file's inode, when `current` */
  ino?: bigint
}

export interface LogBlocksOptions {
  start: LogStart
  follow: boolean
  /** Asked when a followed log is read to its end and has not grown: true ends the follow, after one last read. */
  ended?: () => Promise<boolean>
  /** how often a followed file is checked for growth, ms (default 250) */
  intervalMs?: number
  signal: AbortSignal
}

/**
 * The log's bytes from `start`, a block at a time. A file is open only while it is read, never
 * while the consumer holds the generator at a yield.
 */
export async function* logBlocks(o: LogBlocksOptions): AsyncGenerator<LogBlock> {
  const { segments, index } = o.start
  let offset = o.start.offset
  for (const segment of segments.slice(index, -1)) {
    for await (const bytes of readRotated(segment, offset)) {
      offset += bytes.length
      yield { bytes, current: false, end: offset }
    }
    offset = 0
  }
  const path = segments[segments.length - 1]!.path
  const interval = o.intervalMs ?? 250
  // the inode of the file being read as `path`, once it was opened (or found by logStart)
  let ino = o.start.ino
  // when the file at `path` was first seen to be another one than that being read
  let replacedAt: number | undefined
  let last = false
  while (!o.signal.aborted) {
    const read = await readCurrent(path, offset, ino)
    if (read.kind === 'data' || read.kind === 'end') ino = read.ino
    if (read.kind === 'data') {
      offset += read.block.length
      yield { bytes: read.block, current: true, end: offset, ino: read.ino }
      continue
    }
    if (read.kind === 'end') {
      if (!o.follow || last) return
      if (await o.ended?.()) last = true
      else await sleep(interval, o.signal)
      continue
    }
    // `path` is missing or another file: the one being read was rotated (or there was none yet),
    // or the log was removed with its container or pod (gc.ts): nothing more comes, the read ends
    if (read.kind === 'missing' && (await rotatedLogs(path)).inUse.length === 0) return
    if (ino === undefined) {
      if (!o.follow) return
      await sleep(interval, o.signal)
      continue
    }
    const old = await findByInode(path, ino)
    let grew = false
    if (old !== undefined) {
      for await (const block of readRotated({ path: old, gz: false }, offset)) {
        offset += block.length
        grew = true
        yield { bytes: block, current: true, end: offset, ino }
      }
    }
    if (!o.follow && read.kind === 'missing') return
    if (o.follow && old !== undefined) {
      replacedAt ??= read.kind === 'other' ? Date.now() : undefined
      if (grew || replacedAt === undefined || Date.now() - replacedAt < interval) {
        await sleep(interval, o.signal)
        continue
      }
    }
    // the old file is finished: the new one from its start
    ino = undefined
    offset = 0
    replacedAt = undefined
  }
}

type CurrentRead = { kind: 'data'; block: Buffer; ino: bigint } | { kind: 'end'; ino: bigint } | { kind: 'missing' } | { kind: 'other' }

/** A block of the file at `path` from `offset`, when it is the file of inode `ino` (any, when undefined). */
async function readCurrent(path: string, offset: number, ino: bigint | undefined): Promise<CurrentRead> {
  const handle = await open(path, 'r').catch(() => undefined)
  if (handle === undefined) return { kind: 'missing' }
  try {
    const st = await handle.stat({ bigint: true })
    if (ino !== undefined && st.ino !== ino) return { kind: 'other' }
    const size = Number(st.size)
    if (size <= offset) return { kind: 'end', ino: st.ino }
    const buffer = Buffer.alloc(Math.min(LOG_BLOCK, size - offset))
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset)
    return bytesRead === 0 ? { kind: 'end', ino: st.ino } : { kind: 'data', block: buffer.subarray(0, bytesRead), ino: st.ino }
  } finally {
    await handle.close()
  }
}

/** The uncompressed rotated file of `path` that is inode `ino`: the file read as `path` before its rotation. */
async function findByInode(path: string, ino: bigint): Promise<string | undefined> {
  for (const segment of (await rotatedLogs(path)).inUse.reverse()) {
    if (segment.gz) continue
    if ((await stat(segment.path, { bigint: true }).catch(() => undefined))?.ino === ino) return segment.path
  }
  return undefined
}

/** A rotated file from `offset` to its end; one compressed meanwhile is read on from its `.gz`, one deleted meanwhile ends. */
async function* readRotated(segment: LogSegment, offset: number): AsyncGenerator<Buffer> {
  if (segment.gz) {
    yield* gunzipBlocks(segment.path, offset)
    return
  }
  for (;;) {
    const handle = await open(segment.path, 'r').catch(() => undefined)
    if (handle === undefined) {
      yield* gunzipBlocks(`${segment.path}${GZIP_SUFFIX}`, offset)
      return
    }
    let block: Buffer
    try {
      const buffer = Buffer.alloc(LOG_BLOCK)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset)
      block = buffer.subarray(0, bytesRead)
    } finally {
      await handle.close()
    }
    if (block.length === 0) return
    offset += block.length
    yield block
  }
}

/** The unpacked bytes of a compressed file from `offset`, as they are unpacked. */
async function* gunzipBlocks(path: string, offset: number): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r').catch(() => undefined)
  if (handle === undefined) return
  const source = handle.createReadStream()
  const gunzip = createGunzip()
  source.on('error', (err) => gunzip.destroy(err))
  source.pipe(gunzip)
  let skip = offset
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (skip >= chunk.length) {
        skip -= chunk.length
        continue
      }
      yield chunk.subarray(skip)
      skip = 0
    }
  } finally {
    source.destroy()
    gunzip.destroy()
  }
}

/** Feeds the unpacked bytes of a compressed file to `onChunk`; false when the file is gone. */
async function gunzipped(path: string, offset: number, onChunk: (chunk: Buffer) => void): Promise<boolean> {
  if ((await stat(path).catch(() => undefined)) === undefined) return false
  for await (const chunk of gunzipBlocks(path, offset)) onChunk(chunk)
  return true
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
