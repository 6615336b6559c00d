/**
 * A container's log as the kubelet serves containerLogs (pkg/kubelet/kuberuntime/logs): the lines
 * of its CRI log file (edged/logs/ parses the records and finds the files), from the last
 * `tailLines` or from `since`, with `timestamps`, cut at `limitBytes`, and with `follow` on as the
 * file grows until the container stops (its process exited, or a newer restart's file exists).
 * An async generator read chunk by chunk: a reader that stops reading stops the file reads.
 */
import { join } from 'node:path'
import { logBlocks, logStart } from '../../edged/logs/blocks.js'
import { parseRecords, splitBlock, type LogLine } from '../../edged/logs/cri-log.js'
import { logAttempts } from '../../edged/logs/files.js'

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
  const start = await logStart(path, {
    ...(o.tailLines === undefined ? {} : { tailLines: o.tailLines }),
    ...(o.sinceMs === undefined ? {} : { sinceMs: o.sinceMs }),
  })
  // complete lines read before the last tailLines, to drop
  let skip = start.skip
  let rest = ''
  const pending = new Map<string, LogLine>()
  let lastRunningCheck = 0
  // the container stopped: its newer restart's file exists, or the runtime says it no longer runs
  const ended = async (): Promise<boolean> => {
    if ((await logAttempts(o.containerDir)).some((a) => a > o.attempt)) return true
    const now = Date.now()
    if (now - lastRunningCheck < RUNNING_CHECK_MS) return false
    lastRunningCheck = now
    return !(await o.running())
  }
  const blocks = logBlocks({ start, follow: o.follow, ended, signal: o.signal, ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }) })
  for await (const block of blocks) {
    // a block may end inside a UTF-8 character: records are split at '\n' only, so decode whole records
    const split = splitBlock(rest, block.bytes)
    rest = split.rest
    const out = format(parseRecords(split.records, pending, MAX_LINE))
    if (out !== undefined) yield out
    if (left <= 0) return
  }
}
