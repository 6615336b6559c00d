/**
 * The documents of the cloud–edge link (cloud-sync/messages.ts says how they are used): KubeEdge's
 * envelope (kubeedge-compat.md §5.1) and the contents tern's CloudHub and EdgeHub exchange.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Device, DeviceModel } from './device.js'
import { MsgTwin } from './twin.js'
import { MSG_ID_MAX_LENGTH } from './cloud-link-limits.js'

export const Header = Type.Object({
  msg_id: Type.String({ minLength: 1, maxLength: MSG_ID_MAX_LENGTH }),
  parent_msg_id: Type.Optional(Type.String({ maxLength: MSG_ID_MAX_LENGTH })),
  timestamp: Type.Integer({ minimum: 0 }),
  resourceversion: Type.Optional(Type.String({ maxLength: 64 })),
  sync: Type.Optional(Type.Boolean()),
  type: Type.Optional(Type.String({ maxLength: 64 })),
})

export const Route = Type.Object({
  source: Type.String({ maxLength: 64 }),
  destination: Type.Optional(Type.String({ maxLength: 64 })),
  group: Type.String({ maxLength: 64 }),
  operation: Type.String({ minLength: 1, maxLength: 64 }),
  resource: Type.String({ maxLength: 512 }),
})

/** One frame on the link (JSON text). Unknown header/route keys from other implementations are kept. */
export const Envelope = Type.Object({
  header: Header,
  route: Route,
  content: Type.Optional(Type.Unknown()),
})

export type Envelope = Static<typeof Envelope>

/** Content of a downstream `resync`: every Device bound to the node, and the models they use. */
export const NodeDeviceSet = Type.Object({
  devices: Type.Array(Device),
  models: Type.Array(DeviceModel),
})
export type NodeDeviceSet = Static<typeof NodeDeviceSet>

/** Content of a downstream `delete`: enough metadata to name the object. */
export const DeletedObject = Type.Object({
  metadata: Type.Object({ name: Type.String(), namespace: Type.String(), uid: Type.Optional(Type.String()), resourceVersion: Type.Optional(Type.String()) }),
})
export type DeletedObject = Static<typeof DeletedObject>

/**
 * Content of an upstream twin report: KubeEdge's `DeviceTwinUpdate` shape (kubeedge-compat.md §1.3):
 * per property the current `expected` (→ status observedDesired) and `actual` (→ status reported)
 * with their metadata timestamps, versions, and `metadata.type`; `metadata.type: "deleted"` for a
 * twin deleted at the edge.
 */
export const TwinReport = Type.Object({
  event_id: Type.String(),
  timestamp: Type.Integer({ minimum: 0 }),
  twin: Type.Record(Type.String(), MsgTwin),
})
export type TwinReport = Static<typeof TwinReport>

/** Content of an upstream state report (lastOnline as the edge's RFC 3339 time). */
export const StateReport = Type.Object({
  state: Type.String({ minLength: 1, maxLength: 32 }),
  lastOnline: Type.Optional(Type.String({ maxLength: 64 })),
})
export type StateReport = Static<typeof StateReport>

/** Content of an `error` response: a stable code (schemas/errors.ts) and a reason. */
export const ErrorContent = Type.Object({ code: Type.String(), reason: Type.String() })
export type ErrorContent = Static<typeof ErrorContent>

/** Content of an upstream certificate renewal (group `identity`, operation `renew`): a new CSR of the node's new key. */
export const RenewRequest = Type.Object({ csr: Type.String({ minLength: 1, maxLength: 8192 }) })
export type RenewRequest = Static<typeof RenewRequest>

/** A node certificate as the cloud issues it (join answer, renewal response). */
export const IssuedCertificate = Type.Object({
  node: Type.String({ minLength: 1, maxLength: 253 }),
  cert: Type.String({ minLength: 1, maxLength: 16_384 }),
  ca: Type.String({ minLength: 1, maxLength: 65_536 }),
  notAfter: Type.String({ minLength: 1, maxLength: 64 }),
})
export type IssuedCertificate = Static<typeof IssuedCertificate>
