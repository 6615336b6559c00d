/**
 * Edged's admission of new pods against its Node, as the kubelet's admit handlers do: the
 * kubelet's predicates (predicates.ts: OS, resources fit against the allocatable the node reports
 * and the pods already admitted, NodeAffinity against the labels the cloud sends down, NodeName,
 * NodePorts), then the Node's spec, which the cloud sends down too: a cordoned node
 * (`spec.unschedulable`, which a cluster turns into the taint
 * `node.kubernetes.io/unschedulable:NoSchedule`) and NoSchedule/NoExecute taints refuse pods that
 * do not tolerate them. Pods bound with `spec.nodeName` bypass the scheduler, so the node is the
 * only place this can be enforced. A refused pod is not run and reports phase Failed as the
 * kubelet's rejectPod does (reason such as `OutOfpods` or `TaintToleration`, message "Pod was
 * rejected: ..."); pods already admitted keep running. Static pods are always admitted: a kubelet
 * would make room for one by evicting others, and edged never displaces a running pod.
 */
import type { Pod } from '../schemas/pod.js'
import type { NodeSpecUpdate, Taint } from '../schemas/pod-link.js'
import { fromApi } from './events.js'
import { generalPredicates } from './predicates.js'

export const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }
export const REJECTED_PREFIX = 'Pod was rejected: '

export interface Rejection {
  reason: string
  message: string
}

interface Toleration {
  key?: string
  operator?: 'Exists' | 'Equal'
  value?: string
  effect?: string
}

/** core/v1 Toleration.ToleratesTaint. */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== '' && toleration.effect !== taint.effect) return false
  if (toleration.key !== undefined && toleration.key !== '' && toleration.key !== taint.key) return false
  if (toleration.operator === 'Exists') return true
  return (toleration.value ?? '') === (taint.value ?? '')
}

/** The node's taints that keep new pods off it (the cordon's among them). */
export function blockingTaints(spec: NodeSpecUpdate['spec'] | undefined): Taint[] {
  const taints = (spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
  if (spec?.unschedulable === true && !taints.some((t) => t.key === UNSCHEDULABLE_TAINT.key)) taints.push(UNSCHEDULABLE_TAINT)
  return taints
}

/** Why a new pod may not run on a node of this spec, or undefined when it may. */
export function admit(pod: Pod, spec: NodeSpecUpdate['spec'] | undefined): Rejection | undefined {
  if (!fromApi(pod)) return undefined
  const tolerations = ((pod.spec as { tolerations?: unknown }).tolerations ?? []) as Toleration[]
  const untolerated = blockingTaints(spec).find((taint) => !tolerations.some((t) => tolerates(t, taint)))
  if (untolerated === undefined) return undefined
  return { reason: 'TaintToleration', message: `${REJECTED_PREFIX}Predicate TaintToleration failed: node(s) had untolerated taint {${untolerated.key}: ${untolerated.value ?? ''}}` }
}

/**
 * The Node as last received and measured, and the admission check against it (shared by the
 * cloud link, which sets the spec and labels, the node status reporter, which sets allocatable,
 * and edged, which checks).
 */
export class NodeAdmission {
  #spec: NodeSpecUpdate['spec'] | undefined
  readonly #name: string
  readonly #maxPods: number
  /** the Node's labels as the cloud last sent them; undefined: none received (node affinity unchecked) */
  labels: Record<string, string> | undefined
  /** allocatable as the node status last reported it; undefined before the first measurement */
  allocatable: Record<string, string> | undefined

  /** `maxPods`: the pods allowed while allocatable is not known (node.status.maxPods, what it will report). */
  constructor(node: { name: string; maxPods: number }) {
    this.#name = node.name
    this.#maxPods = node.maxPods
  }

  set(spec: NodeSpecUpdate['spec'] | undefined): void {
    this.#spec = spec
  }

  get spec(): NodeSpecUpdate['spec'] | undefined {
    return this.#spec
  }

  /** Why `pod` may not run beside `active` (the pods admitted and not finished), or undefined when it may. */
  check(pod: Pod, active: readonly Pod[] = []): Rejection | undefined {
    if (!fromApi(pod)) return undefined
    const verdict = generalPredicates(pod, active, { name: this.#name, labels: this.labels, allocatable: this.allocatable, maxPods: this.#maxPods })
    if (verdict !== undefined) return { reason: verdict.reason, message: `${REJECTED_PREFIX}${verdict.message}` }
    return admit(pod, this.#spec)
  }
}
