/**
 * The built-in resource types a kubelet-side controller uses (core/v1 Nodes, Pods, ConfigMaps,
 * Events; coordination.k8s.io/v1 Leases), with what their API server strategies do that clients
 * can see: the table columns of the server's printers, the field selectors they register, the pod
 * defaults on create and graceful deletion of pods. References: kubernetes pkg/registry/core/pod
 * (strategy.go: CheckGracefulDelete, field label conversion), pkg/apis/core/v1/defaults.go,
 * pkg/printers/internalversion/printers.go.
 */
import type { Json } from './patch.js'
import { nodeAddress, nodeInfo, nodeRoles, nodeStatus, podIp, podNode, podReady, podRestarts, podStatus } from './printers.js'
import { age, type ResourceType } from './registry.js'
import type { StatusCause } from './status.js'
import type { KubeObject } from './store.js'

type Rec = Record<string, Json>

function rec(value: Json | undefined): Rec | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined
}

const text = (value: Json | undefined): string => (typeof value === 'string' ? value : '')

const core = { group: '', version: 'v1', categories: [] as string[], builtin: true }

export const NODES: ResourceType = {
  ...core,
  plural: 'nodes',
  singular: 'node',
  kind: 'Node',
  listKind: 'NodeList',
  namespaced: false,
  statusSubresource: true,
  shortNames: ['no'],
  fields: ['spec.unschedulable'],
  // core/v1 NodeStatus: patchStrategy=merge, patchMergeKey=type (addresses too, which the kubelet works around with $patch: replace)
  mergeKeys: { 'status.conditions': 'type', 'status.addresses': 'type' },
  columns: [
    { name: 'Status', type: 'string', jsonPath: '', value: nodeStatus },
    { name: 'Roles', type: 'string', jsonPath: '', value: nodeRoles },
    age,
    { name: 'Version', type: 'string', jsonPath: '.status.nodeInfo.kubeletVersion' },
    { name: 'Internal-IP', type: 'string', jsonPath: '', priority: 1, value: (n) => nodeAddress(n, 'InternalIP') },
    { name: 'External-IP', type: 'string', jsonPath: '', priority: 1, value: (n) => nodeAddress(n, 'ExternalIP') },
    { name: 'OS-Image', type: 'string', jsonPath: '', priority: 1, value: (n) => nodeInfo(n, 'osImage') },
    { name: 'Kernel-Version', type: 'string', jsonPath: '', priority: 1, value: (n) => nodeInfo(n, 'kernelVersion') },
    { name: 'Container-Runtime', type: 'string', jsonPath: '', priority: 1, value: (n) => nodeInfo(n, 'containerRuntimeVersion') },
  ],
}

/** The API server's pod defaults that clients (and edged) see (SetDefaults_PodSpec, SetDefaults_Container). */
function podDefaults(pod: KubeObject): StatusCause[] {
  const spec = rec(pod.spec)
  const containers = Array.isArray(spec?.containers) ? spec.containers : []
  if (spec === undefined || containers.length === 0) return [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' }]
  const causes: StatusCause[] = []
  spec.restartPolicy ??= 'Always'
  spec.terminationGracePeriodSeconds ??= 30
  spec.dnsPolicy ??= 'ClusterFirst'
  spec.schedulerName ??= 'default-scheduler'
  const all = [...containers, ...(Array.isArray(spec.initContainers) ? spec.initContainers : [])]
  all.forEach((c, i) => {
    const container = rec(c)
    const image = typeof container?.image === 'string' ? container.image : ''
    if (container === undefined || typeof container.name !== 'string' || container.name === '') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `spec.containers[${i}].name` })
    if (container === undefined || image === '') {
      causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `spec.containers[${i}].image` })
      return
    }
    // `:latest` or no tag (and no digest) → Always, else IfNotPresent
    const tag = /@/.test(image) ? 'digest' : (/:([^/:]+)$/.exec(image)?.[1] ?? 'latest')
    container.imagePullPolicy ??= tag === 'latest' ? 'Always' : 'IfNotPresent'
    container.terminationMessagePath ??= '/dev/termination-log'
    container.terminationMessagePolicy ??= 'File'
  })
  // The status a new pod has before any scheduler or kubelet touched it.
  pod.status = { phase: 'Pending', qosClass: 'BestEffort' }
  return causes
}

/**
 * CheckGracefulDelete of the pod strategy: the requested grace period, else the pod's
 * terminationGracePeriodSeconds (default 30); 0 (delete now) for a pod no node runs
 * (no spec.nodeName) and for a pod that has finished (phase Succeeded or Failed).
 */
function podGracePeriod(pod: KubeObject, requested: number | undefined): number {
  const spec = rec(pod.spec)
  const phase = rec(pod.status)?.phase
  if (typeof spec?.nodeName !== 'string' || spec.nodeName === '' || phase === 'Succeeded' || phase === 'Failed') return 0
  if (requested !== undefined && requested >= 0) return requested
  return typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30
}

export const PODS: ResourceType = {
  ...core,
  plural: 'pods',
  singular: 'pod',
  kind: 'Pod',
  listKind: 'PodList',
  namespaced: true,
  statusSubresource: true,
  shortNames: ['po'],
  categories: ['all'],
  fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  // core/v1 PodStatus: conditions by type, podIPs and hostIPs by ip
  mergeKeys: { 'status.conditions': 'type', 'status.podIPs': 'ip', 'status.hostIPs': 'ip' },
  prepareCreate: podDefaults,
  gracePeriod: podGracePeriod,
  columns: [
    { name: 'Ready', type: 'string', jsonPath: '', value: podReady },
    { name: 'Status', type: 'string', jsonPath: '', value: podStatus },
    { name: 'Restarts', type: 'string', jsonPath: '', value: (p) => String(podRestarts(p)) },
    age,
    { name: 'IP', type: 'string', jsonPath: '', priority: 1, value: podIp },
    { name: 'Node', type: 'string', jsonPath: '', priority: 1, value: podNode },
    { name: 'Nominated Node', type: 'string', jsonPath: '', priority: 1, value: () => '<none>' },
    { name: 'Readiness Gates', type: 'string', jsonPath: '', priority: 1, value: () => '<none>' },
  ],
}

export const CONFIGMAPS: ResourceType = {
  ...core,
  plural: 'configmaps',
  singular: 'configmap',
  kind: 'ConfigMap',
  listKind: 'ConfigMapList',
  namespaced: true,
  statusSubresource: false,
  shortNames: ['cm'],
  columns: [{ name: 'Data', type: 'integer', jsonPath: '', value: (c) => Object.keys(rec(c.data) ?? {}).length + Object.keys(rec(c.binaryData) ?? {}).length }, age],
}

export const EVENTS: ResourceType = {
  ...core,
  plural: 'events',
  singular: 'event',
  kind: 'Event',
  listKind: 'EventList',
  namespaced: true,
  statusSubresource: false,
  shortNames: ['ev'],
  fields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  columns: [
    { name: 'Last Seen', type: 'date', jsonPath: '.lastTimestamp' },
    { name: 'Type', type: 'string', jsonPath: '.type' },
    { name: 'Reason', type: 'string', jsonPath: '.reason' },
    { name: 'Object', type: 'string', jsonPath: '', value: (e) => `${text(rec(e.involvedObject)?.kind).toLowerCase()}/${text(rec(e.involvedObject)?.name)}` },
    { name: 'Message', type: 'string', jsonPath: '.message' },
  ],
}

export const LEASES: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  singular: 'lease',
  kind: 'Lease',
  listKind: 'LeaseList',
  namespaced: true,
  statusSubresource: false,
  shortNames: [],
  categories: [],
  builtin: true,
  columns: [{ name: 'Holder', type: 'string', jsonPath: '.spec.holderIdentity' }, age],
}
