/**
 * The stored form of a device's twins: what the twin store persists per (device, key) and what the
 * pure merge functions take and return. Declared with TypeBox so the store can check records it
 * loads (`compile(TwinRecord)` from schemas/validate.ts). Records are plain JSON and treated as
 * immutable: the merge never changes a record or a map it was given.
 */
import { Type, type Static } from '@sinclair/typebox'
import { TwinVersion } from '../schemas/twin.js'

/** One side (expected or actual) of a twin: the value and the edge time it was stored. */
export const TwinSide = Type.Object(
  {
    value: Type.String(),
    timestamp: Type.Integer({ description: 'edge clock, ms since the epoch, when this value was stored' }),
  },
  { additionalProperties: false },
)

export const TwinRecord = Type.Object(
  {
    expected: Type.Optional(TwinSide),
    actual: Type.Optional(TwinSide),
    expectedVersion: Type.Optional(TwinVersion),
    actualVersion: Type.Optional(TwinVersion),
    optional: Type.Boolean({ description: 'a non-optional twin cannot be deleted by a local request' }),
    type: Type.String({ description: 'the twin type as declared by its creator (`metadata.type`), default `string`' }),
    deleted: Type.Boolean({
      description: 'tombstone: the values are gone, the versions stay; published with `metadata.type: "deleted"`',
    }),
  },
  { additionalProperties: false },
)

export type TwinSide = Static<typeof TwinSide>
export type TwinRecord = Static<typeof TwinRecord>

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
