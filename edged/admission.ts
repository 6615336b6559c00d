/**
 * Edged's admission of new pods against its Node's spec, which the cloud sends down: a cordoned
 * node (`spec.unschedulable`, which a cluster turns into the taint
 * `node.kubernetes.io/unschedulable:NoSchedule`) and NoSchedule/NoExecute taints refuse pods that
 * do not tolerate them. Pods bound with `spec.nodeName` bypass the scheduler, so the node is the
 * only place this can be enforced. A refused pod is not run and reports phase Failed as the
 * kubelet's rejectPod does (reason `TaintToleration`, message "Pod was rejected: ..."); pods
 * already admitted keep running. Static pods are always admitted (a kubelet's are too).
 */
import type { Pod } from '../schemas/pod.js'
import type { NodeSpecUpdate, Taint } from '../schemas/pod-link.js'
import { fromApi } from './events.js'

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

/** The node's spec as last received, and the admission check against it (shared by the cloud link and edged). */
export class NodeAdmission {
  #spec: NodeSpecUpdate['spec'] | undefined

  set(spec: NodeSpecUpdate['spec'] | undefined): void {
    this.#spec = spec
  }

  get spec(): NodeSpecUpdate['spec'] | undefined {
    return this.#spec
  }

  check(pod: Pod): Rejection | undefined {
    return admit(pod, this.#spec)
  }
}
