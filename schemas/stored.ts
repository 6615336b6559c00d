/**
 * What the twin keeps on disk (the store's `device` and `twin` spaces): checked when loaded, since a
 * database written by another version or edited by hand is input like any other. Records are plain
 * JSON; twin/types.ts and twin/stored-device.ts say how the twin uses them.
 */
import { Type, type Static } from '@sinclair/typebox'
import { EdgeDevice } from './device.js'
import { TwinVersion } from './twin.js'

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

/** A member device as stored: its resolved spec, its state and when it was last online. */
export const StoredDevice = Type.Object({
  spec: EdgeDevice,
  state: Type.String({ description: 'as last sent: one of the device states in any case (twin/state.ts)' }),
  lastOnline: Type.Optional(Type.String()),
})

export type StoredDevice = Static<typeof StoredDevice>
