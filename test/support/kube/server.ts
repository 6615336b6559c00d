/**
 * A Kubernetes API emulator for tests (DESIGN.md §10: no kube-apiserver runs here): node:http on
 * a port from the OS, the resource paths and discovery documents the real `kubectl`,
 * @kubernetes/client-node and tern cloud use, and the semantics of api.ts behind them.
 *
 *   const kube = await startKubeEmulator()
 *   after(() => kube.stop())
 *   await kube.writeKubeconfig(path)   // then: kubectl --kubeconfig path apply -f deploy/crds/
 *
 * Implemented: legacy discovery (/api, /apis, /apis/<g>[/<v>], /version) and the OpenAPI v3
 * slice kubectl needs to leave validation to the server (openapi.ts); CRDs (structural check,
 * Established status, registration and removal of their resources); namespaces (default,
 * kube-system, kube-public, kube-node-lease exist); the built-ins a kubelet-side controller uses
 * (core-types.ts): Nodes and Pods with their status subresources, ConfigMaps, Secrets, Events,
 * coordination.k8s.io/v1 Leases, with the server's table columns (`kubectl get nodes/pods -o
 * wide`), pod defaults on create and graceful pod deletion (deletionTimestamp + grace period, a
 * final DELETE with grace 0 removes the pod); for every resource create, get, list (label
 * selectors; field selectors metadata.name/namespace and those the built-in registers, e.g. pods'
 * spec.nodeName and status.phase; all-namespaces; in pages with `limit` and `continue`, each page
 * read at the first page's resourceVersion, 410 Expired once that version is compacted away:
 * paging.ts), update with resourceVersion preconditions (409),
 * merge patch, JSON patch, strategic merge patch for built-ins only (415 for custom resources, as
 * the real server; with its directives, lists merged by key where the kind declares one — Node
 * status addresses and conditions, Pod status conditions, podIPs and hostIPs — and other lists
 * replaced: strategic.ts), delete (with preconditions),
 * deletecollection, the status subresource, generation, no-op writes, pruning, fieldValidation
 * Strict/Warn/Ignore, validation against openAPIV3Schema including list-map/set uniqueness (422
 * with causes), watch from a resourceVersion with a bounded history (410 Expired ERROR event),
 * bookmarks, timeoutSeconds, Table output for printer columns, dryRun=All, bearer-token auth, RBAC
 * resource rules per token (403 Forbidden), HTTPS; with `kubeletClient`, pods/log, pods/exec,
 * pods/attach and pods/portforward passed to the node's kubelet endpoint (status.addresses
 * InternalIP then Hostname, daemonEndpoints.kubeletEndpoint.Port) with that client certificate,
 * upgraded connections proxied byte for byte and no stream translation (node-proxy.ts).
 *
 * Not implemented: server-side apply (415), aggregated discovery and protobuf (JSON is always
 * answered: kubectl asks for protobuf answers for built-ins, e.g. `cordon`, and takes JSON; a
 * protobuf request body, which kubectl's typed generators such as `kubectl create configmap`
 * send, is refused with 415 — `kubectl apply` sends JSON), OpenAPI
 * schemas (no `kubectl explain`, no /openapi/v2), `resourceVersionMatch`/list at an older version
 * (a list without a continue token is always current),
 * finalizers, schema defaulting beyond the pod defaults, validation of built-ins beyond a pod's
 * containers (names, images) and Secrets' data, pod spec immutability, CRD version conversion,
 * `sendInitialEvents`, the pods/binding and eviction subresources, the WebSocket-to-SPDY stream
 * translation of a 1.30+ API server (kubectl falls back to SPDY), and everything controllers do (no scheduler, no node lifecycle controller, no
 * garbage collection by ownerReferences), RBAC beyond resource rules of one role per token.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { readFile, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { parse as parseYaml, stringify } from 'yaml'
import { Api, type FieldValidation, type WriteOptions } from './api.js'
import { VERSION_INFO, apiGroup, apiGroupList, apiResourceList, apiVersions } from './discovery.js'
import { openapiV3Document, openapiV3Root } from './openapi.js'
import type { Json } from './patch.js'
import { groupVersion, typeId, type ResourceType } from './registry.js'
import { kubeletLocation, NODE_SUBRESOURCES, proxyLog, proxyUpgrade, type KubeletClient } from './node-proxy.js'
import { listPage } from './paging.js'
import { fieldSelector, labelSelector, type Selector } from './selectors.js'
import { ApiError, badRequest, gone, notFound } from './status.js'
import { Store, namespaceOf, type KubeObject, type StoredEvent } from './store.js'
import { toTable, wantsTable } from './table.js'

export interface KubeEmulatorOptions {
  /** Change events kept for watches that resume from a resourceVersion; older ones get 410. Default 1000. */
  historySize?: number
  /** When set, every request needs `Authorization: Bearer <token>` (else 401); this token may do everything. */
  token?: string
  /**
   * More bearer tokens, each limited to RBAC policy rules (as a ServiceAccount bound to a
   * ClusterRole): a request no rule allows gets 403 Forbidden. Discovery is open to every token.
   */
  roles?: Record<string, readonly PolicyRule[]>
  /**
   * Serve HTTPS with this key pair (PEM file paths); kubeconfigs then trust `ca`. kubectl (client-go)
   * sends bearer tokens only over HTTPS, so token and RBAC tests with kubectl need it.
   */
  tls?: { cert: string; key: string; ca: string }
  /**
   * Interval of BOOKMARK events for watches with `allowWatchBookmarks=true` (kube-apiserver: 60 s).
   * Default 10 s; 0 sends none, as a server or resource without a watch cache.
   */
  bookmarkIntervalMs?: number
  /**
   * The API server's kubelet client certificate and key (PEM file paths; --kubelet-client-certificate)
   * and, optionally, the CA kubelets' serving certificates are checked with: pods/log, exec,
   * attach and portforward are then passed to the pod's node (node-proxy.ts); without it they get 404.
   */
  kubeletClient?: { cert: string; key: string; ca?: string }
}

export interface RequestRecord {
  method: string
  url: string
  contentType: string | undefined
  accept: string | undefined
  status: number
  /** Date.now() when the request arrived (latency measurements start here) */
  receivedAt: number
  /** the response body's bytes, when sent whole (not a watch) */
  bytes?: number
}

export interface KubeEmulator {
  readonly url: string
  readonly port: number
  readonly api: Api
  /** Every request served so far, to assert what a client did (e.g. which patch type kubectl sent). */
  readonly requests: RequestRecord[]
  /** A kubeconfig for this emulator; `token` (default: the admin token, if any) is the user's bearer token. */
  writeKubeconfig(path: string, namespace?: string, token?: string): Promise<string>
  /** Open watch streams right now. */
  watchCount(): number
  /** The open watch streams: which path each watches, from which client port, and how many bookmarks it was sent. */
  openWatches(): WatchStream[]
  /** Sets the bookmark interval of watches started from now on (0: none). */
  setBookmarkInterval(ms: number): void
  /** TCP connections accepted so far (a client that reuses connections opens few). */
  connectionCount(): number
  /** Ends every open watch stream (as an API server restart or watch timeout does); clients resume from their last version. */
  dropWatches(): void
  stop(): Promise<void>
}

export interface WatchStream {
  /** the request's path, without its query */
  path: string
  /** the client's port of the connection it is on */
  clientPort: number | undefined
  bookmarks: number
}

interface Route {
  group: string
  version: string
  type: ResourceType
  namespace: string | undefined
  name: string | undefined
  subresource: string | undefined
}

const nameOrEmpty = (value: unknown): string => (typeof value === 'string' ? value : '')

function send(res: ServerResponse, code: number, body: Json, warnings: string[] = []): void {
  const text = JSON.stringify(body)
  if (warnings.length > 0) res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`))
  // set one by one (not as writeHead's argument) so that getHeader sees them for the request log
  res.setHeader('Content-Type', 'application/json')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.setHeader('Cache-Control', 'no-cache, private')
  res.writeHead(code)
  res.end(text)
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  if (/protobuf/.test(req.headers['content-type'] ?? '')) {
    req.resume()
    throw new ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml')
  }
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') return undefined
  try {
    return /yaml/.test(req.headers['content-type'] ?? '') ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown)
  } catch (error) {
    throw badRequest(`error decoding request body: ${(error as Error).message}`)
  }
}

function writeOptions(query: URLSearchParams): WriteOptions {
  const fv = query.get('fieldValidation')
  const fieldValidation: FieldValidation | undefined = fv === 'Strict' || fv === 'Warn' || fv === 'Ignore' ? fv : undefined
  if (fv !== null && fieldValidation === undefined) throw badRequest(`fieldValidation must be one of Strict, Warn, Ignore: ${fv}`)
  return { dryRun: query.getAll('dryRun').includes('All'), ...(fieldValidation ? { fieldValidation } : {}) }
}

export async function startKubeEmulator(options: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
  const store = new Store(options.historySize ?? 1000)
  const api = new Api(store)
  const requests: RequestRecord[] = []
  /** Open watch streams and how to end each one (unsubscribe at once, then end the response). */
  const watches = new Map<ServerResponse, { stream: WatchStream; end: () => void }>()
  let bookmarkIntervalMs = options.bookmarkIntervalMs ?? 10_000
  let address = ''

  const route = (segments: string[]): Route | undefined => {
    let group: string
    let version: string
    let rest: string[]
    if (segments[0] === 'api' && segments.length >= 3) [group, version, rest] = ['', segments[1] ?? '', segments.slice(2)]
    else if (segments[0] === 'apis' && segments.length >= 4) [group, version, rest] = [segments[1] ?? '', segments[2] ?? '', segments.slice(3)]
    else return undefined
    let namespace: string | undefined
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const nested = api.findType(group, version, rest[2] ?? '')
      if (nested?.namespaced === true) {
        namespace = rest[1]
        rest = rest.slice(2)
      }
    }
    const type = api.findType(group, version, rest[0] ?? '')
    if (type === undefined || rest.length > 3) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', { group, kind: rest[0] ?? '' })
    return { group, version, type, namespace, name: rest[1], subresource: rest[2] }
  }

  const discovery = (segments: string[]): Json | undefined => {
    const types = api.allTypes()
    const path = segments.join('/')
    if (path === 'version') return VERSION_INFO
    if (path === 'api') return apiVersions(address)
    if (path === 'api/v1') return apiResourceList('', 'v1', types)
    if (path === 'apis') return apiGroupList(types)
    if (segments[0] === 'apis' && segments.length === 2) return apiGroup(segments[1] ?? '', types)
    if (segments[0] === 'apis' && segments.length === 3) return apiResourceList(segments[1] ?? '', segments[2] ?? '', types)
    if (path === 'openapi/v3') return openapiV3Root(types)
    if (segments[0] === 'openapi' && segments[1] === 'v3' && segments.length >= 3) return openapiV3Document(segments.slice(2).join('/'), types)
    if (['healthz', 'livez', 'readyz'].includes(path)) return 'ok'
    return undefined
  }

  const watch = (req: IncomingMessage, res: ServerResponse, r: Route, query: URLSearchParams, matches: Selector): void => {
    const table = wantsTable(req.headers.accept)
    const rv = query.get('resourceVersion')
    if (rv !== null && rv !== '' && !/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`)
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' })
    // Without this, clients that wait for the response headers (client-node's Watch) hang.
    res.flushHeaders()
    let columnsSent = false
    const emit = (type: string, object: KubeObject | Json): void => {
      if (res.writableEnded) return
      let payload: Json = object
      if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
        payload = toTable(r.type, [object as KubeObject], { resourceVersion: String(store.resourceVersion) }, !columnsSent)
        columnsSent = true
      }
      res.write(`${JSON.stringify({ type, object: payload })}\n`)
    }
    const relevant = (e: StoredEvent): boolean => e.typeId === typeId(r.type) && (r.namespace === undefined || namespaceOf(e.object) === r.namespace) && matches(e.object)
    const buffered: StoredEvent[] = []
    let live = false
    const unsubscribe = store.subscribe((e) => {
      if (!relevant(e)) return
      if (live) emit(e.type, api.present(r.type, e.object))
      else buffered.push(e)
    })
    const timers: NodeJS.Timeout[] = []
    const close = (): void => {
      unsubscribe()
      for (const t of timers) clearTimeout(t)
      watches.delete(res)
    }
    res.on('close', close)
    const stream: WatchStream = { path: new URL(req.url ?? '/', 'http://emulator').pathname, clientPort: req.socket.remotePort, bookmarks: 0 }
    watches.set(res, {
      stream,
      end: () => {
        close()
        res.end()
      },
    })
    if (rv === null || rv === '' || rv === '0') {
      // "Get State and Start at Most Recent": synthetic ADDED for every current object.
      for (const o of api.list(r.type, r.namespace).items.filter(matches)) emit('ADDED', o)
    } else {
      const events = store.since(Number(rv))
      if (events === undefined) {
        emit('ERROR', gone(rv, store.oldestResumable + 1).status as unknown as Json)
        res.end()
        return
      }
      for (const e of events) if (relevant(e)) emit(e.type, api.present(r.type, e.object))
    }
    for (const e of buffered) emit(e.type, api.present(r.type, e.object))
    live = true
    const interval = bookmarkIntervalMs
    if (query.get('allowWatchBookmarks') === 'true' && interval > 0) {
      const bookmark = (): void => {
        emit('BOOKMARK', { kind: r.type.kind, apiVersion: groupVersion(r.type), metadata: { resourceVersion: String(store.resourceVersion) } })
        stream.bookmarks++
        timers[0] = setTimeout(bookmark, interval)
      }
      timers[0] = setTimeout(bookmark, interval)
    }
    const timeout = Number(query.get('timeoutSeconds') ?? '0')
    if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000))
  }

  const resource = async (req: IncomingMessage, res: ServerResponse, r: Route, query: URLSearchParams): Promise<void> => {
    const { type, name, subresource } = r
    const namespace = r.namespace ?? ''
    if (type.namespaced && r.namespace === undefined && (name !== undefined || req.method !== 'GET'))
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    const method = req.method ?? 'GET'
    if (method === 'GET' && name === undefined) {
      const matches: Selector = ((l, f) => (o) => l(o) && f(o))(labelSelector(query.get('labelSelector')), fieldSelector(query.get('fieldSelector'), type.fields))
      if (query.get('watch') === 'true' || query.get('watch') === '1') return watch(req, res, r, query, matches)
      const selected = query.has('labelSelector') || query.has('fieldSelector')
      const request = { limit: query.get('limit'), continue: query.get('continue'), resourceVersion: query.get('resourceVersion'), selected }
      const { items, ...metadata } = listPage(store, typeId(type), r.namespace, matches, request)
      const presented = items.map((o) => api.present(type, o))
      if (wantsTable(req.headers.accept)) return send(res, 200, toTable(type, presented, metadata))
      return send(res, 200, { apiVersion: groupVersion(type), kind: type.listKind, metadata, items: presented })
    }
    if (method === 'GET' && name !== undefined) {
      if (subresource !== undefined && !(subresource === 'status' && type.statusSubresource)) throw notFound(type.plural, type.group, name)
      const object = api.get(type, namespace, name)
      return send(res, 200, wantsTable(req.headers.accept) ? toTable(type, [object], { resourceVersion: nameOrEmpty(object.metadata.resourceVersion) }) : object)
    }
    const body = await readBody(req)
    const opts = writeOptions(query)
    if (method === 'POST' && name === undefined) {
      const result = api.create(type, namespace, body, opts)
      return send(res, 201, result.object, result.warnings)
    }
    if (name === undefined) {
      if (method !== 'DELETE') throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`)
      const items = api.list(type, r.namespace).items.filter(labelSelector(query.get('labelSelector')))
      for (const o of items) api.delete(type, namespaceOf(o), nameOrEmpty(o.metadata.name), undefined, opts)
      return send(res, 200, { apiVersion: groupVersion(type), kind: type.listKind, metadata: { resourceVersion: String(store.resourceVersion) }, items })
    }
    switch (method) {
      case 'PUT': {
        const result = api.update(type, namespace, name, body, subresource, opts)
        return send(res, 200, result.object, result.warnings)
      }
      case 'PATCH': {
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? ''
        if (contentType === 'application/apply-patch+yaml') throw new ApiError(415, 'UnsupportedMediaType', 'server-side apply is not supported by the tern API emulator')
        const result = api.patch(type, namespace, name, contentType, body, subresource, opts)
        return send(res, 200, result.object, result.warnings)
      }
      case 'DELETE': {
        const grace = query.get('gracePeriodSeconds')
        if (grace !== null && !/^-?\d+$/.test(grace)) throw badRequest(`gracePeriodSeconds must be an integer: ${grace}`)
        return send(res, 200, api.delete(type, namespace, name, body, { ...opts, ...(grace === null ? {} : { gracePeriodSeconds: Number(grace) }) }))
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const segments = url.pathname.split('/').filter((s) => s !== '')
    const bearer = req.headers.authorization?.replace(/^Bearer /, '')
    const rules = bearer === undefined ? undefined : options.roles?.[bearer]
    if (options.token !== undefined && bearer !== options.token && rules === undefined) throw new ApiError(401, 'Unauthorized', 'Unauthorized')
    const doc = req.method === 'GET' ? discovery(segments) : undefined
    if (doc !== undefined) return send(res, 200, doc)
    const r = route(segments)
    if (r === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    if (rules !== undefined) authorize(rules, req.method ?? 'GET', r, url.searchParams)
    if (isNodeSubresource(r)) {
      if (r.subresource !== 'log') throw badRequest(`pods/${r.subresource ?? ''} needs an upgraded connection (SPDY or WebSocket)`)
      if (req.method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
      return proxyLog(nodeLocation(r, url.searchParams), await kubeletCredentials(), req, res)
    }
    return resource(req, res, r, url.searchParams)
  }

  const isNodeSubresource = (r: Route): boolean => r.group === '' && r.type.plural === 'pods' && r.subresource !== undefined && NODE_SUBRESOURCES.has(r.subresource) && options.kubeletClient !== undefined
  const nodeLocation = (r: Route, query: URLSearchParams): ReturnType<typeof kubeletLocation> => {
    const pods = api.findType('', 'v1', 'pods')
    const nodes = api.findType('', 'v1', 'nodes')
    if (pods === undefined || nodes === undefined || r.namespace === undefined || r.name === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    return kubeletLocation(api, { pods, nodes }, r.namespace, r.name, r.subresource ?? '', query)
  }
  let kubeletClient: KubeletClient | undefined
  const kubeletCredentials = async (): Promise<KubeletClient> => {
    const files = options.kubeletClient as NonNullable<KubeEmulatorOptions['kubeletClient']>
    kubeletClient ??= { cert: await readFile(files.cert), key: await readFile(files.key), ...(files.ca === undefined ? {} : { ca: await readFile(files.ca) }) }
    return kubeletClient
  }

  /** pods/exec, attach, portforward: an upgraded connection, authenticated and routed as a request is. */
  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const bearer = req.headers.authorization?.replace(/^Bearer /, '')
    const rules = bearer === undefined ? undefined : options.roles?.[bearer]
    if (options.token !== undefined && bearer !== options.token && rules === undefined) throw new ApiError(401, 'Unauthorized', 'Unauthorized')
    const r = route(url.pathname.split('/').filter((s) => s !== ''))
    if (r === undefined || !isNodeSubresource(r) || r.subresource === 'log') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    if (rules !== undefined) authorize(rules, req.method ?? 'GET', r, url.searchParams)
    proxyUpgrade(nodeLocation(r, url.searchParams), await kubeletCredentials(), req, socket, head)
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const receivedAt = Date.now()
    res.on('finish', () => {
      const length = res.getHeader('Content-Length')
      requests.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], accept: req.headers.accept, status: res.statusCode, receivedAt, ...(length === undefined ? {} : { bytes: Number(length) }) })
    })
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof ApiError ? error.status : new ApiError(500, 'InternalError', `Internal error occurred: ${String(error)}`).status
      if (res.headersSent) res.end()
      else send(res, status.code, status as unknown as Json)
    })
  }
  const server =
    options.tls === undefined
      ? createHttpServer(listener)
      : createHttpsServer({ cert: await readFile(options.tls.cert), key: await readFile(options.tls.key) }, listener)
  let connections = 0
  server.on('connection', () => connections++)
  // upgraded connections leave the HTTP server's bookkeeping: closed by stop() here
  const upgraded = new Set<Duplex>()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket)
    socket.on('close', () => upgraded.delete(socket))
    socket.on('error', () => socket.destroy())
    upgrade(req, socket, head).catch((error: unknown) => {
      const status = error instanceof ApiError ? error.status : new ApiError(500, 'InternalError', `Internal error occurred: ${String(error)}`).status
      const body = JSON.stringify(status)
      socket.end(`HTTP/1.1 ${status.code} ${status.reason ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const port = (server.address() as AddressInfo).port
  address = `127.0.0.1:${port}`
  const url = `${options.tls === undefined ? 'http' : 'https'}://${address}`

  return {
    url,
    port,
    api,
    requests,
    watchCount: () => watches.size,
    openWatches: () => [...watches.values()].map((w) => ({ ...w.stream })),
    setBookmarkInterval: (ms) => {
      bookmarkIntervalMs = ms
    },
    connectionCount: () => connections,
    dropWatches: () => {
      for (const w of [...watches.values()]) w.end()
    },
    writeKubeconfig: async (path, namespace = 'default', token = options.token) => {
      const user = token === undefined ? {} : { token }
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        // client-node 1.x refuses plain http unless TLS verification is explicitly skipped.
        clusters: [{ name: 'tern-emulator', cluster: { server: url, ...(options.tls === undefined ? { 'insecure-skip-tls-verify': true } : { 'certificate-authority': options.tls.ca }) } }],
        users: [{ name: 'tern', user }],
        contexts: [{ name: 'tern-emulator', context: { cluster: 'tern-emulator', user: 'tern', namespace } }],
        'current-context': 'tern-emulator',
      }
      await writeFile(path, stringify(config))
      return path
    },
    stop: async () => {
      for (const w of [...watches.values()]) w.end()
      for (const socket of upgraded) socket.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** One rule of an RBAC Role/ClusterRole (rbac.authorization.k8s.io/v1 PolicyRule, resource rules only). */
export interface PolicyRule {
  apiGroups: readonly string[]
  resources: readonly string[]
  verbs: readonly string[]
  resourceNames?: readonly string[]
}

/** The API verb of a request (Kubernetes' request-info rules), and 403 when no rule allows it. */
function authorize(rules: readonly PolicyRule[], method: string, r: Route, query: URLSearchParams): void {
  const verb = requestVerb(method, r.name, query)
  const resource = r.subresource === undefined ? r.type.plural : `${r.type.plural}/${r.subresource}`
  const allowed = rules.some(
    (rule) =>
      (rule.apiGroups.includes('*') || rule.apiGroups.includes(r.group)) &&
      (rule.resources.includes('*') || rule.resources.includes(resource)) &&
      (rule.verbs.includes('*') || rule.verbs.includes(verb)) &&
      (rule.resourceNames === undefined || rule.resourceNames.length === 0 || (r.name !== undefined && rule.resourceNames.includes(r.name))),
  )
  if (!allowed) {
    const scope = r.namespace === undefined ? 'at the cluster scope' : `in the namespace "${r.namespace}"`
    throw new ApiError(403, 'Forbidden', `${resource}${r.group === '' ? '' : `.${r.group}`} is forbidden: User cannot ${verb} resource "${resource}" in API group "${r.group}" ${scope}`)
  }
}

function requestVerb(method: string, name: string | undefined, query: URLSearchParams): string {
  const watching = query.get('watch') === 'true' || query.get('watch') === '1'
  switch (method) {
    case 'GET':
    case 'HEAD':
      return watching ? 'watch' : name === undefined ? 'list' : 'get'
    case 'POST':
      return 'create'
    case 'PUT':
      return 'update'
    case 'PATCH':
      return 'patch'
    case 'DELETE':
      return name === undefined ? 'deletecollection' : 'delete'
    default:
      return method.toLowerCase()
  }
}
