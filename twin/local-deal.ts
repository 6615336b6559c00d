/**
 * The local deal (KubeEdge deal type 0: `.../twin/update` from mappers and apps) for one entry
 * (kubeedge-compat.md §2.4, DESIGN §4).
 *
 * - `null` deletes an optional live twin: values dropped, each existing version vector gets `edge + 1`,
 *   the record stays as a tombstone. Deleting a non-optional, unknown or already deleted twin is a
 *   silent no-op with no result entry (KubeEdge).
 * - Otherwise each named side is validated (twin type, model type and range, `ReadOnly` for
 *   `expected`), then stored with the edge time and `edge + 1` — unless it equals the stored value,
 *   which changes nothing (DESIGN §4.2). An `expected` of `""` is no value: it removes a stored
 *   expected value (`edge + 1`) and is not validated (entry.ts `clearsExpected`).
 */
import type { MsgTwin } from '../schemas/twin.js'
import { nextLocalVersion } from './versions.js'
import {
  applyOptional,
  checkEntryValues,
  clearsExpected,
  pointer,
  sameValue,
  tombstone,
  upsertBase,
  valuedSides,
  versionOf,
  type EntryInput,
  type EntryOutcome,
} from './entry.js'

export function localEntry(input: EntryInput): EntryOutcome {
  const { entry, record } = input
  if (entry === null) return localDelete(input)
  const { type, problems } = checkEntryValues({ ...input, entry })
  if (entry.expected !== undefined && !clearsExpected(entry) && input.property?.accessMode === 'ReadOnly') {
    problems.unshift({
      key: input.key,
      path: pointer(input.key, 'expected'),
      errorCode: 'TWIN_READ_ONLY',
      reason: 'the property is ReadOnly in the device model; only `actual` may be reported',
    })
  }
  if (problems.length > 0) return { kind: 'refused', problems }
  const next = upsertBase(record, entry, type)
  const named = valuedSides(entry)
  for (const side of named) {
    const value = (entry[side] as NonNullable<MsgTwin['expected']>).value
    if (sameValue(record, side, value)) continue
    next[side] = { value, timestamp: input.now }
    next[versionOf[side]] = nextLocalVersion(record?.[versionOf[side]])
  }
  if (clearsExpected(entry) && next.expected !== undefined) {
    delete next.expected
    next.expectedVersion = nextLocalVersion(record?.expectedVersion)
  }
  applyOptional(next, entry)
  return { kind: 'accepted', next, named, deletedNow: false }
}

function localDelete(input: EntryInput): EntryOutcome {
  const { record } = input
  if (record === undefined || record.deleted || !record.optional) {
    return { kind: 'accepted', next: record, named: [], deletedNow: false }
  }
  const bump = (v: typeof record.expectedVersion) => (v === undefined ? undefined : nextLocalVersion(v))
  const next = tombstone(record, { expectedVersion: bump(record.expectedVersion), actualVersion: bump(record.actualVersion) })
  return { kind: 'accepted', next, named: [], deletedNow: true }
}
