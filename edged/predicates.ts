/**
 * The kubelet's predicate admit handler (kubernetes pkg/kubelet/lifecycle/predicate.go) for a pod
 * new to the node, weighed against the Node as the edge reports it and the pods edged has admitted
 * and not finished: first the pod's `kubernetes.io/os` label and `spec.os.name` against the node's
 * OS, then GeneralPredicates (pkg/scheduler AdmissionCheck) in their order — resources fit (one
 * more pod than allocatable `pods` allows; cpu, memory, ephemeral-storage requests beyond
 * allocatable minus what the admitted pods request), NodeAffinity (nodeSelector and required node
 * affinity against the Node's labels), NodeName, NodePorts (a hostPort an admitted pod holds). The
 * first that fails is the refusal, with the kubelet's reason and message.
 */
import type { Pod } from '../schemas/pod.js'
import { matchesNodeAffinity } from './node-affinity.js'
import { isQuantity, quantityValue } from './pod/quantity.js'
import { FIT_RESOURCES, isSidecar, noRequests, podRequests, resourceAmount } from './pod/requests.js'

export interface Verdict {
  reason: string
  /** without the "Pod was rejected: " of the status */
  message: string
}

/** The Node as admission sees it. */
export interface NodeView {
  name: string
  /** the Node's labels; undefined while the cloud has sent none (NodeAffinity is then not checked) */
  labels: Record<string, string> | undefined
  /** allocatable as the node status reports it; undefined before the node was first measured (only `pods` is checked, from `maxPods`) */
  allocatable: Record<string, string> | undefined
  /** the kubelet's maxPods: allowed pods while allocatable is not known */
  maxPods: number
}

/** The node's OS as Go names it (runtime.GOOS), what the kubelet compares with. */
export const NODE_OS = process.platform === 'win32' ? 'windows' : process.platform
const OS_LABEL = 'kubernetes.io/os'
const ANY_IP = '0.0.0.0'

const predicateFailed = (name: string, description: string): Verdict => ({ reason: name, message: `Predicate ${name} failed: ${description}` })

function outOf(resource: string, requested: bigint, used: bigint, capacity: bigint): Verdict {
  return { reason: `OutOf${resource}`, message: `Node didn't have enough resource: ${resource}, requested: ${requested}, used: ${used}, capacity: ${capacity}` }
}

/** noderesources.Fits: the first resource the pod does not fit in. */
function insufficientResource(pod: Pod, others: readonly Pod[], node: NodeView): Verdict | undefined {
  const podsText = node.allocatable?.pods
  const allowed = podsText !== undefined && isQuantity(podsText) ? quantityValue(podsText) : BigInt(node.maxPods)
  const count = BigInt(others.length)
  if (count + 1n > allowed) return outOf('pods', 1n, count, allowed)
  const allocatable = node.allocatable
  if (allocatable === undefined) return undefined
  const wanted = podRequests(pod)
  if (FIT_RESOURCES.every((name) => wanted[name] === 0n)) return undefined
  const used = noRequests()
  for (const other of others) {
    const requests = podRequests(other)
    for (const name of FIT_RESOURCES) used[name] += requests[name]
  }
  for (const name of FIT_RESOURCES) {
    // a resource the node does not report has none allocatable, as on a kubelet
    const text = allocatable[name]
    const capacity = text !== undefined && isQuantity(text) ? resourceAmount(name, text) : 0n
    if (wanted[name] > 0n && wanted[name] > capacity - used[name]) return outOf(name, wanted[name], used[name], capacity)
  }
  return undefined
}

interface HostPort {
  ip: string
  protocol: string
  port: number
}

/** The host ports a pod holds for its whole life (util.GetHostPorts: its containers' and its sidecars'). */
function hostPorts(pod: Pod): HostPort[] {
  const containers = [...(pod.spec.initContainers ?? []).filter(isSidecar), ...pod.spec.containers]
  return containers.flatMap((c) =>
    (c.ports ?? []).flatMap((p) => (p.hostPort === undefined || p.hostPort <= 0 ? [] : [{ ip: p.hostIP === undefined || p.hostIP === '' ? ANY_IP : p.hostIP, protocol: p.protocol ?? 'TCP', port: p.hostPort }])),
  )
}

/** HostPortInfo.CheckConflict: the same protocol and port on the same address, or on all addresses on either side. */
function portsConflict(wanted: HostPort[], others: readonly Pod[]): boolean {
  if (wanted.length === 0) return false
  const used = others.flatMap(hostPorts)
  return wanted.some((w) => used.some((u) => u.port === w.port && u.protocol === w.protocol && (w.ip === ANY_IP || u.ip === ANY_IP || u.ip === w.ip)))
}

/** Why `pod` may not be admitted beside `others` (the active pods) on `node`, or undefined when it may. */
export function generalPredicates(pod: Pod, others: readonly Pod[], node: NodeView): Verdict | undefined {
  const osLabel = pod.metadata.labels?.[OS_LABEL]
  if (osLabel !== undefined && osLabel !== NODE_OS) {
    return { reason: 'PodOSSelectorNodeLabelDoesNotMatch', message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label" }
  }
  const os = (pod.spec as { os?: { name?: string } }).os?.name
  if (os !== undefined && os !== NODE_OS) return { reason: 'PodOSNotSupported', message: "Failed to admit pod as the OS field doesn't match node OS" }
  const resource = insufficientResource(pod, others, node)
  if (resource !== undefined) return resource
  if (node.labels !== undefined && !matchesNodeAffinity(pod, { name: node.name, labels: node.labels })) return predicateFailed('NodeAffinity', "node(s) didn't match Pod's node affinity/selector")
  const nodeName = pod.spec.nodeName
  if (nodeName !== undefined && nodeName !== '' && nodeName !== node.name) return predicateFailed('NodeName', "node(s) didn't match the requested node name")
  if (portsConflict(hostPorts(pod), others)) return predicateFailed('NodePorts', "node(s) didn't have free ports for the requested pod ports")
  return undefined
}
