/**
 * The stored form of a device's twins: what the twin store persists per (device, key) and what the
 * pure merge functions take and return. Declared in schemas/stored.ts, so the store checks records it
 * loads. Records are plain JSON and treated as immutable: the merge never changes a record or a
 * map it was given.
 */
import type { TwinRecord, TwinSide } from '../schemas/stored.js'

export type { TwinRecord, TwinSide }

/** All twins of one device, by key. Tombstones included. */
export type TwinMap = Readonly<Record<string, TwinRecord>>

export type Side = 'expected' | 'actual'
export const Sides: readonly Side[] = ['expected', 'actual']
export const versionOf = { expected: 'expectedVersion', actual: 'actualVersion' } as const
/** The wire name of a side's version vector. */
export const wireVersionOf = { expected: 'expected_version', actual: 'actual_version' } as const

/** What the device model says about one property (DeviceModel `spec.properties[]`, DESIGN §4.1). */
export interface PropertyModel {
  /** `INT`, `FLOAT`, `DOUBLE`, `BOOLEAN`, `STRING`, `BYTES`, `STREAM`, or KubeEdge's lower-case names. */
  readonly type?: string
  /** a number, or its decimal string as the DeviceModel CRD carries it; an unparsable bound is ignored */
  readonly minimum?: number | string
  readonly maximum?: number | string
  /** `ReadOnly` refuses `expected` writes from local requests; anything else allows them. */
  readonly accessMode?: string
}

/** Property name → model, for one device. A twin with no entry here is untyped beyond its own type. */
export type DeviceModelProperties = Readonly<Record<string, PropertyModel>>

/** `twins[key]` without consulting the prototype (a key may be `constructor` or `toString`). */
export function twinAt(twins: TwinMap, key: string): TwinRecord | undefined {
  return Object.hasOwn(twins, key) ? twins[key] : undefined
}

export function modelAt(model: DeviceModelProperties | undefined, key: string): PropertyModel | undefined {
  return model !== undefined && Object.hasOwn(model, key) ? model[key] : undefined
}
