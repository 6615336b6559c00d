/**
 * KubeEdge's `dealVersion` (kubeedge-compat.md §2.3). Each twin side carries a `{cloud, edge}` vector.
 *
 * - local deal: `edge + 1`, always accepted; the request's versions are ignored.
 * - cloud sync: the request must carry a vector; it wins only if it is not older than the last cloud
 *   write (`local.cloud <= req.cloud`) and has seen every edge write (`local.edge <= req.edge`); the
 *   request's counters are then copied.
 *
 * The "sync delete without a version" case (KubeEdge deal type 3) is the caller's: it keeps the stored
 * vector and does not call this function.
 */
import type { TwinVersion } from '../schemas/twin.js'
import type { ErrorCode } from '../schemas/errors.js'

export type Deal = 'local' | 'cloud-sync'

export const ZERO_VERSION: TwinVersion = { cloud: 0, edge: 0 }

export type VersionDecision =
  | { readonly ok: true; readonly version: TwinVersion }
  | { readonly ok: false; readonly errorCode: ErrorCode; readonly reason: string }

export function dealVersion(current: TwinVersion | undefined, requested: TwinVersion | undefined, deal: Deal): VersionDecision {
  if (deal === 'local') return { ok: true, version: nextLocalVersion(current) }
  const local = current ?? ZERO_VERSION
  if (requested === undefined) {
    return { ok: false, errorCode: 'TWIN_VERSION_MISSING', reason: 'version not allowed be nil while syncing' }
  }
  if (local.cloud > requested.cloud) {
    return {
      ok: false,
      errorCode: 'TWIN_VERSION_CONFLICT',
      reason: `version not allowed: cloud version ${requested.cloud} is older than the stored ${local.cloud}`,
    }
  }
  if (local.edge > requested.edge) {
    return {
      ok: false,
      errorCode: 'TWIN_VERSION_CONFLICT',
      reason: `not allowed to sync due to version conflict: the edge is at version ${local.edge}, the sync has seen ${requested.edge}`,
    }
  }
  return { ok: true, version: { cloud: requested.cloud, edge: requested.edge } }
}

/** The local deal's rule on its own: `edge + 1` from the stored vector (or from `{0,0}`). */
export function nextLocalVersion(current: TwinVersion | undefined): TwinVersion {
  const local = current ?? ZERO_VERSION
  return { cloud: local.cloud, edge: local.edge + 1 }
}

export function sameVersion(a: TwinVersion | undefined, b: TwinVersion | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.cloud === b.cloud && a.edge === b.edge)
}
