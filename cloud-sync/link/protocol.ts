/**
 * What both ends of the cloud–edge WebSocket agree on besides the envelope (kubeedge-compat.md
 * §5.4): the URL path `/<projectId>/<node>/events`, the `node_id` / `project_id` headers, node
 * name rules, and the close codes tern uses.
 */

/** KubeEdge's default project ID (cloudcore/edgecore `projectID`). */
export const DEFAULT_PROJECT_ID = 'e632aba927ea4ac2b575ec1603d56f10'

/**
 * Header names as KubeEdge's EdgeHub sends them (Node lowercases incoming names), and tern's
 * `tern-capabilities`: what of the protocol beyond KubeEdge's this edge takes (comma-separated
 * {@link Capabilities}). An edge that sends none (KubeEdge's, an older tern) is sent only what
 * every edge takes.
 */
export const Headers = { nodeId: 'node_id', projectId: 'project_id', authorization: 'authorization', capabilities: 'tern-capabilities' } as const

/** What an edge may announce in its `tern-capabilities` header. */
export const Capabilities = {
  /** a workload resync too large for one frame may come in parts (schemas/workloads.ts ResyncPart) */
  workloadResyncParts: 'workload-resync-parts',
} as const

/** What this tern edge announces. */
export const EDGE_CAPABILITIES: readonly string[] = [Capabilities.workloadResyncParts]

/** The capabilities a `tern-capabilities` header names (none when absent). */
export function parseCapabilities(header: string | string[] | undefined): Set<string> {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header]
  return new Set(values.flatMap((v) => v.split(',')).map((c) => c.trim()).filter((c) => c !== ''))
}

/** WebSocket close codes (RFC 6455 §7.4; 4000–4999 are for private use). */
export const CloseCodes = {
  /** the process is stopping */
  goingAway: 1001,
  /** another connection of the same node took the session over */
  replaced: 4000,
  /** nothing was received within the keepalive timeout */
  keepaliveTimeout: 4001,
  /** the certificate the node connected with expired (it reconnects with its renewed one) */
  credentialExpired: 4002,
  /** the node was revoked */
  revoked: 4003,
  /** the node renewed its certificate and reconnects with the new one */
  renewed: 4004,
} as const

/** 16 MiB: a whole node's device set in one resync fits; a runaway peer does not exhaust memory. */
export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const PROJECT_ID = /^[A-Za-z0-9][-A-Za-z0-9_.]{0,127}$/

/** A Kubernetes node name: a DNS-1123 subdomain of at most 253 characters. */
export function isNodeName(name: string): boolean {
  return name.length >= 1 && name.length <= 253 && DNS1123_SUBDOMAIN.test(name)
}

export function isProjectId(id: string): boolean {
  return PROJECT_ID.test(id)
}

export function eventsPath(projectId: string, node: string): string {
  return `/${encodeURIComponent(projectId)}/${encodeURIComponent(node)}/events`
}

/** The node's stream tunnel (cloud-sync/streams/): beside the session, with the same credentials. */
export function streamsPath(projectId: string, node: string): string {
  return `/${encodeURIComponent(projectId)}/${encodeURIComponent(node)}/streams`
}

/** The project ID, node and kind of an events or streams path, or a reason why it is neither. */
export function parseEventsPath(path: string): { ok: true; projectId: string; node: string; kind: 'events' | 'streams' } | { ok: false; reason: string } {
  const pathname = path.split('?', 1)[0] as string
  const parts = pathname.split('/')
  const kind = parts[3]
  if (parts.length !== 4 || parts[0] !== '' || (kind !== 'events' && kind !== 'streams')) return { ok: false, reason: 'path is not /<projectId>/<node>/events (or /streams)' }
  const [, projectId, node] = parts as [string, string, string, string]
  if (!isProjectId(projectId)) return { ok: false, reason: 'project ID is not valid' }
  if (!isNodeName(node)) return { ok: false, reason: 'node name is not a DNS-1123 subdomain of at most 253 characters' }
  return { ok: true, projectId, node, kind }
}
