/**
 * Lists the API server merges by key under a strategic merge patch although a status writer means
 * them whole: NodeStatus.addresses (patchMergeKey type) and PodStatus.podIPs and hostIPs (ip). An
 * address missing from the patch stays on the object, so a Node would keep an InternalIP its host
 * lost, and a pod whose hostIP changed would get both its old and its new one in hostIPs (which
 * validation refuses: one address per family). The kubelet (pkg/util/node PatchNodeStatus,
 * fixupPatchForNodeStatusAddresses) appends the directive `{"$patch": "replace"}` to such a list
 * when the object has one and it changed; not when it has none, because a field the object lacks
 * takes the patch's value as it is, the directive element included.
 */
import { isDeepStrictEqual } from 'node:util'

export const REPLACE_LIST = { $patch: 'replace' } as const

/** `next` as the patch writes it over `current` (the object's list as last seen) so the list ends up exactly `next`. */
export function replacingList<T>(current: readonly unknown[] | undefined, next: readonly T[]): ReadonlyArray<T | typeof REPLACE_LIST> {
  if (current === undefined || current.length === 0 || isDeepStrictEqual(current, next)) return next
  return [...next, REPLACE_LIST]
}

type PodIPs = ReadonlyArray<{ ip: string }>

/**
 * The strategic merge patch of `pods/<name>/status` writing `status` over the pod as last seen
 * (`current`, its status as the API server or the informer has it): with `metadata.uid` (the
 * kubelet's precondition), and podIPs and hostIPs replaced exactly (a hostNetwork pod's podIP and
 * every pod's hostIP change with the node's address; a new sandbox brings a new podIP).
 */
export function podStatusPatch(uid: string, status: { podIPs?: PodIPs; hostIPs?: PodIPs }, current: unknown): object {
  const before = (current ?? {}) as { podIPs?: unknown[]; hostIPs?: unknown[] }
  const lists = {
    ...(status.podIPs === undefined ? {} : { podIPs: replacingList(before.podIPs, status.podIPs) }),
    ...(status.hostIPs === undefined ? {} : { hostIPs: replacingList(before.hostIPs, status.hostIPs) }),
  }
  return { metadata: { uid }, status: { ...status, ...lists } }
}
