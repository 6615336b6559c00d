/**
 * `tern logs`: a container's log lines, the last N of them, and follow — which, unlike `kubectl
 * logs -f`, goes on into the next container's file when the container restarts (`<n+1>.log`
 * appears), so one command watches a crash-looping container. The log is read across its rotated
 * files, and a follow goes on past a rotation (blocks.ts).
 */
import { join } from 'node:path'
import { logBlocks, logStart } from './blocks.js'
import { parseRecords, splitBlock, type LogLine } from './cri-log.js'
import { logAttempts } from './files.js'

/**
 * All complete lines of the log whose current file is `path`, its rotated files first; with
 * `tail`, only the last `tail`, found from the end of the files (tail.ts): what is held is those
 * lines, never a whole file. `offset` is where the current file was read to and `rest` its
 * unterminated record at the end as bytes (latin1 text, {@link splitBlock}'s), for
 * {@link followLog} to go on from.
 */
export async function readLogLines(path: string, tail?: number): Promise<{ lines: LogLine[]; offset: number; ino: bigint | undefined; rest: string; pending: Map<string, LogLine> }> {
  const start = await logStart(path, tail === undefined ? {} : { tailLines: tail })
  let skip = start.skip
  let offset = start.index === start.segments.length - 1 ? start.offset : 0
  let ino = start.ino
  const lines: LogLine[] = []
  const pending = new Map<string, LogLine>()
  let rest = ''
  for await (const block of logBlocks({ start, follow: false, signal: new AbortController().signal })) {
    if (block.current) ({ end: offset, ino } = block)
    const split = splitBlock(rest, block.bytes)
    rest = split.rest
    for (const line of parseRecords(split.records, pending)) {
      if (skip > 0) skip--
      else lines.push(line)
    }
  }
  return { lines, offset, ino, rest, pending }
}

export interface FollowOptions {
  containerDir: string
  attempt: number
  /**
   * Where the first file was read to, its inode (a rotation since is followed), and what was left
   * unfinished there (readLogLines' `rest`).
   */
  offset: number
  ino?: bigint | undefined
  rest: string
  pending: Map<string, LogLine>
  onLine(line: LogLine): void
  /** Polling interval (files on a gateway's SD card: no inotify assumptions). */
  intervalMs?: number
  signal: AbortSignal
}

/** Prints new lines as they are written, moving to the next restart's file once it exists and this one is read to its end. */
export async function followLog(o: FollowOptions): Promise<void> {
  let { attempt, offset, rest, ino } = o
  let pending = o.pending
  const newer = async (): Promise<number | undefined> => (await logAttempts(o.containerDir)).find((a) => a > attempt)
  while (!o.signal.aborted) {
    const start = { segments: [{ path: join(o.containerDir, `${attempt}.log`), gz: false }], index: 0, offset, skip: 0, ...(ino === undefined ? {} : { ino }) }
    const blocks = logBlocks({ start, follow: true, ended: async () => (await newer()) !== undefined, signal: o.signal, ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }) })
    for await (const block of blocks) {
      const split = splitBlock(rest, block.bytes)
      rest = split.rest
      for (const line of parseRecords(split.records, pending)) o.onLine(line)
    }
    const next = await newer()
    if (next === undefined) return
    attempt = next
    offset = 0
    ino = undefined
    rest = ''
    pending = new Map()
  }
}
