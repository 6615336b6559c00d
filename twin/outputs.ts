/**
 * Builders of the payloads DeviceTwin publishes (kubeedge-compat.md §1.4, §1.5, §2.6). Pure: the
 * event id and the time are parameters. Twin maps come out in key order.
 */
import type { ErrorCode } from '../schemas/errors.js'
import type {
  DeviceTwinDelta,
  DeviceTwinDocument,
  DeviceTwinResult,
  ErrorResult,
  MsgTwin,
  TwinDoc,
  TwinProblem,
} from '../schemas/twin.js'
import { toMsgTwin } from './snapshot.js'
import { sortedKeys } from './sorted-keys.js'
import type { TwinMap, TwinRecord } from './types.js'

/** The BaseMessage of an output: `event_id` (request's, or a fresh one) and the edge time. */
export interface Stamp {
  readonly eventId: string
  readonly now: number
}

/** `.../twin/update/result` on success: the entries of the deal (`null` = deleted), never versions. */
export function twinUpdateResult(stamp: Stamp, twin: Readonly<Record<string, MsgTwin | null>>): DeviceTwinResult {
  return { event_id: stamp.eventId, timestamp: stamp.now, twin: sorted(twin) }
}

/** `.../twin/update/document`: last/current per twin that visibly changed. */
export function twinDocument(stamp: Stamp, twin: Readonly<Record<string, TwinDoc>>): DeviceTwinDocument {
  return { event_id: stamp.eventId, timestamp: stamp.now, twin: sorted(twin) }
}

/**
 * `.../twin/update/delta` over the whole twin map (§1.5.2): every live twin with a non-empty expected
 * value is listed (versions stripped); `delta` has those whose expected differs from actual (a missing
 * actual counts as `""`). `undefined` when `delta` would be empty: nothing is published then.
 */
export function twinDelta(twins: TwinMap, stamp: Stamp): DeviceTwinDelta | undefined {
  const keys = sortedKeys(twins, (key) => expectedOf(twins[key]) !== '')
  const delta: Array<[string, string]> = []
  for (const key of keys) {
    const record = twins[key] as TwinRecord
    if (record.expected?.value !== (record.actual?.value ?? '')) delta.push([key, expectedOf(record)])
  }
  if (delta.length === 0) return undefined
  const twin = keys.map((key): [string, MsgTwin] => [key, toMsgTwin(twins[key] as TwinRecord, { versions: false })])
  return { event_id: stamp.eventId, timestamp: stamp.now, twin: Object.fromEntries(twin), delta: Object.fromEntries(delta) }
}

/** The expected value the delta steers to: `""` for none (absent, empty, or a tombstone). */
function expectedOf(record: TwinRecord | undefined): string {
  return record === undefined || record.deleted ? '' : (record.expected?.value ?? '')
}

/** `.../twin/get/result` (§1.5.4): every live twin, versions stripped, tombstones hidden. */
export function twinGetResult(twins: TwinMap, stamp: Stamp): DeviceTwinResult {
  const twin: Array<[string, MsgTwin]> = []
  for (const key of sortedKeys(twins)) {
    const record = twins[key]
    if (record !== undefined && !record.deleted) twin.push([key, toMsgTwin(record, { versions: false })])
  }
  return { event_id: stamp.eventId, timestamp: stamp.now, twin: Object.fromEntries(twin) }
}

/** Cloud-bound `device/<id>/twin/edge_updated` content (§1.6, §2.6): twins with their versions. */
export function edgeUpdated(stamp: Stamp, twin: Readonly<Record<string, MsgTwin>>): DeviceTwinResult {
  return { event_id: stamp.eventId, timestamp: stamp.now, twin: sorted(twin) }
}

export interface ErrorResultInput extends Stamp {
  readonly code: 400 | 404 | 500
  readonly errorCode: ErrorCode
  readonly reason: string
  readonly problems?: readonly TwinProblem[]
}

/** An error `Result` (§1.3) with tern's `errorCode` and, when there are any, `problems`. */
export function errorResult(input: ErrorResultInput): ErrorResult {
  const out: ErrorResult = {
    event_id: input.eventId,
    timestamp: input.now,
    code: input.code,
    reason: input.reason,
    errorCode: input.errorCode,
  }
  if (input.reason === '') delete out.reason
  if (input.problems !== undefined && input.problems.length > 0) out.problems = input.problems.map((p) => ({ ...p }))
  return out
}

/** One code for a list of problems: theirs if they agree, else the generic `TWIN_BAD_REQUEST`. */
export function summaryCode(problems: readonly TwinProblem[]): ErrorCode {
  const codes = new Set(problems.map((p) => p.errorCode))
  const [only] = codes
  return codes.size === 1 && only !== undefined ? only : 'TWIN_BAD_REQUEST'
}

/** A `reason` naming every problem, e.g. `2 problems: twin "a": ... (TWIN_READ_ONLY); ...`. */
export function summaryReason(what: string, problems: readonly TwinProblem[]): string {
  const parts = problems.map((p) => `${p.key === undefined ? p.path : `twin ${JSON.stringify(p.key)}${tail(p)}`}: ${p.reason} (${p.errorCode})`)
  return `${what}: ${parts.join('; ')}`
}

function tail(p: TwinProblem): string {
  const prefix = `/twin/${(p.key ?? '').replace(/~/g, '~0').replace(/\//g, '~1')}`
  return p.path.startsWith(prefix) && p.path.length > prefix.length ? ` ${p.path.slice(prefix.length)}` : ''
}

/** A copy in key order; `Object.fromEntries` defines keys, so even `__proto__` stays a plain key. */
function sorted<T>(map: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(sortedKeys(map).map((key) => [key, map[key] as T]))
}
