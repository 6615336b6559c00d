/**
 * Applies one twin request to one device's twins (kubeedge-compat.md §2.2-§2.6; DESIGN §4): the next
 * twin map plus every output of the deal. Pure: no I/O, `now` and `newEventId` are parameters, the
 * given map is never changed.
 *
 * How the caller uses it (per device, under that device's lock):
 *   const out = applyTwinUpdate({ twins, request, deal, now, newEventId, model })
 *   if (!out.ok) publish(out.result) on `.../twin/update/result` (local deals; a sync only logs)
 *   else: write `out.changed` (out.twins[key] for each) in one batch — then, in this order (§2.6),
 *         publish out.result (local), out.document, out.delta, and queue out.cloudSync for the cloud.
 *   If the batch fails, keep the old map and answer 500 TWIN_STORE_FAILED (outputs.errorResult).
 *
 * Cloud ownership (DESIGN §5). A property whose Device spec has a desired value is owned by the cloud:
 * cloud-sync sends `expected` with `expected_version = { cloud: <spec generation>, edge: <last edge
 * version the cloud saw> }`, and re-sends it on every resync. dealVersion then orders the writes:
 *  - a newer spec the edge has not diverged from is accepted and copied (the delta goes to the mapper);
 *  - a resync of an unchanged spec with the same versions is a no-op;
 *  - if a local app changed that `expected` meanwhile (edge counter ahead), the resync is refused and
 *    `cloudSync` carries the edge's value and versions back; the cloud, seeing the edge's counter and
 *    a value that differs from the spec, re-asserts with `edge` = that counter, which is accepted:
 *    the local change is reverted and status showed both sides in between.
 * A property without a desired value is owned by the edge: the cloud sends it no `expected`, local
 * apps set it, and `cloudSync` reports it. Reported (`actual`) values are always the edge's: the cloud
 * never sends `actual`.
 */
import type { ErrorCode } from '../schemas/errors.js'
import type {
  DeviceTwinDelta,
  DeviceTwinDocument,
  DeviceTwinResult,
  ErrorResult,
  MsgTwin,
  TwinProblem,
} from '../schemas/twin.js'
import { parseTwinUpdate } from './request.js'
import { localEntry } from './local-deal.js'
import { syncEntry } from './sync-deal.js'
import { documentSnapshot, sameRecord, sameVisible, toMsgTwin } from './snapshot.js'
import { edgeUpdated, errorResult, summaryCode, summaryReason, twinDelta, twinDocument, twinUpdateResult } from './outputs.js'
import { modelAt, twinAt, type DeviceModelProperties, type TwinMap, type TwinRecord } from './types.js'
import type { Deal } from './versions.js'
import { pointer, type EntryOutcome } from './entry.js'

export interface TwinUpdateInput {
  /** the device's current twins, tombstones included */
  readonly twins: TwinMap
  /** the decoded JSON payload, unchecked (`parseJson` in twin/request.ts) */
  readonly request: unknown
  /** `local`: `.../twin/update` (KubeEdge deal 0); `cloud-sync`: `twin/cloud_updated`, membership twins (deal 1) */
  readonly deal: Deal
  /** edge clock, ms since the epoch: every stored timestamp and every output timestamp */
  readonly now: number
  /** fresh event ids for the outputs the edge originates (delta, cloud sync) */
  readonly newEventId: () => string
  /** the device model's properties, for typed validation, range and access mode */
  readonly model?: DeviceModelProperties
  /** local deal: most twins the device may have, tombstones included; a request adding more is refused */
  readonly maxKeys?: number
}

export interface TwinUpdateApplied {
  readonly ok: true
  /** the next twin map (the input map if nothing changed) */
  readonly twins: TwinMap
  /** keys whose stored record changed, sorted: write `twins[key]` for each (a tombstone is a write) */
  readonly changed: readonly string[]
  /** local deal: `.../twin/update/result`; undefined for a sync */
  readonly result: DeviceTwinResult | undefined
  /** `.../twin/update/document`, when a twin visibly changed */
  readonly document: DeviceTwinDocument | undefined
  /** `.../twin/update/delta` over the whole map, when any expected differs from its actual */
  readonly delta: DeviceTwinDelta | undefined
  /** cloud-bound `edge_updated` (with versions): local changes, or the edge's state after a lost sync */
  readonly cloudSync: DeviceTwinResult | undefined
  /** sync deal: entries not applied, and why (a local deal has none: it fails instead) */
  readonly skipped: readonly TwinProblem[]
}

export interface TwinUpdateRejected {
  readonly ok: false
  readonly code: 400
  readonly errorCode: ErrorCode
  readonly reason: string
  /** every rejected part, in key order */
  readonly problems: readonly TwinProblem[]
  /** the error `Result` for `.../twin/update/result`, echoing the request's event_id */
  readonly result: ErrorResult
}

export type TwinUpdateOutcome = TwinUpdateApplied | TwinUpdateRejected

export function applyTwinUpdate(input: TwinUpdateInput): TwinUpdateOutcome {
  const { twins, deal, now } = input
  const parsed = parseTwinUpdate(input.request)
  if (!parsed.ok) return rejected(parsed.eventId, now, parsed.problems)
  const { eventId, entries } = parsed.value

  const outcomes: Array<[string, TwinRecord | undefined, EntryOutcome]> = entries.map(([key, entry]) => {
    const record = twinAt(twins, key)
    const entryInput = { key, entry, record, property: modelAt(input.model, key), now }
    return [key, record, deal === 'local' ? localEntry(entryInput) : syncEntry(entryInput)]
  })

  const problems = outcomes.flatMap(([, , o]) => (o.kind === 'refused' ? o.problems : []))
  if (deal === 'local') problems.push(...tooManyKeys(twins, outcomes, input.maxKeys))
  if (deal === 'local' && problems.length > 0) return rejected(eventId, now, problems)

  const updates: Array<[string, TwinRecord]> = []
  const changed: string[] = []
  const result: Array<[string, MsgTwin | null]> = []
  const changes: Array<[string, TwinRecord | undefined, TwinRecord | undefined]> = [] // visible: in the document
  let documentOut: Lazy<DeviceTwinDocument | undefined>
  let deltaOut: Lazy<DeviceTwinDelta | undefined>
  let cloudSyncOut: Lazy<DeviceTwinResult | undefined>
  const cloud: Array<[string, MsgTwin]> = []
  const local: Array<[string, TwinRecord]> = [] // changed by a local deal: the cloud hears them
  const skipped: TwinProblem[] = [...problems]

  for (const [key, record, outcome] of outcomes) {
    if (outcome.kind === 'refused') continue
    if (outcome.kind === 'outdated') {
      skipped.push(outcome.problem)
      cloud.push([key, outcome.current])
      continue
    }
    const after = outcome.next
    if (after !== undefined && !sameRecord(record, after)) {
      updates.push([key, after])
      changed.push(key)
      if (deal === 'local') local.push([key, after])
    }
    if (!sameVisible(record, after)) changes.push([key, record, after])
    if (deal === 'local') {
      const entry = resultEntry(record, outcome)
      if (entry !== undefined) result.push([key, entry])
    }
  }

  const next: TwinMap = updates.length === 0 ? twins : Object.fromEntries([...Object.entries(twins), ...updates])
  // Document, delta and cloud sync are built when first read: most are never read (nobody
  // subscribes to most devices' documents; a node without a cloud link never reads the sync).
  return {
    ok: true,
    twins: next,
    changed,
    result: deal === 'local' ? twinUpdateResult({ eventId, now }, Object.fromEntries(result)) : undefined,
    get document() {
      return (documentOut ??= { value: changes.length > 0 ? twinDocument({ eventId, now }, Object.fromEntries(changes.map(([key, before, after]) => [key, { last: documentSnapshot(before), current: documentSnapshot(after) }]))) : undefined }).value
    },
    get delta() {
      return (deltaOut ??= { value: withEventId(twinDelta(next, { eventId: '', now }), input.newEventId) }).value
    },
    get cloudSync() {
      return (cloudSyncOut ??= { value: edgeSync(input, [...cloud, ...local.map(([key, record]): [string, MsgTwin] => [key, toMsgTwin(record, { versions: true })])]) }).value
    },
    skipped: skipped.sort(byKeyAndPath),
  }
}

type Lazy<T> = { value: T } | undefined

/**
 * The keys a local deal would add past `maxKeys` twins. Tombstones count: they stay stored (their
 * versions order later cloud syncs), so creating and deleting keys cannot grow a device without end.
 */
function tooManyKeys(twins: TwinMap, outcomes: ReadonlyArray<[string, TwinRecord | undefined, EntryOutcome]>, maxKeys: number | undefined): TwinProblem[] {
  if (maxKeys === undefined) return []
  const added = outcomes.filter(([, record, o]) => record === undefined && o.kind === 'accepted' && o.next !== undefined).map(([key]) => key)
  if (added.length === 0) return []
  const total = Object.keys(twins).length + added.length
  if (total <= maxKeys) return []
  const reason = `the device would have ${total} twins; at most ${maxKeys} are allowed (twin.maxKeysPerDevice)`
  return added.map((key) => ({ key, path: pointer(key), errorCode: 'TWIN_TOO_MANY_KEYS', reason }))
}

function withEventId<T extends { event_id: string }>(message: T | undefined, newEventId: () => string): T | undefined {
  if (message !== undefined) message.event_id = newEventId()
  return message
}

function edgeSync(input: TwinUpdateInput, twins: Array<[string, MsgTwin]>): DeviceTwinResult | undefined {
  return twins.length > 0 ? edgeUpdated({ eventId: input.newEventId(), now: input.now }, Object.fromEntries(twins)) : undefined
}

/**
 * The update result entry of one key (§1.5.1): `null` for a delete; for an upsert the sides the request
 * named (as stored now: an identical report shows the unchanged value and its old timestamp), plus
 * `optional` and `metadata`; nothing for a no-op that named no side (KubeEdge lists only changes).
 */
function resultEntry(before: TwinRecord | undefined, outcome: Extract<EntryOutcome, { kind: 'accepted' }>): MsgTwin | null | undefined {
  if (outcome.deletedNow) return null
  const after = outcome.next
  if (after === undefined || after.deleted) return undefined
  if (outcome.named.length === 0 && sameRecord(before, after)) return undefined
  return toMsgTwin(after, { versions: false, sides: outcome.named })
}

function rejected(eventId: string, now: number, unsorted: readonly TwinProblem[]): TwinUpdateRejected {
  const problems = [...unsorted].sort(byKeyAndPath)
  const errorCode = summaryCode(problems)
  const reason = summaryReason('twin update rejected', problems)
  return { ok: false, code: 400, errorCode, reason, problems, result: errorResult({ eventId, now, code: 400, errorCode, reason, problems }) }
}

function byKeyAndPath(a: TwinProblem, b: TwinProblem): number {
  return compare(a.key ?? '', b.key ?? '') || compare(a.path, b.path)
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
