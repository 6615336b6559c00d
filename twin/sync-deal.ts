/**
 * The cloud sync deal (KubeEdge deal type 1: `twin/cloud_updated`, and the twins of a membership
 * update) for one entry (kubeedge-compat.md §2.3, §2.4).
 *
 * - `metadata.type: "deleted"` deletes: each stored version vector must accept the request's vector
 *   for that side (a side the request gives no vector for keeps its own: KubeEdge deal type 3); an
 *   unknown key is stored as a tombstone carrying the request's versions.
 * - Otherwise every named side needs a version vector the stored one accepts (`dealVersion`) and a
 *   value valid for the twin; the request's counters are copied. A value equal to the stored one keeps
 *   its timestamp, so only the versions move (stored, but no document: nothing visible changed). An
 *   `expected` of `""` removes the expected value (entry.ts `clearsExpected`).
 *
 * Outcomes per key, never for the whole request: an invalid entry is skipped; a losing version sends
 * the edge's own state back to the cloud (`outdated`), so the cloud can catch up. Unlike KubeEdge a
 * key is all-or-nothing: after a losing `expected`, `actual` is not applied either, and a rejected
 * side never leaves the other half-applied.
 */
import type { ErrorCode } from '../schemas/errors.js'
import type { MsgTwin, TwinVersion } from '../schemas/twin.js'
import { dealVersion } from './versions.js'
import { toMsgTwin, DELETED_TYPE } from './snapshot.js'
import {
  applyOptional,
  checkEntryValues,
  namedSides,
  valuedSides,
  pointer,
  sameValue,
  tombstone,
  upsertBase,
  versionOf,
  type EntryInput,
  type EntryOutcome,
} from './entry.js'
import { Sides, wireVersionOf, type Side, type TwinRecord } from './types.js'

export function syncEntry(input: EntryInput): EntryOutcome {
  const { key, entry } = input
  if (entry === null) {
    return refused(key, pointer(key), 'a cloud sync deletes with `metadata.type: "deleted"`, not with null')
  }
  if (entry.metadata?.type === DELETED_TYPE) return syncDelete(input, entry)
  return syncUpsert(input, entry)
}

function syncDelete(input: EntryInput, entry: MsgTwin): EntryOutcome {
  const { record } = input
  if (record === undefined) {
    const next: TwinRecord = { optional: entry.optional ?? true, type: 'string', deleted: true }
    if (entry.expected_version !== undefined) next.expectedVersion = { ...entry.expected_version }
    if (entry.actual_version !== undefined) next.actualVersion = { ...entry.actual_version }
    return { kind: 'accepted', next, named: [], deletedNow: false }
  }
  if (record.deleted) return { kind: 'accepted', next: record, named: [], deletedNow: false }
  const versions: { expectedVersion?: TwinVersion; actualVersion?: TwinVersion } = {}
  for (const side of Sides) {
    const stored = record[versionOf[side]]
    const requested = entry[wireVersionOf[side]]
    if (stored === undefined) continue
    if (requested === undefined) {
      versions[versionOf[side]] = stored
      continue
    }
    const decision = dealVersion(stored, requested, 'cloud-sync')
    if (!decision.ok) return outdated(input, record, side, decision)
    versions[versionOf[side]] = decision.version
  }
  return { kind: 'accepted', next: tombstone(record, versions), named: [], deletedNow: false }
}

function syncUpsert(input: EntryInput, entry: MsgTwin): EntryOutcome {
  const { key, record } = input
  const { type, problems } = checkEntryValues({ ...input, entry })
  if (problems.length > 0) return { kind: 'refused', problems }
  const next = upsertBase(record, entry, type)
  for (const side of namedSides(entry)) {
    const decision = dealVersion(record?.[versionOf[side]], entry[wireVersionOf[side]], 'cloud-sync')
    if (!decision.ok) {
      // KubeEdge rejects a new twin silently; an existing one (live or tombstone) is echoed to the cloud
      if (record === undefined) return { kind: 'refused', problems: [{ key, path: pointer(key, wireVersionOf[side]), errorCode: decision.errorCode, reason: decision.reason }] }
      return outdated(input, record, side, decision)
    }
    const value = (entry[side] as NonNullable<MsgTwin['expected']>).value
    if (side === 'expected' && value === '') delete next.expected // no value (entry.ts clearsExpected)
    else if (!sameValue(record, side, value)) next[side] = { value, timestamp: input.now }
    next[versionOf[side]] = decision.version
  }
  applyOptional(next, entry)
  return { kind: 'accepted', next, named: valuedSides(entry), deletedNow: false }
}

function outdated(input: EntryInput, record: TwinRecord, side: Side, decision: { errorCode: ErrorCode; reason: string }): EntryOutcome {
  return {
    kind: 'outdated',
    problem: { key: input.key, path: pointer(input.key, wireVersionOf[side]), errorCode: decision.errorCode, reason: decision.reason },
    current: toMsgTwin(record, { versions: true }),
  }
}

function refused(key: string, path: string, reason: string): EntryOutcome {
  return { kind: 'refused', problems: [{ key, path, errorCode: 'TWIN_BAD_REQUEST', reason }] }
}
