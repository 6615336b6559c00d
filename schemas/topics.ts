/**
 * The DeviceTwin `$hw/events/...` topic map (kubeedge-compat.md §1.2, §1.4), declared once: builders,
 * subscription filters and an exact parser. Nothing else in tern concatenates `$hw/` strings.
 *
 * Two device-ID layouts exist on the wire (DESIGN §4):
 * - `name`:           `$hw/events/device/<name>/...`             (KubeEdge ≤ 1.16, legacy mappers)
 * - `namespace/name`: `$hw/events/device/<namespace>/<name>/...` (KubeEdge ≥ 1.17)
 * (the same names as `TopicLayout` in twin/device-set.ts and the node configuration)
 * The parser says which one a request used so its answer goes out on the same layout.
 *
 * Parsing matches the known suffix from the end of the topic and then requires exactly one or two
 * ID levels between the prefix and the suffix. No known suffix is a `/`-suffix of another, so at most
 * one suffix matches, and a namespace or name such as `e`, `hw`, `twin` or `update` cannot mis-parse
 * (KubeEdge finds the identity by substring search, defect §8.15).
 */
import type {
  DeviceAttrUpdate,
  DeviceStateResult,
  DeviceStateUpdate,
  DeviceTwinDelta,
  DeviceTwinDocument,
  DeviceTwinResult,
  DeviceTwinUpdate,
  ErrorResult,
  GetRequest,
  MembershipGetResult,
  MembershipUpdated,
} from './twin.js'

export const HW_DEVICE_PREFIX = '$hw/events/device/'
export const HW_NODE_PREFIX = '$hw/events/node/'
/** Apps' upload topics, forwarded to the cloud unchanged (§1.5.9). */
export const HW_UPLOAD_FILTER = '$hw/events/upload/#'

/** Suffixes after the device ID, with their direction as seen from the edge. */
export const DeviceTopicSuffixes = [
  'twin/update', // in: local deal
  'twin/update/result', // out
  'twin/update/document', // out
  'twin/update/delta', // out
  'twin/get', // in
  'twin/get/result', // out
  'twin/cloud_updated', // in: sync deal (platform-only, DESIGN §3)
  'state/update', // in
  'state/update/result', // out
  'updated', // out: attribute changes (in-path exists in KubeEdge but is not subscribed)
] as const
export type DeviceTopicSuffix = (typeof DeviceTopicSuffixes)[number]

/** Suffixes after the node name. */
export const NodeTopicSuffixes = ['membership/get', 'membership/get/result', 'membership/updated'] as const
export type NodeTopicSuffix = (typeof NodeTopicSuffixes)[number]

/** The device topics an edge subscribes to. */
export const DeviceInboundSuffixes = ['twin/update', 'twin/get', 'twin/cloud_updated', 'state/update'] as const satisfies readonly DeviceTopicSuffix[]
export type DeviceInboundSuffix = (typeof DeviceInboundSuffixes)[number]

/** Where the answer to a request goes (same device, same layout). */
export const DeviceReplySuffix = {
  'twin/update': 'twin/update/result',
  'twin/get': 'twin/get/result',
  'state/update': 'state/update/result',
} as const satisfies Partial<Record<DeviceTopicSuffix, DeviceTopicSuffix>>

export const NodeReplySuffix = { 'membership/get': 'membership/get/result' } as const satisfies Partial<
  Record<NodeTopicSuffix, NodeTopicSuffix>
>

/** Topic → payload type. Results may be an error `Result` instead. */
export interface DeviceTopicPayloads {
  'twin/update': DeviceTwinUpdate
  'twin/update/result': DeviceTwinResult | ErrorResult
  'twin/update/document': DeviceTwinDocument
  'twin/update/delta': DeviceTwinDelta
  'twin/get': GetRequest
  'twin/get/result': DeviceTwinResult | ErrorResult
  'twin/cloud_updated': DeviceTwinUpdate
  'state/update': DeviceStateUpdate
  'state/update/result': DeviceStateResult | ErrorResult
  updated: DeviceAttrUpdate
}

export interface NodeTopicPayloads {
  'membership/get': GetRequest
  'membership/get/result': MembershipGetResult | ErrorResult
  'membership/updated': MembershipUpdated
}

export type DeviceTopicLayout = 'name' | 'namespace/name'

/** A device as a topic names it. A `name`-layout topic carries no namespace; the caller resolves it. */
export type DeviceRef =
  | { readonly layout: 'name'; readonly name: string }
  | { readonly layout: 'namespace/name'; readonly namespace: string; readonly name: string }

export type ParsedTopic =
  | { readonly scope: 'device'; readonly suffix: DeviceTopicSuffix; readonly device: DeviceRef }
  | { readonly scope: 'node'; readonly suffix: NodeTopicSuffix; readonly node: string }

/** The reference to `namespace/name` in the given layout (edge-originated topics use the node's layout). */
export function deviceRef(layout: DeviceTopicLayout, namespace: string, name: string): DeviceRef {
  return layout === 'name' ? { layout, name } : { layout, namespace, name }
}

/** The device id as a topic writes it: `<name>` or `<namespace>/<name>`. */
export function deviceIdOf(device: DeviceRef): string {
  return device.layout === 'name' ? device.name : `${device.namespace}/${device.name}`
}

/** Reads `<name>` or `<namespace>/<name>` (e.g. a username standing for a device); undefined if it is neither. */
export function parseDeviceId(id: string): DeviceRef | undefined {
  const levels = id.split('/')
  if (!levels.every(isSegment)) return undefined
  if (levels.length === 1) return { layout: 'name', name: levels[0] as string }
  if (levels.length === 2) return { layout: 'namespace/name', namespace: levels[0] as string, name: levels[1] as string }
  return undefined
}

export function deviceTopic(device: DeviceRef, suffix: DeviceTopicSuffix): string {
  checkSegment(device.name, 'device name')
  if (device.layout === 'name') return `${HW_DEVICE_PREFIX}${device.name}/${suffix}`
  checkSegment(device.namespace, 'namespace')
  return `${HW_DEVICE_PREFIX}${device.namespace}/${device.name}/${suffix}`
}

export function nodeTopic(node: string, suffix: NodeTopicSuffix): string {
  checkSegment(node, 'node name')
  return `${HW_NODE_PREFIX}${node}/${suffix}`
}

/** MQTT filters matching `suffix` for every device in both layouts. */
export function deviceTopicFilters(suffix: DeviceTopicSuffix): readonly [name: string, namespaceName: string] {
  return [`${HW_DEVICE_PREFIX}+/${suffix}`, `${HW_DEVICE_PREFIX}+/+/${suffix}`]
}

/**
 * Where a mapper publishes its counters (retained): `$tern/mappers/<node>/<protocol>/metrics`.
 * tern's own topic, not KubeEdge's.
 */
export function mapperMetricsTopic(node: string, protocol: string): string {
  checkSegment(node, 'node name')
  checkSegment(protocol, 'protocol name')
  return `$tern/mappers/${node}/${protocol}/metrics`
}

/** MQTT filter matching every mapper's metrics topic of a node. */
export function mapperMetricsFilter(node: string): string {
  checkSegment(node, 'node name')
  return `$tern/mappers/${node}/+/metrics`
}

/**
 * Where the edge publishes the state of its cloud link (retained): `$tern/nodes/<node>/cloud`,
 * connected or not and, with a node certificate, when it expires. tern's own topic.
 */
export function cloudLinkStatusTopic(node: string): string {
  checkSegment(node, 'node name')
  return `$tern/nodes/${node}/cloud`
}

/** MQTT filter matching `suffix` for every node. */
export function nodeTopicFilter(suffix: NodeTopicSuffix): string {
  return `${HW_NODE_PREFIX}+/${suffix}`
}

/** Every filter an edge subscribes to for DeviceTwin requests. */
export function inboundTopicFilters(): string[] {
  return [...DeviceInboundSuffixes.flatMap((s) => deviceTopicFilters(s)), nodeTopicFilter('membership/get')]
}

const deviceSuffixesLongestFirst = [...DeviceTopicSuffixes].sort((a, b) => b.length - a.length)
const nodeSuffixesLongestFirst = [...NodeTopicSuffixes].sort((a, b) => b.length - a.length)

/** Parses a concrete topic; `undefined` for anything that is not exactly a known DeviceTwin topic. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (topic.startsWith(HW_DEVICE_PREFIX)) return parseDeviceTopic(topic.slice(HW_DEVICE_PREFIX.length))
  if (topic.startsWith(HW_NODE_PREFIX)) return parseNodeTopic(topic.slice(HW_NODE_PREFIX.length))
  return undefined
}

function parseDeviceTopic(rest: string): ParsedTopic | undefined {
  for (const suffix of deviceSuffixesLongestFirst) {
    const id = idBefore(rest, suffix)
    if (id === undefined) continue
    const device = parseDeviceId(id)
    return device === undefined ? undefined : { scope: 'device', suffix, device }
  }
  return undefined
}

function parseNodeTopic(rest: string): ParsedTopic | undefined {
  for (const suffix of nodeSuffixesLongestFirst) {
    const node = idBefore(rest, suffix)
    if (node === undefined) continue
    return isSegment(node) ? { scope: 'node', suffix, node } : undefined
  }
  return undefined
}

/** `rest` = `<id>/<suffix>` → `<id>`; undefined when `rest` does not end with `/<suffix>`. */
function idBefore(rest: string, suffix: string): string | undefined {
  const tail = `/${suffix}`
  return rest.endsWith(tail) ? rest.slice(0, rest.length - tail.length) : undefined
}

/** One non-empty topic level that is not, and does not contain, an MQTT wildcard. */
function isSegment(s: string): boolean {
  return s.length > 0 && !s.includes('/') && !s.includes('+') && !s.includes('#') && !s.includes('\u0000')
}

function checkSegment(s: string, what: string): void {
  if (!isSegment(s)) throw new TypeError(`${what} ${JSON.stringify(s)} cannot be a single MQTT topic level`)
}
