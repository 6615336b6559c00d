/**
 * What one request entry does to one twin: the shared vocabulary of the local and the sync deal.
 */
import type { MsgTwin, TwinProblem } from '../schemas/twin.js'
import { checkType, checkValue } from './values.js'
import { Sides, versionOf, type PropertyModel, type Side, type TwinRecord } from './types.js'

export type EntryOutcome =
  /** the entry is refused: a local request fails as a whole; a sync skips the key */
  | { readonly kind: 'refused'; readonly problems: readonly TwinProblem[] }
  /** a sync lost on versions: nothing changes and the edge's own state goes back to the cloud */
  | { readonly kind: 'outdated'; readonly problem: TwinProblem; readonly current: MsgTwin }
  /** the entry is accepted; `next` may equal the stored record (a no-op) */
  | {
      readonly kind: 'accepted'
      readonly next: TwinRecord | undefined
      /** the sides the request named, for the update result */
      readonly named: readonly Side[]
      /** a local delete (`"key": null` in the result) */
      readonly deletedNow: boolean
    }

export interface EntryInput {
  readonly key: string
  readonly entry: MsgTwin | null
  readonly record: TwinRecord | undefined
  readonly property: PropertyModel | undefined
  readonly now: number
}

export function pointer(key: string, ...rest: string[]): string {
  return ['', 'twin', key.replace(/~/g, '~0').replace(/\//g, '~1'), ...rest].join('/')
}

export function namedSides(entry: MsgTwin): Side[] {
  return Sides.filter((side) => entry[side] !== undefined)
}

/**
 * Whether the entry's `expected` is `""`, which is no value: KubeEdge stores it as an empty column
 * that reads back as no expected value, and its delta skips it. Such an `expected` clears the side
 * instead of setting it, so no client ever sees `""` as a target (KubeEdge's BLE mapper would write it).
 */
export function clearsExpected(entry: MsgTwin): boolean {
  return entry.expected?.value === ''
}

/** The sides the entry gives a value: the named ones, less an `expected` of `""`. */
export function valuedSides(entry: MsgTwin): Side[] {
  return namedSides(entry).filter((side) => side !== 'expected' || !clearsExpected(entry))
}

/**
 * Checks the values of an entry. A twin being created (or re-created over a tombstone) takes the
 * request's `metadata.type` (default `string`, KubeEdge §2.4a); a live twin keeps its type (§2.4c:
 * the type of a live twin never changes).
 */
export function checkEntryValues(input: EntryInput & { readonly entry: MsgTwin }): { type: string; problems: TwinProblem[] } {
  const { key, entry, record, property } = input
  const creating = record === undefined || record.deleted
  const type = creating ? (entry.metadata?.type ?? 'string') : record.type
  const problems: TwinProblem[] = []
  const declared = creating ? entry.metadata?.type : undefined
  const typeProblem = declared === undefined ? undefined : checkType(declared)
  if (typeProblem !== undefined) problems.push({ key, path: pointer(key, 'metadata', 'type'), ...typeProblem })
  for (const side of valuedSides(entry)) {
    const value = entry[side]?.value ?? ''
    const problem = checkValue(value, typeProblem === undefined ? type : 'string', property)
    if (problem !== undefined) problems.push({ key, path: pointer(key, side, 'value'), ...problem })
  }
  return { type, problems }
}

/** A copy of `record` as a tombstone: values gone, versions as given, type kept for the record. */
export function tombstone(record: TwinRecord, versions: Pick<TwinRecord, 'expectedVersion' | 'actualVersion'>): TwinRecord {
  const next: TwinRecord = { optional: record.optional, type: record.type, deleted: true }
  if (versions.expectedVersion !== undefined) next.expectedVersion = versions.expectedVersion
  if (versions.actualVersion !== undefined) next.actualVersion = versions.actualVersion
  return next
}

/** The record an upsert starts from: the live twin, or a fresh one (re-created over a tombstone). */
export function upsertBase(record: TwinRecord | undefined, entry: MsgTwin, type: string): TwinRecord {
  if (record !== undefined && !record.deleted) return { ...record }
  const base: TwinRecord = { optional: record?.optional ?? entry.optional ?? true, type, deleted: false }
  if (record?.expectedVersion !== undefined) base.expectedVersion = record.expectedVersion
  if (record?.actualVersion !== undefined) base.actualVersion = record.actualVersion
  return base
}

/** `optional` may only go from true to false (§2.4c). */
export function applyOptional(next: TwinRecord, entry: MsgTwin): void {
  if (entry.optional === false) next.optional = false
}

/** Whether the stored side already holds this value (DESIGN §4.2: an identical report is a no-op). */
export function sameValue(record: TwinRecord | undefined, side: Side, value: string): boolean {
  return record !== undefined && !record.deleted && record[side]?.value === value
}

export { versionOf }
