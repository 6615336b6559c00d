/**
 * Lists the API server merges by key under a strategic merge patch although a status writer means
 * them whole: NodeStatus.addresses (patchMergeKey type). An address missing from the patch stays
 * on the object, so a Node would keep an InternalIP its host lost. The kubelet (pkg/util/node PatchNodeStatus,
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
