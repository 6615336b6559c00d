/**
 * `tern logs`: a container's log lines, the last N of them, and follow — which, unlike `kubectl
 * logs -f`, goes on into the next container's file when the container restarts (`<n+1>.log`
 * appears), so one command watches a crash-looping container.
 */
import { open, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { parseRecords, splitBlock, type LogLine } from './cri-log.js'
import { logAttempts } from './files.js'
import { findTailStart, LOG_BLOCK } from './tail.js'

/**
 * All complete lines of a log file; with `tail`, only the last `tail`, found from the end of the
 * file (tail.ts): what is held is those lines, never the whole file. `rest` is the unterminated
 * record at the end as bytes (latin1 text, {@link splitBlock}'s), for {@link followLog} to go on from.
 */
export async function readLogLines(path: string, tail?: number): Promise<{ lines: LogLine[]; offset: number; rest: string; pending: Map<string, LogLine> }> {
  const handle = await open(path, 'r')
  try {
    const size = (await handle.stat()).size
    let { offset, skip } = tail === undefined ? { offset: 0, skip: 0 } : await findTailStart(handle, size, tail)
    const lines: LogLine[] = []
    const pending = new Map<string, LogLine>()
    let rest = ''
    ;({ offset, rest } = await readBlocks(handle, offset, size, rest, (records) => {
      for (const line of parseRecords(records, pending)) {
        if (skip > 0) skip--
        else lines.push(line)
      }
    }))
    return { lines, offset, rest, pending }
  } finally {
    await handle.close()
  }
}

export interface FollowOptions {
  containerDir: string
  attempt: number
  /** Where the first file was read to, and what was left unfinished there (readLogLines' `rest`). */
  offset: number
  rest: string
  pending: Map<string, LogLine>
  onLine(line: LogLine): void
  /** Polling interval (files on a gateway's SD card: no inotify assumptions). */
  intervalMs?: number
  signal: AbortSignal
}

/** Prints new lines as they are written, moving to the next restart's file once it exists and this one is read to its end. */
export async function followLog(o: FollowOptions): Promise<void> {
  let { attempt, offset, rest } = o
  let pending = o.pending
  const interval = o.intervalMs ?? 250
  while (!o.signal.aborted) {
    const path = join(o.containerDir, `${attempt}.log`)
    const size = (await stat(path).catch(() => undefined))?.size ?? 0
    if (size > offset) {
      const handle = await open(path, 'r')
      try {
        ;({ offset, rest } = await readBlocks(handle, offset, size, rest, (records) => {
          for (const line of parseRecords(records, pending)) o.onLine(line)
        }))
      } finally {
        await handle.close()
      }
      continue
    }
    const next = (await logAttempts(o.containerDir)).find((a) => a > attempt)
    if (next !== undefined) {
      attempt = next
      offset = 0
      rest = ''
      pending = new Map()
      continue
    }
    await sleep(interval, o.signal)
  }
}

/** The wait between two looks at a followed file: `ms`, or until `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      // a follow waits four times a second for hours: each wait takes its listener with it
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * Reads the file from `offset` to `size` a block at a time, handing on the complete records of each
 * (splitBlock: a block may end inside a UTF-8 character); returns where it stopped and the
 * unterminated rest, as bytes.
 */
async function readBlocks(handle: FileHandle, offset: number, size: number, rest: string, onRecords: (records: string[]) => void): Promise<{ offset: number; rest: string }> {
  const buffer = Buffer.alloc(Math.min(LOG_BLOCK, size - offset))
  while (offset < size) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - offset), offset)
    if (bytesRead === 0) break
    offset += bytesRead
    const split = splitBlock(rest, buffer.subarray(0, bytesRead))
    rest = split.rest
    onRecords(split.records)
  }
  return { offset, rest }
}
