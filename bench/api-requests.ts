/**
 * The requests a client made to the API emulator, by verb and resource as the API server's own
 * metrics name them (`apiserver_request_total{verb, resource, subresource}`): `update leases`,
 * `patch nodes/status`, `watch pods`, … Pure, for the cloud benches.
 */
import { kubeRequest } from '../metrics/cloud/kube-requests.js'

export interface RecordedRequest {
  method: string
  url: string
  status: number
  receivedAt: number
}

/** `<verb> <resource>[/<subresource>]` of one request (tern cloud's own metric labels); other paths: `<METHOD> <path>`. */
export function requestKind(method: string, url: string): string {
  const kind = kubeRequest(method, url)
  return kind === undefined ? `${method} ${url.split('?')[0] ?? ''}` : `${kind.verb} ${kind.resource}`
}

export interface RequestRates {
  /** all requests per second */
  total: number
  /** per second, by `<verb> <resource>` */
  byKind: Record<string, number>
  /** answered with a status ≥ 400, by kind (counts, not rates) */
  errors: Record<string, number>
}

/** Requests received in [from, to) (Date.now() times), per second over that interval. */
export function requestRates(requests: readonly RecordedRequest[], from: number, to: number): RequestRates {
  const seconds = (to - from) / 1000
  const counts: Record<string, number> = {}
  const errors: Record<string, number> = {}
  let total = 0
  for (const r of requests) {
    if (r.receivedAt < from || r.receivedAt >= to) continue
    const kind = requestKind(r.method, r.url)
    counts[kind] = (counts[kind] ?? 0) + 1
    if (r.status >= 400) errors[kind] = (errors[kind] ?? 0) + 1
    total++
  }
  const rate = (n: number): number => Math.round((n / seconds) * 100) / 100
  const byKind = Object.fromEntries(
    Object.entries(counts)
      .sort(([, a], [, b]) => b - a)
      .map(([kind, n]) => [kind, rate(n)]),
  )
  return { total: rate(total), byKind, errors }
}
