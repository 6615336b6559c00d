/**
 * A container's log as the kubelet serves containerLogs (pkg/kubelet/kuberuntime/logs): the lines
 * of its CRI log file (edged/logs/ parses the records and finds the files), from the last
 * `tailLines` or from `since`, with `timestamps`, cut at `limitBytes`, and with `follow` on as the
 * file grows until the container stops (its process exited, or a newer restart's file exists).
 * An async generator read chunk by chunk: a reader that stops reading stops the file reads.
 */
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseRecords, splitBlock, type LogLine } from '../../edged/logs/cri-log.js'
import { logAttempts } from '../../edged/logs/files.js'
import { sleep } from '../../edged/logs/read.js'
import { findTailStart, LOG_BLOCK, type TailStart } from '../../edged/logs/tail.js'

export interface LogStreamOptions {
  containerDir: string
  attempt: number
  follow: boolean
  tailLines?: number
  timestamps: boolean
  /** ms since the epoch: lines written before are skipped */
  sinceMs?: number
  limitBytes?: number
  /** whether the container still runs (follow ends when it does not) */
  running: () => Promise<boolean>
  signal: AbortSignal
  /** how often a followed file is checked for growth, ms (default 250) */
  intervalMs?: number
}

/** characters of a line held until its end; a longer one is passed on in pieces as it is written */
const MAX_LINE = 64 * 1024
/** how often follow asks the runtime whether the container still runs, ms */
const RUNNING_CHECK_MS = 1000

export async function* logStream(o: LogStreamOptions): AsyncGenerator<Buffer> {
  const path = join(o.containerDir, `${o.attempt}.log`)
  let left = o.limitBytes ?? Infinity
  const format = (lines: LogLine[]): Buffer | undefined => {
    const text = lines
      .filter((l) => {
        if (skip === 0) return true
        // the pieces of a skipped line go with it
        if (l.partial !== true) skip--
        return false
      })
      .filter((l) => o.sinceMs === undefined || Date.parse(l.time) >= o.sinceMs)
      .map((l) => `${o.timestamps && l.continued !== true ? `${l.time} ` : ''}${l.text}${l.partial === true ? '' : '\n'}`)
      .join('')
    if (text === '' || left <= 0) return undefined
    let out = Buffer.from(text, 'utf8')
    if (out.length > left) out = out.subarray(0, left)
    left -= out.length
    return out
  }
  let offset = 0
  // complete lines read before the last tailLines, to drop
  let skip = 0
  if (o.tailLines !== undefined) ({ offset, skip } = await tailStart(path, o.tailLines))
  let rest = ''
  const pending = new Map<string, LogLine>()
  let lastRunningCheck = 0
  while (!o.signal.aborted && left > 0) {
    const size = (await stat(path).catch(() => undefined))?.size ?? 0
    if (size > offset) {
      // the file is open only while read, never while the consumer holds the generator at a yield
      const handle = await open(path, 'r')
      let bytesRead: number
      const buffer = Buffer.alloc(Math.min(LOG_BLOCK, size - offset))
      try {
        ;({ bytesRead } = await handle.read(buffer, 0, buffer.length, offset))
      } finally {
        await handle.close()
      }
      offset += bytesRead
      // a chunk may end inside a UTF-8 character: records are split at '\n' only, so decode whole records
      const split = splitBlock(rest, buffer.subarray(0, bytesRead))
      rest = split.rest
      const out = format(parseRecords(split.records, pending, MAX_LINE))
      if (out !== undefined) yield out
      continue
    }
    if (!o.follow) return
    if ((await logAttempts(o.containerDir)).some((a) => a > o.attempt)) return
    const now = Date.now()
    if (now - lastRunningCheck >= RUNNING_CHECK_MS) {
      lastRunningCheck = now
      if (!(await o.running())) {
        // the last lines may have been written between the size check and the runtime's answer
        if (((await stat(path).catch(() => undefined))?.size ?? 0) > offset) continue
        return
      }
    }
    await sleep(o.intervalMs ?? 250, o.signal)
  }
}

/** Where the last `lines` lines of the file begin (none: it is read from the start, as it comes). */
async function tailStart(path: string, lines: number): Promise<TailStart> {
  const handle = await open(path, 'r').catch(() => undefined)
  if (handle === undefined) return { offset: 0, skip: 0 }
  try {
    return await findTailStart(handle, (await handle.stat()).size, lines)
  } finally {
    await handle.close()
  }
}
