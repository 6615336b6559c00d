/**
 * Where the last N lines of a CRI log file begin, found as the kubelet finds them
 * (pkg/util/tail FindTailLineStartIndex): by reading the file backwards a block at a time, so that
 * `--tail` costs a block of memory whatever the file's size, and time in proportion to the lines
 * asked for. Lines, not records: a line the runtime split (P records, then F) counts once. The
 * lines of stdout and stderr may interleave, so the start is moved back until the earliest of the
 * last N lines of each stream is whole (up to LOOK_BACK); the complete lines read from there before
 * those N are `skip`ped by the reader.
 */
import type { FileHandle } from 'node:fs/promises'

/** bytes read at a time */
export const LOG_BLOCK = 64 * 1024
/** enough of a record to hold its time, stream and tag */
const PREFIX = 128
/** the start of a record: its time, stream and tag */
export const RECORD_HEAD = /^\S+ (stdout|stderr) ([PF])/
/**
 * How far before the last N lines the start of a line of the other stream is looked for; a line
 * split into partial records interleaved with the other stream's for longer than this loses its
 * beginning (the kubelet cuts every split line: it counts records).
 */
const LOOK_BACK = 1024 * 1024

export interface TailStart {
  /** byte offset to read the file from */
  offset: number
  /** complete lines to drop from what is read there */
  skip: number
  /** the lines found: fewer than asked when the file has fewer */
  lines: number
}

/** The start of the last `lines` lines of the file open as `handle`, `size` bytes long. */
export async function findTailStart(handle: FileHandle, size: number, lines: number): Promise<TailStart> {
  let counted = 0
  let skip = 0
  // streams with a counted line whose start has not been reached yet
  const open = new Set<string>()
  /**
   * A record, seen from the last to the first: its first bytes (`whole` when that is all of it)
   * and the offset of its newline; the offset to read from once it is known.
   */
  const visit = (head: string, whole: boolean, end: number): number | undefined => {
    const m = RECORD_HEAD.exec(head)
    // as parseRecords: a record that does not parse is no line
    if (m === null || (head.length === m[0].length ? !whole : head[m[0].length] !== ' ')) return undefined
    const [, stream, tag] = m as unknown as [string, string, string]
    if (tag !== 'F') return undefined
    if (counted < lines) {
      counted++
      open.add(stream)
      return undefined
    }
    // the F record before the earliest counted line of its stream: that line starts after it
    if (open.delete(stream) && open.size === 0) return end + 1
    skip++
    return undefined
  }
  let hi = size
  // the first bytes of the part of the file after `hi`, for a record that starts just before it
  let carry = Buffer.alloc(0)
  // the newline that ends the record being looked at, once one was found
  let newline: number | undefined
  // where the last `lines` lines were counted: the search for their streams' line starts ends LOOK_BACK before it
  let counting: number | undefined
  while (hi > 0) {
    const lo = Math.max(0, hi - LOG_BLOCK)
    const block = Buffer.alloc(hi - lo)
    const { bytesRead } = await handle.read(block, 0, block.length, lo)
    if (bytesRead < block.length) return { offset: 0, skip: 0, lines } // the file was cut meanwhile: read it all
    const data = carry.length === 0 ? block : Buffer.concat([block, carry])
    for (let i = block.length; ; ) {
      // the newline before `i`, or the start of the file (-1)
      const at = i > 0 ? data.lastIndexOf(0x0a, i - 1) : -1
      if (at < 0 && lo > 0) break
      if (newline === undefined) {
        // the last newline: what follows it is an unfinished record, not a line
        if (lines <= 0) return { offset: lo + at + 1, skip: 0, lines: 0 }
      } else {
        const from = at + 1
        const to = Math.min(from + PREFIX, newline - lo)
        if (counting !== undefined && counting - (lo + from) > LOOK_BACK) return { offset: newline + 1, skip, lines: counted }
        const start = visit(data.subarray(from, to).toString('latin1'), to === newline - lo, newline)
        if (start !== undefined) return { offset: start, skip, lines: counted }
        if (counting === undefined && counted === lines) counting = lo + from
      }
      newline = lo + at
      if (at < 0) break
      i = at
    }
    carry = Buffer.from(data.subarray(0, Math.min(PREFIX, data.length)))
    hi = lo
  }
  return { offset: 0, skip, lines: counted }
}
