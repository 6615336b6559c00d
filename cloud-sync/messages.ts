/**
 * The cloud–edge message layer: KubeEdge's envelope (kubeedge-compat.md §5.1) and the messages
 * tern's CloudHub and EdgeHub exchange, declared in schemas/cloud-link.ts. Resources are written
 * as the edge sees them (§5.2): CloudHub keeps one session per node and the controllers take the
 * node from the session, so KubeEdge's cloud-internal `node/<node>/` prefix ({@link cloudResource})
 * never crosses the wire.
 *
 * Downstream (cloud → edge), each acknowledged by the edge after it has been applied durably:
 * - `resync`  resource `devices`, content {@link NodeDeviceSet}: the node's whole device set,
 *   sent first on every connect (level-triggered); the edge adds, updates and removes to match.
 * - `update` / `delete` of `<ns>/device/<name>` and `<ns>/devicemodel/<name>`: incremental watch
 *   changes after the resync; content is the whole object (update) or its metadata (delete),
 *   `header.resourceversion` its resourceVersion.
 * - `resync` resource `pods`, content {@link NodeWorkloadSet}: the pods bound to the node and the
 *   ConfigMaps and Secrets they reference, after the devices' resync was answered; then `update` /
 *   `delete` of `<ns>/pod/<name>`, `<ns>/configmap/<name>`, `<ns>/secret/<name>` as for devices.
 *   An edge that refuses some objects of the resync applies the others and answers it with
 *   {@link WorkloadResyncAnswer} (an edge that answers `"OK"` took them all). A set too large for
 *   one frame goes in parts (`part`) to an edge that announced `workload-resync-parts`
 *   (link/protocol.ts): it holds each part, answered `"OK"`, and applies them all with the last.
 *
 * Upstream (edge → cloud), each acknowledged by the cloud once written to `Device.status`:
 * - `update` of `device/<ns>/<name>/twin/edge_updated`, content {@link TwinReport}: the current
 *   twins of the properties that changed (coalesced: one message per device in flight).
 * - `update` of `device/<ns>/<name>/state/update`, content {@link StateReport}.
 * - `update` of `default/nodestatus/<node>` (KubeEdge edged's resource), content
 *   {@link NodeStatusReport}: the node's own status, acknowledged once written to its `Node`.
 * - `delete` of `<ns>/pod/<name>`, content {@link PodDeleted}: the edge finished the graceful
 *   termination of a pod being deleted; the cloud deletes it with grace 0 (the kubelet's final delete).
 *
 * Not acknowledged: responses themselves (`operation: response`, `parent_msg_id` = the message
 * answered, content `"OK"`, or `operation: error` with a {@link ErrorContent}) and keepalives.
 */
import { randomUUID } from 'node:crypto'
import type { DeletedObject, Envelope, ErrorContent, NodeDeviceSet, StateReport, TwinReport } from '../schemas/cloud-link.js'
import type { NodeStatusReport } from '../schemas/node-status.js'
import type { NodeWorkloadSet, PodDeleted } from '../schemas/workloads.js'
import { DeletedObject as deletedObjectCheck } from '../schemas/generated/validators/DeletedObject.js'
import { Envelope as envelopeCheck } from '../schemas/generated/validators/Envelope.js'
import { NodeDeviceSet as nodeDeviceSetCheck } from '../schemas/generated/validators/NodeDeviceSet.js'
import { NodeStatusReport as nodeStatusReportCheck } from '../schemas/generated/validators/NodeStatusReport.js'
import { NodeWorkloadSet as nodeWorkloadSetCheck } from '../schemas/generated/validators/NodeWorkloadSet.js'
import { PodDeleted as podDeletedCheck } from '../schemas/generated/validators/PodDeleted.js'
import { StateReport as stateReportCheck } from '../schemas/generated/validators/StateReport.js'
import { TwinReport as twinReportCheck } from '../schemas/generated/validators/TwinReport.js'
import { validator } from '../schemas/validate.js'

export type { DeletedObject, Envelope, ErrorContent, NodeDeviceSet, NodeStatusReport, NodeWorkloadSet, PodDeleted, StateReport, TwinReport }

export const validateEnvelope = validator(envelopeCheck)
export const validateNodeDeviceSet = validator(nodeDeviceSetCheck)
export const validateDeletedObject = validator(deletedObjectCheck)
export const validateTwinReport = validator(twinReportCheck)
export const validateStateReport = validator(stateReportCheck)
export const validateNodeStatusReport = validator(nodeStatusReportCheck)
export const validateNodeWorkloadSet = validator(nodeWorkloadSetCheck)
export const validatePodDeleted = validator(podDeletedCheck)

export const Operations = {
  resync: 'resync',
  update: 'update',
  delete: 'delete',
  response: 'response',
  error: 'error',
  keepalive: 'keepalive',
} as const

export const Sources = { cloud: 'devicecontroller', edge: 'twin', hub: 'websocket' } as const

export type ObjectKind = 'device' | 'devicemodel'

/** `<ns>/device/<name>` or `<ns>/devicemodel/<name>` (MetaManager's resource layout). */
export function objectResource(kind: ObjectKind, namespace: string, name: string): string {
  return `${namespace}/${kind}/${name}`
}

/** `<ns>/<kind>/<name>` with one of `kinds`, or undefined. */
function parseResource<K extends string>(resource: string, kinds: readonly K[]): { kind: K; namespace: string; name: string } | undefined {
  const parts = resource.split('/')
  if (parts.length !== 3) return undefined
  const [namespace, kind, name] = parts as [string, K, string]
  if (!kinds.includes(kind) || namespace === '' || name === '') return undefined
  return { kind, namespace, name }
}

export function parseObjectResource(resource: string): { kind: ObjectKind; namespace: string; name: string } | undefined {
  return parseResource<ObjectKind>(resource, ['device', 'devicemodel'])
}

export const RESYNC_RESOURCE = 'devices'

/** The workload objects sent down after the devices: pods bound to the node and what they reference. */
export type WorkloadKind = 'pod' | 'configmap' | 'secret'

/** `route.resource` of the workload resync (content {@link NodeWorkloadSet}). */
export const WORKLOAD_RESYNC_RESOURCE = 'pods'

/** `<ns>/pod/<name>`, `<ns>/configmap/<name>` or `<ns>/secret/<name>` (MetaManager's layout). */
export function workloadResource(kind: WorkloadKind, namespace: string, name: string): string {
  return `${namespace}/${kind}/${name}`
}

export function parseWorkloadResource(resource: string): { kind: WorkloadKind; namespace: string; name: string } | undefined {
  return parseResource<WorkloadKind>(resource, ['pod', 'configmap', 'secret'])
}

/** `device/<ns>/<name>/twin/edge_updated` or `device/<ns>/<name>/state/update`. */
export function reportResource(kind: 'twin' | 'state', namespace: string, name: string): string {
  return `device/${namespace}/${name}/${kind === 'twin' ? 'twin/edge_updated' : 'state/update'}`
}

export function parseReportResource(resource: string): { kind: 'twin' | 'state'; namespace: string; name: string } | undefined {
  const match = /^device\/([^/]+)\/([^/]+)\/(twin\/edge_updated|state\/update)$/.exec(resource)
  if (match === null) return undefined
  return { kind: match[3] === 'state/update' ? 'state' : 'twin', namespace: match[1] as string, name: match[2] as string }
}

/** `default/nodestatus/<node>`: KubeEdge edged's node status resource (MetaManager's `<ns>/<type>/<name>`). */
export function nodeStatusResource(node: string): string {
  return `default/nodestatus/${node}`
}

/** The node a `default/nodestatus/<node>` resource names, or undefined for another resource. */
export function parseNodeStatusResource(resource: string): string | undefined {
  const match = /^default\/nodestatus\/([^/]+)$/.exec(resource)
  return match === null ? undefined : match[1]
}

/** Group and source of node status reports (KubeEdge: edged reports through MetaManager, group `meta`). */
export const NODE_STATUS_ROUTE = { source: 'edged', group: 'meta' } as const

/** `node/<node>/<resource>` on the cloud side (CloudHub adds and strips the prefix). */
export function cloudResource(node: string, resource: string): string {
  return `node/${node}/${resource}`
}

export function message(route: Envelope['route'], content: unknown, header: Partial<Envelope['header']> = {}): Envelope {
  return { header: { msg_id: randomUUID(), timestamp: Date.now(), ...header }, route, content }
}

/** An object of a workload resync the edge refused, as an error answer to its `update` would say it. */
export interface ResyncRefusal extends ErrorContent {
  resource: string
  /** the edge kept the version of the object it held before (for a pod: of the same uid) */
  held: boolean
}

/** The edge's answer to a workload resync of which it refused some objects (and applied the others). */
export interface WorkloadResyncAnswer {
  refused: ResyncRefusal[]
}

/** The refusals of a resync's answer, read defensively (an older edge answers "OK", another anything). */
export function resyncRefusals(content: unknown): ResyncRefusal[] {
  const refused = (content as { refused?: unknown } | null)?.refused
  if (!Array.isArray(refused)) return []
  return refused.flatMap((r: unknown) => {
    const { resource, code, reason, held } = (r ?? {}) as Record<string, unknown>
    return typeof resource === 'string' && typeof code === 'string' ? [{ resource, code, reason: typeof reason === 'string' ? reason : '', held: held === true }] : []
  })
}

export function response(to: Envelope, source: string, content: unknown = 'OK'): Envelope {
  return message({ source, group: to.route.group, operation: Operations.response, resource: to.route.resource }, content, { parent_msg_id: to.header.msg_id })
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
