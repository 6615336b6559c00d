/**
 * A pod's QoS class as the API server and kubelet compute it (pkg/apis/core/helper/qos GetPodQOS):
 * from the cpu and memory requests and limits of all its containers, init containers included.
 */
import type { Container, Pod } from '../../schemas/pod.js'
import { compareQuantities, isQuantity } from './quantity.js'

export type QOSClass = 'Guaranteed' | 'Burstable' | 'BestEffort'
const QOS_RESOURCES = ['cpu', 'memory'] as const

export function podQOSClass(pod: Pod): QOSClass {
  const containers: Container[] = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]
  const positive = (q: string | number | undefined): q is string | number => q !== undefined && isQuantity(q) && compareQuantities(q, 0) > 0
  let anyRequest = false
  let anyLimit = false
  let guaranteed = true
  for (const c of containers) {
    for (const r of QOS_RESOURCES) {
      const request = c.resources?.requests?.[r]
      const limit = c.resources?.limits?.[r]
      if (positive(request)) anyRequest = true
      if (positive(limit)) anyLimit = true
      // Guaranteed: every container limits both, and each request (defaulted from the limit) equals its limit.
      if (!positive(limit) || (positive(request) && compareQuantities(request, limit) !== 0)) guaranteed = false
    }
  }
  if (!anyRequest && !anyLimit) return 'BestEffort'
  return guaranteed ? 'Guaranteed' : 'Burstable'
}
