/**
 * Wire payloads of the DeviceTwin `$hw/events/...` topics (kubeedge-compat.md §1.3, §1.4), declared
 * once with TypeBox: the JSON Schema and the TypeScript type come from the same declaration.
 *
 * Field names are KubeEdge's (Go `json` tags, snake_case). KubeEdge marks most fields `omitempty`;
 * the builders in `twin/outputs.ts` mirror that exactly (an absent field is left out, never `null`),
 * so `Type.Optional` here means "may be absent on the wire". The schemas do not forbid unknown keys:
 * KubeEdge's Go decoder ignores them, and so does tern, so clients built for KubeEdge keep working.
 *
 * tern additions, ignored by KubeEdge clients: `errorCode` and `problems` on error results.
 */
import { Type, type Static } from '@sinclair/typebox'
import { ErrorCodes, type ErrorCode } from './errors.js'
import { StringEnum } from './typebox.js'
import type { DeviceState } from './vocabulary.js'

const int64 = (description?: string) => Type.Integer(description === undefined ? {} : { description })

// ---- building blocks (§1.3) -------------------------------------------------------------------

export const BaseMessage = Type.Object({
  event_id: Type.String({ description: 'opaque id; a result echoes the request id, events the edge originates carry a fresh UUID' }),
  timestamp: int64('milliseconds since the Unix epoch, edge clock'),
})

export const ValueMetadata = Type.Object({
  timestamp: Type.Optional(int64('edge clock (ms) when this value was stored; a client-sent value is ignored')),
})

export const TwinValue = Type.Object({
  value: Type.String({
    description: 'always a string; any UTF-8 up to 4 KiB, checked against the property type of the device model (DESIGN §4.1)',
  }),
  metadata: Type.Optional(ValueMetadata),
})

export const TwinVersion = Type.Object({
  cloud: Type.Integer({ minimum: 0 }),
  edge: Type.Integer({ minimum: 0 }),
})

export const TypeMetadata = Type.Object({
  type: Type.Optional(
    Type.String({
      description:
        'twin value type: string, int, integer, float, double, boolean, bytes (any case), or `deleted` (tombstone, sync only)',
    }),
  ),
})

export const MsgTwin = Type.Object({
  expected: Type.Optional(TwinValue),
  actual: Type.Optional(TwinValue),
  optional: Type.Optional(Type.Boolean({ description: 'default true; may only change from true to false' })),
  metadata: Type.Optional(TypeMetadata),
  expected_version: Type.Optional(TwinVersion),
  actual_version: Type.Optional(TwinVersion),
})

export const MsgAttr = Type.Object({
  value: Type.String(),
  optional: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(TypeMetadata),
})

/** A twin map entry in a request or a result: `null` deletes (request) or reports a deletion (result). */
export const MsgTwinOrNull = Type.Union([MsgTwin, Type.Null()])

// ---- twin/update (§1.4 #1-#4, #7) ---------------------------------------------------------------

/** Request on `.../twin/update` (local deal) and `.../twin/cloud_updated` (sync deal, with versions). */
export const DeviceTwinUpdate = Type.Object(
  {
    event_id: Type.Optional(Type.String()),
    timestamp: Type.Optional(int64('ignored: stored timestamps come from the edge clock')),
    twin: Type.Record(Type.String(), MsgTwinOrNull),
  },
  { title: 'DeviceTwin update request' },
)

/**
 * The envelope of a twin update as the twin first checks it: entries are checked one at a time
 * against {@link MsgTwin} afterwards, so that every problem names its key.
 */
export const TwinUpdateEnvelope = Type.Object({
  event_id: Type.Optional(Type.String()),
  timestamp: Type.Optional(Type.Integer()),
  twin: Type.Record(Type.String(), Type.Unknown()),
})

/**
 * Success result on `.../twin/update/result` and `.../twin/get/result` (versions never included), and
 * the cloud-bound `edge_updated` content (versions included).
 */
export const DeviceTwinResult = Type.Object(
  {
    ...BaseMessage.properties,
    twin: Type.Record(Type.String(), MsgTwinOrNull),
  },
  { title: 'DeviceTwin result' },
)

export const TwinDoc = Type.Object({
  last: Type.Union([MsgTwin, Type.Null()], { description: 'before the deal; null if the twin was new or deleted' }),
  current: Type.Union([MsgTwin, Type.Null()], { description: 'after the deal; null if the twin is now deleted' }),
})

export const DeviceTwinDocument = Type.Object(
  {
    ...BaseMessage.properties,
    twin: Type.Record(Type.String(), TwinDoc),
  },
  { title: 'DeviceTwin document' },
)

export const DeviceTwinDelta = Type.Object(
  {
    ...BaseMessage.properties,
    twin: Type.Record(Type.String(), MsgTwin),
    delta: Type.Record(Type.String(), Type.String(), { description: 'twin name -> expected value, where expected != actual' }),
  },
  { title: 'DeviceTwin delta' },
)

/** Request on `.../twin/get` and `.../membership/get`: only `event_id` is read. */
export const GetRequest = Type.Object({
  event_id: Type.Optional(Type.String()),
  timestamp: Type.Optional(int64()),
})

// ---- errors (§1.3 Result, §2.7) -----------------------------------------------------------------

const errorCodeNames = Object.keys(ErrorCodes) as ErrorCode[]

export const TwinProblem = Type.Object({
  key: Type.Optional(Type.String({ description: 'the twin key the problem is about, when it is about one' })),
  path: Type.String({ description: 'JSON pointer into the request' }),
  errorCode: StringEnum(errorCodeNames),
  reason: Type.String(),
})

export const ErrorResult = Type.Object(
  {
    ...BaseMessage.properties,
    code: Type.Optional(Type.Integer({ description: '400 bad request, 404 unknown device, 500 store failure' })),
    reason: Type.Optional(Type.String()),
    errorCode: Type.Optional(StringEnum(errorCodeNames, { description: 'tern: stable code from schemas/errors.ts' })),
    problems: Type.Optional(Type.Array(TwinProblem, { description: 'tern: every rejected key and why' })),
  },
  { title: 'DeviceTwin error result' },
)

// ---- device state (§1.4 #8, #9; §1.5.6) ---------------------------------------------------------

export type { DeviceState }

/** Request on `.../state/update`. The key is matched case-insensitively (DMI sends `State`). */
export const DeviceStateUpdate = Type.Object(
  {
    event_id: Type.Optional(Type.String()),
    timestamp: Type.Optional(int64()),
    state: Type.String({ description: 'online, offline, ok, unknown or unhealthy, any case' }),
  },
  { title: 'device state update request' },
)

export const DeviceStateResult = Type.Object(
  {
    ...BaseMessage.properties,
    device: Type.Object({
      name: Type.Optional(Type.String()),
      state: Type.Optional(Type.String({ description: 'as the mapper sent it: online, offline, ok, unknown or unhealthy, in any case' })),
      lastOnlineTime: Type.Optional(Type.String({ description: 'RFC 3339 UTC, seconds: 2026-01-01T00:00:00Z' })),
    }),
  },
  { title: 'device state update result' },
)

// ---- attributes and membership (§1.4 #10-#13) ---------------------------------------------------

/** `.../updated`: attribute changes of one device. */
export const DeviceAttrUpdate = Type.Object({
  ...BaseMessage.properties,
  attributes: Type.Record(Type.String(), Type.Union([MsgAttr, Type.Null()])),
})

/** KubeEdge's edge `Device` struct; every field `omitempty`. */
export const MemberDevice = Type.Object({
  id: Type.Optional(Type.String({ description: '<namespace>/<name>' })),
  name: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  last_online: Type.Optional(Type.String()),
  attributes: Type.Optional(Type.Record(Type.String(), MsgAttr)),
  twin: Type.Optional(Type.Record(Type.String(), MsgTwinOrNull)),
})

export const MembershipGetResult = Type.Object(
  {
    ...BaseMessage.properties,
    devices: Type.Array(MemberDevice, { description: 'every member device, without `twin`' }),
  },
  { title: 'membership get result' },
)

export const MembershipUpdated = Type.Object(
  {
    ...BaseMessage.properties,
    added_devices: Type.Union([Type.Array(MemberDevice), Type.Null()]),
    removed_devices: Type.Union([Type.Array(MemberDevice), Type.Null()]),
  },
  { title: 'membership updated' },
)

// ---- static types -------------------------------------------------------------------------------

export type BaseMessage = Static<typeof BaseMessage>
export type ValueMetadata = Static<typeof ValueMetadata>
export type TwinValue = Static<typeof TwinValue>
export type TwinVersion = Static<typeof TwinVersion>
export type TypeMetadata = Static<typeof TypeMetadata>
export type MsgTwin = Static<typeof MsgTwin>
export type MsgAttr = Static<typeof MsgAttr>
export type DeviceTwinUpdate = Static<typeof DeviceTwinUpdate>
export type DeviceTwinResult = Static<typeof DeviceTwinResult>
export type TwinDoc = Static<typeof TwinDoc>
export type DeviceTwinDocument = Static<typeof DeviceTwinDocument>
export type DeviceTwinDelta = Static<typeof DeviceTwinDelta>
export type GetRequest = Static<typeof GetRequest>
export type TwinProblem = Static<typeof TwinProblem>
export type ErrorResult = Static<typeof ErrorResult>
export type DeviceStateUpdate = Static<typeof DeviceStateUpdate>
export type DeviceStateResult = Static<typeof DeviceStateResult>
export type DeviceAttrUpdate = Static<typeof DeviceAttrUpdate>
export type MemberDevice = Static<typeof MemberDevice>
export type MembershipGetResult = Static<typeof MembershipGetResult>
export type MembershipUpdated = Static<typeof MembershipUpdated>
