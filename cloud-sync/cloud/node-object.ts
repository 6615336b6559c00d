/**
 * Pure logic of the node controller: the labels of an edge node's `Node`, the status patch built
 * from the node's report (condition times kept by the cloud: lastHeartbeatTime = when written,
 * lastTransitionTime moves only when a condition's status changes, as the kubelet's setters do
 * against the Node they read), the patch that marks a silent node Unknown (the node lifecycle
 * controller's: every condition Unknown, reason NodeStatusUnknown), and its Lease.
 */
import type { NodeStatusReport } from '../../schemas/node-status.js'
import { NODE_CONDITIONS } from '../../schemas/node-status.js'
import { replacingList } from './replace-list.js'

export const EDGE_ROLE_LABEL = 'node-role.kubernetes.io/edge'

export interface NodeCondition {
  type: string
  status: string
  reason?: string
  message?: string
  lastHeartbeatTime?: string
  lastTransitionTime?: string
}

export interface NodeAddress {
  type: string
  address: string
}

/** The fields of a Node (as the API server or client-node returns it) the controller reads. */
export interface NodeView {
  uid: string | undefined
  labels: Record<string, string>
  conditions: NodeCondition[]
  addresses: NodeAddress[]
}

/** RFC 3339 with seconds (metav1.Time). */
export function time(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** RFC 3339 with six fractional digits (metav1.MicroTime, a Lease's renewTime). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z')
}

/** A time field as JSON: client-node gives Dates, the raw API strings. */
function timeText(value: unknown): string | undefined {
  if (value instanceof Date) return time(value.getTime())
  return typeof value === 'string' ? value : undefined
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}

export function viewOf(node: unknown): NodeView {
  const meta = record(record(node).metadata)
  const labels = Object.fromEntries(Object.entries(record(meta.labels)).filter((e): e is [string, string] => typeof e[1] === 'string'))
  const raw = record(record(node).status).conditions
  const conditions = (Array.isArray(raw) ? raw : []).map(record).map((c) => {
    const heartbeat = timeText(c.lastHeartbeatTime)
    const transition = timeText(c.lastTransitionTime)
    return {
      type: String(c.type),
      status: String(c.status),
      ...(typeof c.reason === 'string' ? { reason: c.reason } : {}),
      ...(typeof c.message === 'string' ? { message: c.message } : {}),
      ...(heartbeat === undefined ? {} : { lastHeartbeatTime: heartbeat }),
      ...(transition === undefined ? {} : { lastTransitionTime: transition }),
    }
  })
  const listed = record(record(node).status).addresses
  const addresses = (Array.isArray(listed) ? listed : []).map(record).map((a) => ({ type: String(a.type), address: String(a.address) }))
  return { uid: typeof meta.uid === 'string' ? meta.uid : undefined, labels, conditions, addresses }
}

export function resourceVersionOf(object: unknown): string | undefined {
  const rv = record(record(object).metadata).resourceVersion
  return typeof rv === 'string' ? rv : undefined
}

/** The labels tern keeps on an edge node's Node (kubelet's well-known labels, KubeEdge's role). */
export function nodeLabels(node: string, report: NodeStatusReport | undefined): Record<string, string> {
  const labels: Record<string, string> = { [EDGE_ROLE_LABEL]: '', 'kubernetes.io/hostname': node }
  if (report !== undefined && report.nodeInfo.architecture !== '') labels['kubernetes.io/arch'] = report.nodeInfo.architecture
  if (report !== undefined && report.nodeInfo.operatingSystem !== '') labels['kubernetes.io/os'] = report.nodeInfo.operatingSystem
  return labels
}

/** A merge patch that sets `wanted` over `current` labels, or undefined when they already hold. */
export function labelPatch(current: Record<string, string>, wanted: Record<string, string>): { metadata: { labels: Record<string, string> } } | undefined {
  const changed = Object.entries(wanted).filter(([key, value]) => current[key] !== value)
  return changed.length === 0 ? undefined : { metadata: { labels: Object.fromEntries(changed) } }
}

export function newNode(node: string, labels: Record<string, string>): object {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels } }
}

function transitionOf(previous: readonly NodeCondition[], type: string, status: string, now: string): string {
  const before = previous.find((c) => c.type === type)
  return before !== undefined && before.status === status && before.lastTransitionTime !== undefined ? before.lastTransitionTime : now
}

/**
 * Where the API server reaches "the kubelet" of every edge node: tern cloud's stream endpoint
 * (cloud-sync/streams/). `address`, when set, replaces the node's InternalIP.
 */
export interface KubeletEndpoint {
  address?: string
  port: number
}

/**
 * The strategic merge patch of `nodes/<name>/status` for a report received at `nowMs`, over the
 * Node as last seen (`previous`: its conditions' times; its addresses, which the patch replaces
 * exactly: an address the node no longer reports leaves the Node).
 */
export function statusPatch(report: NodeStatusReport, previous: Pick<NodeView, 'conditions' | 'addresses'> | undefined, nowMs: number, endpoint?: KubeletEndpoint): object {
  const now = time(nowMs)
  const conditions = report.conditions.map((c) => ({ ...c, lastHeartbeatTime: now, lastTransitionTime: transitionOf(previous?.conditions ?? [], c.type, c.status, now) }))
  const address = endpoint?.address
  const addresses = address === undefined ? report.addresses : [{ type: 'InternalIP', address }, ...report.addresses.filter((a) => a.type !== 'InternalIP')]
  const daemonEndpoints = endpoint === undefined ? {} : { daemonEndpoints: { kubeletEndpoint: { Port: endpoint.port } } }
  return { status: { capacity: report.capacity, allocatable: report.allocatable, conditions, addresses: replacingList(previous?.addresses, addresses), nodeInfo: report.nodeInfo, ...daemonEndpoints } }
}

/**
 * What the node lifecycle controller writes for a node that stopped posting status: every
 * condition Unknown (NodeStatusUnknown), heartbeats left as they were. Undefined when Ready is
 * Unknown already.
 */
export function unknownPatch(previous: readonly NodeCondition[], nowMs: number): object | undefined {
  if (previous.find((c) => c.type === 'Ready')?.status === 'Unknown') return undefined
  const now = time(nowMs)
  const conditions = NODE_CONDITIONS.map((type) => {
    const before = previous.find((c) => c.type === type)
    return {
      type,
      status: 'Unknown',
      reason: 'NodeStatusUnknown',
      message: 'Kubelet stopped posting node status.',
      ...(before?.lastHeartbeatTime === undefined ? {} : { lastHeartbeatTime: before.lastHeartbeatTime }),
      lastTransitionTime: now,
    }
  })
  return { status: { conditions } }
}

/** The node's Lease, renewed at `nowMs` (owned by its Node, as the kubelet sets it). */
export function leaseBody(node: string, nodeUid: string | undefined, durationSeconds: number, nowMs: number, resourceVersion?: string): object {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: node,
      namespace: 'kube-node-lease',
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
      ...(nodeUid === undefined ? {} : { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }] }),
    },
    spec: { holderIdentity: node, leaseDurationSeconds: durationSeconds, renewTime: microTime(nowMs) },
  }
}

/** A Lease's renewTime in ms since the epoch, or undefined. */
export function renewTimeOf(lease: unknown): number | undefined {
  const value = record(record(lease).spec).renewTime
  const text = timeText(value)
  const ms = text === undefined ? NaN : Date.parse(text)
  return Number.isNaN(ms) ? undefined : ms
}
