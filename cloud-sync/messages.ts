/**
 * The cloud–edge message layer: KubeEdge's envelope (kubeedge-compat.md §5.1) and the messages
 * tern's CloudHub and EdgeHub exchange. Declared once with TypeBox (JSON Schema for ajv, types for
 * TypeScript). Resources are written as the edge sees them (§5.2): CloudHub keeps one session per
 * node and the controllers take the node from the session, so KubeEdge's cloud-internal
 * `node/<node>/` prefix ({@link cloudResource}) never crosses the wire.
 *
 * Downstream (cloud → edge), each acknowledged by the edge after it has been applied durably:
 * - `resync`  resource `devices`, content {@link NodeDeviceSet}: the node's whole device set,
 *   sent first on every connect (level-triggered); the edge adds, updates and removes to match.
 * - `update` / `delete` of `<ns>/device/<name>` and `<ns>/devicemodel/<name>`: incremental watch
 *   changes after the resync; content is the whole object (update) or its metadata (delete),
 *   `header.resourceversion` its resourceVersion.
 *
 * Upstream (edge → cloud), each acknowledged by the cloud once written to `Device.status`:
 * - `update` of `device/<ns>/<name>/twin/edge_updated`, content {@link TwinReport}: the current
 *   twins of the properties that changed (coalesced: one message per device in flight).
 * - `update` of `device/<ns>/<name>/state/update`, content {@link StateReport}.
 *
 * Not acknowledged: responses themselves (`operation: response`, `parent_msg_id` = the message
 * answered, content `"OK"`, or `operation: error` with a {@link ErrorContent}) and keepalives.
 */
import { randomUUID } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import { Device, DeviceModel } from '../schemas/device.js'
import { MsgTwin } from '../schemas/twin.js'
import { compile } from '../schemas/validate.js'

export const Header = Type.Object({
  msg_id: Type.String({ minLength: 1, maxLength: 128 }),
  parent_msg_id: Type.Optional(Type.String({ maxLength: 128 })),
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
export const validateEnvelope = compile(Envelope)

export const Operations = {
  resync: 'resync',
  update: 'update',
  delete: 'delete',
  response: 'response',
  error: 'error',
  keepalive: 'keepalive',
} as const

export const Sources = { cloud: 'devicecontroller', edge: 'twin', hub: 'websocket' } as const

/** Content of a downstream `resync`: every Device bound to the node, and the models they use. */
export const NodeDeviceSet = Type.Object({
  devices: Type.Array(Device),
  models: Type.Array(DeviceModel),
})
export type NodeDeviceSet = Static<typeof NodeDeviceSet>
export const validateNodeDeviceSet = compile(NodeDeviceSet)

/** Content of a downstream `delete`: enough metadata to name the object. */
export const DeletedObject = Type.Object({
  metadata: Type.Object({ name: Type.String(), namespace: Type.String(), uid: Type.Optional(Type.String()), resourceVersion: Type.Optional(Type.String()) }),
})
export type DeletedObject = Static<typeof DeletedObject>
export const validateDeletedObject = compile(DeletedObject)

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
export const validateTwinReport = compile(TwinReport)

/** Content of an upstream state report (lastOnline as the edge's RFC 3339 time). */
export const StateReport = Type.Object({
  state: Type.String({ minLength: 1, maxLength: 32 }),
  lastOnline: Type.Optional(Type.String({ maxLength: 64 })),
})
export type StateReport = Static<typeof StateReport>
export const validateStateReport = compile(StateReport)

/** Content of an `error` response: a stable code (schemas/errors.ts) and a reason. */
export const ErrorContent = Type.Object({ code: Type.String(), reason: Type.String() })
export type ErrorContent = Static<typeof ErrorContent>

export type ObjectKind = 'device' | 'devicemodel'

/** `<ns>/device/<name>` or `<ns>/devicemodel/<name>` (MetaManager's resource layout). */
export function objectResource(kind: ObjectKind, namespace: string, name: string): string {
  return `${namespace}/${kind}/${name}`
}

export function parseObjectResource(resource: string): { kind: ObjectKind; namespace: string; name: string } | undefined {
  const parts = resource.split('/')
  if (parts.length !== 3) return undefined
  const [namespace, kind, name] = parts as [string, string, string]
  if ((kind !== 'device' && kind !== 'devicemodel') || namespace === '' || name === '') return undefined
  return { kind, namespace, name }
}

export const RESYNC_RESOURCE = 'devices'

/** `device/<ns>/<name>/twin/edge_updated` or `device/<ns>/<name>/state/update`. */
export function reportResource(kind: 'twin' | 'state', namespace: string, name: string): string {
  return `device/${namespace}/${name}/${kind === 'twin' ? 'twin/edge_updated' : 'state/update'}`
}

export function parseReportResource(resource: string): { kind: 'twin' | 'state'; namespace: string; name: string } | undefined {
  const match = /^device\/([^/]+)\/([^/]+)\/(twin\/edge_updated|state\/update)$/.exec(resource)
  if (match === null) return undefined
  return { kind: match[3] === 'state/update' ? 'state' : 'twin', namespace: match[1] as string, name: match[2] as string }
}

/** `node/<node>/<resource>` on the cloud side (CloudHub adds and strips the prefix). */
export function cloudResource(node: string, resource: string): string {
  return `node/${node}/${resource}`
}

export function message(route: Envelope['route'], content: unknown, header: Partial<Envelope['header']> = {}): Envelope {
  return { header: { msg_id: randomUUID(), timestamp: Date.now(), ...header }, route, content }
}

export function response(to: Envelope, source: string): Envelope {
  return message({ source, group: to.route.group, operation: Operations.response, resource: to.route.resource }, 'OK', { parent_msg_id: to.header.msg_id })
}

export function errorResponse(to: Envelope, source: string, error: ErrorContent): Envelope {
  return message({ source, group: to.route.group, operation: Operations.error, resource: to.route.resource }, error, { parent_msg_id: to.header.msg_id })
}

export function isAnswer(m: Envelope): boolean {
  return (m.route.operation === Operations.response || m.route.operation === Operations.error) && m.header.parent_msg_id !== undefined
}

export const KEEPALIVE_RESOURCE = 'node'

/**
 * KubeEdge EdgeHub's keepalive (kubeedge-compat.md §5.4): the edge sends `ping` every heartbeat;
 * tern's CloudHub answers `pong` so the edge sees traffic too. Never acknowledged.
 */
export function keepalive(content: 'ping' | 'pong'): Envelope {
  return message({ source: Sources.hub, group: 'resource', operation: Operations.keepalive, resource: KEEPALIVE_RESOURCE }, content)
}
