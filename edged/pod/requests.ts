/**
 * A pod's resource requests as the scheduler and the kubelet's admission count them
 * (k8s.io/component-helpers resource.PodRequests): the containers' requests are summed, since
 * they run together; init containers run one at a time, so each counts as a maximum, except a
 * restartable one (a sidecar, `restartPolicy: Always`), which keeps running beside everything
 * after it and is added; then the pod's `overhead`. A request left out where a limit is given is
 * the limit, as the API server defaults it. Only what a node's admission weighs: cpu in millicores,
 * memory and ephemeral-storage in bytes (the node reports no extended resource, and the kubelet
 * ignores requests of extended resources its node does not have).
 */
import type { Container, Pod } from '../../schemas/pod.js'
import { isQuantity, quantityMilli, quantityValue } from './quantity.js'

export const FIT_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'] as const
export type FitResource = (typeof FIT_RESOURCES)[number]
export type Requests = Record<FitResource, bigint>

type ResourceList = Record<string, string | number> | undefined

export const noRequests = (): Requests => ({ cpu: 0n, memory: 0n, 'ephemeral-storage': 0n })

/** A quantity in the unit admission compares: millicores for cpu, else whole units (bytes). */
export function resourceAmount(name: FitResource, q: string | number): bigint {
  return name === 'cpu' ? quantityMilli(q) : quantityValue(q)
}

function fromList(list: ResourceList, fallback?: ResourceList): Requests {
  const out = noRequests()
  for (const name of FIT_RESOURCES) {
    const q = list?.[name] ?? fallback?.[name]
    if (q !== undefined && isQuantity(q)) out[name] = resourceAmount(name, q)
  }
  return out
}

function add(into: Requests, more: Requests): void {
  for (const name of FIT_RESOURCES) into[name] += more[name]
}

function raiseTo(into: Requests, other: Requests): void {
  for (const name of FIT_RESOURCES) if (other[name] > into[name]) into[name] = other[name]
}

const containerRequests = (c: Container): Requests => fromList(c.resources?.requests, c.resources?.limits)

/** A restartable init container (a sidecar) runs for the pod's whole life. */
export function isSidecar(c: Container): boolean {
  return (c as { restartPolicy?: string }).restartPolicy === 'Always'
}

/**
 * Computed once per pod object: admission weighs every new pod against all the admitted ones,
 * whose specs do not change (a new version of a pod is a new object).
 */
const computed = new WeakMap<Pod, Readonly<Requests>>()

export function podRequests(pod: Pod): Readonly<Requests> {
  let requests = computed.get(pod)
  if (requests === undefined) computed.set(pod, (requests = compute(pod)))
  return requests
}

function compute(pod: Pod): Requests {
  const total = noRequests()
  for (const c of pod.spec.containers) add(total, containerRequests(c))
  const sidecars = noRequests()
  const init = noRequests()
  for (const c of pod.spec.initContainers ?? []) {
    const own = containerRequests(c)
    if (isSidecar(c)) {
      add(total, own)
      add(sidecars, own)
      raiseTo(init, sidecars)
    } else {
      // while it runs, the sidecars started before it run too
      add(own, sidecars)
      raiseTo(init, own)
    }
  }
  raiseTo(total, init)
  add(total, fromList((pod.spec as { overhead?: ResourceList }).overhead))
  return total
}
