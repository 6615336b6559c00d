/**
 * Which of two values of one node is newer, by the server's timestamps. A notification can carry a
 * value the server sampled before a write whose read-back the driver already holds (it waited in
 * the server's queue for the next publish); by its timestamps it is older, and must not replace
 * the read-back.
 */
import type { DataValue } from 'node-opcua'

/**
 * True when `a` is known to be older than `b`: compared by server timestamp (when the server saw
 * the value), else by source timestamp; values without comparable timestamps are never older.
 */
export function olderThan(a: DataValue, b: DataValue): boolean {
  const server = compare(a.serverTimestamp, a.serverPicoseconds, b.serverTimestamp, b.serverPicoseconds)
  if (server !== undefined) return server < 0
  const source = compare(a.sourceTimestamp, a.sourcePicoseconds, b.sourceTimestamp, b.sourcePicoseconds)
  return source !== undefined && source < 0
}

function compare(at: Date | null, aps: number, bt: Date | null, bps: number): number | undefined {
  if (at === null || bt === null) return undefined
  const ms = at.getTime() - bt.getTime()
  if (Number.isNaN(ms)) return undefined
  return ms !== 0 ? ms : (aps ?? 0) - (bps ?? 0)
}
