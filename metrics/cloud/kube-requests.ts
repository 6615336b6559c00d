/**
 * Requests `tern cloud` makes to the Kubernetes API server, by verb, resource and HTTP status, and
 * their latency to the response headers. Seen through Node's `http.client.*` diagnostics channels,
 * so every client of the process (the Device controllers, Nodes and Leases, identity) is counted
 * without wrapping any of them, and nothing runs while no one subscribes (`http: false`).
 */
import type { ClientRequest, IncomingMessage } from 'node:http'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from '../prom.js'

export interface KubeRequest {
  /** get, list, watch, create, update, patch, delete, deletecollection */
  verb: string
  /** the resource's plural, with its subresource: `devices`, `devices/status`, `leases` */
  resource: string
}

/** The Kubernetes verb and resource of an API path (`/api/v1/...` or `/apis/<group>/<version>/...`); undefined for other paths. */
export function kubeRequest(method: string, url: string): KubeRequest | undefined {
  const [path = '', query = ''] = url.split('?', 2)
  const segments = path.split('/').filter((s) => s !== '')
  const rest = segments[0] === 'api' ? segments.slice(2) : segments[0] === 'apis' ? segments.slice(3) : undefined
  if (rest === undefined || rest.length === 0) return undefined
  // namespaces/<ns>/<resource>/<name>/<sub>, or a cluster-scoped <resource>/<name>/<sub> (namespaces itself included)
  const [resource, name, sub] = rest[0] === 'namespaces' && rest.length >= 3 ? rest.slice(2) : rest
  if (resource === undefined) return undefined
  const watch = /(^|&)watch=(true|1)(&|$)/.test(query)
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch' }
  const verb =
    method === 'GET' ? (watch ? 'watch' : name === undefined ? 'list' : 'get') : method === 'DELETE' ? (name === undefined ? 'deletecollection' : 'delete') : (verbs[method] ?? method.toLowerCase())
  return { verb, resource: sub === undefined ? resource : `${resource}/${sub}` }
}

/** Registers the metrics and subscribes; returns the unsubscribe step. */
export function kubeRequestMetrics(registry: Registry): () => void {
  const requests = new Counter({
    name: 'tern_cloud_api_requests_total',
    help: 'Requests to the Kubernetes API server, by verb, resource (with subresource) and HTTP status code (`error` = no response: refused, reset, timed out)',
    labelNames: ['verb', 'resource', 'code'],
    registers: [registry],
  })
  const latency = new Histogram({
    name: 'tern_cloud_api_request_duration_seconds',
    help: 'Time from sending a request to the Kubernetes API server to its response headers, by verb and resource (watches: until the watch is established)',
    labelNames: ['verb', 'resource'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })
  const started = new WeakMap<ClientRequest, { at: number; kind: KubeRequest }>()
  const onStart = (message: unknown): void => {
    const { request } = message as { request: ClientRequest }
    const kind = kubeRequest(request.method, request.path)
    if (kind !== undefined) started.set(request, { at: performance.now(), kind })
  }
  const onResponse = (message: unknown): void => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage }
    const s = started.get(request)
    if (s === undefined) return
    started.delete(request)
    requests.inc({ ...s.kind, code: String(response.statusCode ?? 'error') })
    latency.observe(s.kind, (performance.now() - s.at) / 1000)
  }
  const onError = (message: unknown): void => {
    const { request } = message as { request: ClientRequest }
    const s = started.get(request)
    if (s === undefined) return
    started.delete(request)
    requests.inc({ ...s.kind, code: 'error' })
  }
  subscribe('http.client.request.start', onStart)
  subscribe('http.client.response.finish', onResponse)
  subscribe('http.client.request.error', onError)
  return () => {
    unsubscribe('http.client.request.start', onStart)
    unsubscribe('http.client.response.finish', onResponse)
    unsubscribe('http.client.request.error', onError)
  }
}
