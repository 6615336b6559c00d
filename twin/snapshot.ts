/**
 * Stored twin records → wire `MsgTwin` (kubeedge-compat.md §1.3). Keys come out in the order of
 * KubeEdge's Go struct and absent parts are left out, as `omitempty` does: a side without a value,
 * a version vector that was never written, a zero timestamp, an empty type.
 */
import type { MsgTwin, TwinValue } from '../schemas/twin.js'
import { Sides, type Side, type TwinRecord, type TwinSide } from './types.js'
import { sameVersion } from './versions.js'

export const DELETED_TYPE = 'deleted'

export interface SnapshotOptions {
  /** include `expected_version`/`actual_version` (cloud-bound messages only; never on MQTT) */
  readonly versions: boolean
  /** only these sides (the update result lists the sides a request named); default both */
  readonly sides?: readonly Side[]
}

/** A live twin or a tombstone in its wire form; a tombstone has `metadata.type: "deleted"` and no values. */
export function toMsgTwin(record: TwinRecord, options: SnapshotOptions): MsgTwin {
  const sides = options.sides ?? Sides
  const out: MsgTwin = {}
  if (!record.deleted) {
    if (record.expected !== undefined && sides.includes('expected')) out.expected = toTwinValue(record.expected)
    if (record.actual !== undefined && sides.includes('actual')) out.actual = toTwinValue(record.actual)
  }
  out.optional = record.optional
  const type = record.deleted ? DELETED_TYPE : record.type
  out.metadata = type === '' ? {} : { type }
  if (options.versions) {
    if (record.expectedVersion !== undefined) out.expected_version = { ...record.expectedVersion }
    if (record.actualVersion !== undefined) out.actual_version = { ...record.actualVersion }
  }
  return out
}

/** The document form: versions stripped, `null` for a twin that does not exist or is deleted. */
export function documentSnapshot(record: TwinRecord | undefined): MsgTwin | null {
  return record === undefined || record.deleted ? null : toMsgTwin(record, { versions: false })
}

function toTwinValue(side: TwinSide): TwinValue {
  return { value: side.value, metadata: side.timestamp === 0 ? {} : { timestamp: side.timestamp } }
}

/** Whether two records look the same on MQTT (everything but the version vectors). */
export function sameVisible(a: TwinRecord | undefined, b: TwinRecord | undefined): boolean {
  const liveA = a !== undefined && !a.deleted
  const liveB = b !== undefined && !b.deleted
  if (!liveA || !liveB) return liveA === liveB
  return sameSide(a.expected, b.expected) && sameSide(a.actual, b.actual) && a.optional === b.optional && a.type === b.type
}

/** Whether two records are the same in every stored field. */
export function sameRecord(a: TwinRecord | undefined, b: TwinRecord | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  return (
    a.deleted === b.deleted &&
    a.optional === b.optional &&
    a.type === b.type &&
    sameSide(a.expected, b.expected) &&
    sameSide(a.actual, b.actual) &&
    sameVersion(a.expectedVersion, b.expectedVersion) &&
    sameVersion(a.actualVersion, b.actualVersion)
  )
}

function sameSide(a: TwinSide | undefined, b: TwinSide | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.value === b.value && a.timestamp === b.timestamp)
}
