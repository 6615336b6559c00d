/**
 * The Kubernetes API seam of the cloud controllers (STYLE: an interface at every external seam):
 * list and watch Devices and DeviceModels in all namespaces, and merge-patch a Device's `status`
 * subresource. {@link ClientNodeKubeApi} is the real one over @kubernetes/client-node; tests can
 * substitute an in-memory one.
 */
import { existsSync } from 'node:fs'
import type { Agent, AgentOptions } from 'node:https'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { TernError } from '../../schemas/tern-error.js'
import { setWatchSilence, WatchSilence, WATCH_SILENCE_MS } from './watch-silence.js'

export const GROUP = 'devices.kubeedge.io'
export const VERSION = 'v1beta1'

export type KubeResource = 'devices' | 'devicemodels'

/** One page of a list (client-go's pager): at most `limit` objects, from where `continue` says. */
export interface PageRequest {
  limit: number
  /** the previous page's `continue`; absent for the first page */
  continue?: string
}

/** A list or one page of it; `continue` is set when more pages follow (every page has the list's resourceVersion). */
export interface KubeList {
  items: unknown[]
  resourceVersion: string
  continue?: string
  /** the response body as received (its JSON, after any gzip), in bytes: what the page cost to hold as sent */
  bytes: number
}

/** `limit` and `_continue` for client-node's list calls. */
export function pageQuery(page: PageRequest | undefined): { limit?: number; _continue?: string } {
  if (page === undefined) return {}
  return { limit: page.limit, ...(page.continue === undefined ? {} : { _continue: page.continue }) }
}

type ListAnswer = { items?: unknown; metadata?: { resourceVersion?: string; continue?: string; _continue?: string } }

/** A client-node list answer of `bytes` as a {@link KubeList}: typed lists name the token `_continue`, raw JSON `continue`. */
export function kubeList(list: ListAnswer, bytes: number, item: (o: unknown) => unknown = (o) => o): KubeList {
  const token = list.metadata?._continue ?? list.metadata?.continue
  return { items: Array.isArray(list.items) ? list.items.map(item) : [], resourceVersion: list.metadata?.resourceVersion ?? '', ...(token === undefined || token === '' ? {} : { continue: token }), bytes }
}

/**
 * Runs a client-node list call (`call` passes `options` on) as a {@link KubeList} with the size of
 * its response body. client-node hands back parsed objects only; the middleware in `options`
 * reads the body as bytes where client-node would read it as text, counts them and decodes them
 * as client-node does (node-fetch's text() is its buffer() as UTF-8), so nothing is read twice.
 */
export async function listPage(call: (options: k8s.ConfigurationOptions) => Promise<unknown>, item?: (o: unknown) => unknown): Promise<KubeList> {
  let bytes = 0
  const counted: k8s.ObservableMiddleware = {
    pre: passOn,
    post: (context) => {
      const received = context.body
      context.body = {
        binary: () => received.binary(),
        text: async () => {
          const body = await received.binary()
          bytes = body.length
          return body.toString()
        },
      }
      return passOn(context)
    },
  }
  const list = (await wrap(() => call({ middleware: [counted], middlewareMergeStrategy: 'append' }))) as ListAnswer
  return kubeList(list, bytes, item)
}

/** One line of a watch stream; `ERROR` carries a `metav1.Status` (code 410 = the version is too old). */
export type WatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: unknown }
  | { type: 'ERROR'; status: { code?: number; reason?: string; message?: string } }

export interface WatchHandlers {
  event(event: WatchEvent): void
  /** The stream ended: by the server (`err` undefined), by a failure, or by `stop()`. Called once. */
  done(err?: KubeRequestError): void
}

export interface WatchHandle {
  stop(): void
}

export interface KubeApi {
  /** The whole list, or one page of it. */
  list(resource: KubeResource, page?: PageRequest): Promise<KubeList>
  /** Watches `resource` in all namespaces from `resourceVersion` (exclusive). */
  watch(resource: KubeResource, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle>
  /** `PATCH devices/<name>/status` with `application/merge-patch+json`; resolves with the stored object. */
  patchDeviceStatus(namespace: string, name: string, patch: object): Promise<unknown>
}

/**
 * A failed request; `status` is the HTTP status when the server answered (404, 409, 410, 5xx…),
 * `timedOut` whether it was given up for want of an answer (see {@link API_REQUEST_TIMEOUT_MS}).
 */
export class KubeRequestError extends Error {
  readonly status: number | undefined
  readonly timedOut: boolean
  constructor(message: string, status: number | undefined, options: { cause?: unknown; timedOut?: boolean } = {}) {
    super(message, { cause: options.cause })
    this.name = 'KubeRequestError'
    this.status = status
    this.timedOut = options.timedOut === true
  }
}

export interface ClientNodeKubeApiOptions {
  /**
   * Server-side watch timeout, randomised between this and twice this (client-go does the same),
   * so a half-dead connection is replaced eventually. Default 300 s.
   */
  watchTimeoutSeconds?: number
}

/** The real {@link KubeApi}: client-node's CustomObjectsApi for list/patch and its Watch for watches. */
export class ClientNodeKubeApi implements KubeApi {
  readonly #kc: k8s.KubeConfig
  readonly #objects: k8s.CustomObjectsApi
  readonly #watch: k8s.Watch
  readonly #timeout: number

  constructor(kc: k8s.KubeConfig, options: ClientNodeKubeApiOptions = {}) {
    this.#kc = kc
    this.#objects = kc.makeApiClient(k8s.CustomObjectsApi)
    this.#watch = new k8s.Watch(kc)
    this.#timeout = options.watchTimeoutSeconds ?? 300
  }

  async list(resource: KubeResource, page?: PageRequest): Promise<KubeList> {
    return listPage((options) => this.#objects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: resource, ...pageQuery(page) }, options))
  }

  async watch(resource: KubeResource, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle> {
    return watchPath(this.#watch, `/apis/${GROUP}/${VERSION}/${resource}`, resourceVersion, handlers, { timeoutSeconds: this.#timeout })
  }

  async patchDeviceStatus(namespace: string, name: string, patch: object): Promise<unknown> {
    return wrap(() =>
      this.#objects.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: 'devices', name, body: patch },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    )
  }

  /** The API server URL, for logs. */
  get server(): string {
    return this.#kc.getCurrentCluster()?.server ?? ''
  }
}

/**
 * A watch of `path` from `resourceVersion` with bookmarks, its server-side timeout randomised
 * between `timeoutSeconds` (default 300) and twice that, as client-go does, so a half-dead
 * connection is replaced eventually; `query` adds selectors. Once it carries bookmarks, a watch
 * with no line for `kube.watchSilenceMs` is ended as silent (watch-silence.ts), with a
 * KubeRequestError that has `timedOut`.
 */
export async function watchPath(watch: k8s.Watch, path: string, resourceVersion: string, handlers: WatchHandlers, options: { timeoutSeconds?: number; query?: Record<string, string> } = {}): Promise<WatchHandle> {
  const timeout = options.timeoutSeconds ?? 300
  const query = { ...options.query, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: timeout + Math.floor(Math.random() * timeout) }
  // the watch may end before its controller is returned
  const watching: { controller?: AbortController; deadline?: NodeJS.Timeout; ended?: boolean } = {}
  const silence = new WatchSilence(watch.config, `${path}?${new URLSearchParams(options.query).toString()}`, () => watching.controller?.abort())
  const onLine = (type: string, object: unknown): void => {
    silence.line(type)
    if (type === 'ERROR') handlers.event({ type, status: (object ?? {}) })
    else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK') handlers.event({ type, object })
  }
  const onDone = (err: unknown): void => {
    watching.ended = true
    clearTimeout(watching.deadline)
    silence.stop()
    if (silence.silent) handlers.done(new KubeRequestError(`no event or bookmark for ${silence.silenceMs} ms: the watch's connection is taken as dead`, undefined, { cause: err, timedOut: true }))
    else handlers.done(err === null || err === undefined ? undefined : toRequestError(err))
  }
  const controller = await watch.watch(path, query, onLine, onDone)
  watching.controller = controller
  if (silence.silent) controller.abort()
  // the server ends the watch at its timeout; one still open well past it is on a dead connection
  if (watching.ended !== true) watching.deadline = setTimeout(() => controller.abort(), (query.timeoutSeconds + Math.min(WATCH_DEADLINE_GRACE_SECONDS, timeout)) * 1000).unref()
  return {
    stop: () => {
      clearTimeout(watching.deadline)
      silence.stop()
      controller.abort()
    },
  }
}

/** How long past its server-side timeout a watch may stay open before the client ends it itself (at most that timeout). */
export const WATCH_DEADLINE_GRACE_SECONDS = 30

/** Runs a client-node call, turning its failures into KubeRequestErrors. */
export async function wrap<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw toRequestError(err)
  }
}

/** Runs a client-node call; undefined when the object is not there (404). */
export async function orUndefined<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await wrap(call)
  } catch (err) {
    if ((err as KubeRequestError).status === 404) return undefined
    throw err
  }
}

export function toRequestError(err: unknown): KubeRequestError {
  if (err instanceof KubeRequestError) return err
  if (err instanceof k8s.ApiException) {
    const body = err.body as { message?: unknown } | string | undefined
    const detail = typeof body === 'object' && body !== null && typeof body.message === 'string' ? body.message : `HTTP ${err.code}`
    return new KubeRequestError(detail, err.code, { cause: err })
  }
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown; name?: unknown }
  // node-fetch's answer to the request's signal: only a time limit aborts tern cloud's requests
  if (e.name === 'AbortError') return new KubeRequestError('the API server did not answer in time', undefined, { cause: err, timedOut: true })
  const status = typeof e.statusCode === 'number' ? e.statusCode : typeof e.code === 'number' ? e.code : undefined
  return new KubeRequestError(typeof e.message === 'string' ? e.message : String(err), status, { cause: err })
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token'

/**
 * The kubeconfig `tern cloud` uses: the explicit file; else `$KUBECONFIG` or `~/.kube/config`; else
 * the in-cluster service account (client-node's loadFromDefault order). Throws
 * CLOUD_KUBE_UNAVAILABLE when there is none, where client-node would silently fall back to
 * http://localhost:8080, and CLOUD_CONFIG_INVALID when the file cannot be read or parsed. Every
 * client made from it (API clients and watches alike, whenever they are made) shares one
 * keep-alive agent with at most {@link API_CONNECTIONS} connections: the bound belongs to the
 * cluster's credentials, not to whichever client happens to be made first.
 */
export function loadKubeConfig(kubeconfig?: string, options: KubeConnectionOptions = {}): k8s.KubeConfig {
  const kc = new k8s.KubeConfig()
  try {
    if (kubeconfig !== undefined && kubeconfig !== '') kc.loadFromFile(kubeconfig)
    else {
      const home = process.env.HOME ?? process.env.USERPROFILE
      const found = (process.env.KUBECONFIG ?? '') !== '' || (home !== undefined && existsSync(join(home, '.kube', 'config'))) || existsSync(SERVICE_ACCOUNT_TOKEN)
      if (!found) throw new TernError('CLOUD_KUBE_UNAVAILABLE', 'no kubeconfig: give --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a cluster')
      kc.loadFromDefault()
    }
  } catch (err) {
    if (err instanceof TernError) throw err
    throw new TernError('CLOUD_CONFIG_INVALID', `cannot load the kubeconfig: ${(err as Error).message}`, { cause: err })
  }
  if (kc.getCurrentCluster() === null) throw new TernError('CLOUD_KUBE_UNAVAILABLE', 'the kubeconfig has no current cluster')
  shareConnections(kc, options.requestTimeoutMs ?? API_REQUEST_TIMEOUT_MS)
  setWatchSilence(kc, options.watchSilenceMs ?? WATCH_SILENCE_MS)
  return kc
}

/** The time limits of `kube.*` for the clients made from one kubeconfig. */
export interface KubeConnectionOptions {
  /** see {@link API_REQUEST_TIMEOUT_MS} */
  requestTimeoutMs?: number
  /** see {@link WATCH_SILENCE_MS} */
  watchSilenceMs?: number
}

type AgentFactory = (cluster: k8s.Cluster | null, options: AgentOptions) => Agent

/**
 * Connections to one API server at most (its watches, ~6, included); more requests wait for one.
 * Without a bound, 1,000 edge nodes connecting at once made as many requests at once, each on a
 * connection of its own, that then sat idle between Lease renewals; the API server closed them
 * (idle timeout) as the cloud reused them, and every such request failed with "socket hang up"
 * (bench/cloud-workloads.ts: a third of the Node status writes). A kube-apiserver also answers
 * 429 beyond its --max-requests-inflight.
 */
export const API_CONNECTIONS = 64

/**
 * An idle connection is closed by tern cloud first: a second before the server's announced
 * `Keep-Alive: timeout` (Node applies that hint only below an agent timeout), else after this
 * long. A request sent on a connection the server is closing fails with "socket hang up"; on a
 * busy machine the cloud notices the server's close late, so that race was lost often.
 */
export const API_IDLE_MS = 30_000

/**
 * A request (watches aside) not answered in full after this long is given up (a KubeRequestError
 * with `timedOut`), its connection closed: on a connection that went silent (a vanished route, a
 * stuck proxy or API server) it would otherwise wait for TCP to give up, 15 min and more, and hold
 * up whatever waits for it (a node's Lease renewals). `kube.requestTimeoutMs` sets it.
 */
export const API_REQUEST_TIMEOUT_MS = 60_000

/**
 * client-node 1.4 builds a new Agent for every request (`KubeConfig.createAgent`, called from
 * `applySecurityAuthentication`), so every status patch opened a new TCP connection and TLS
 * handshake — thousands of sockets in TIME_WAIT at a few hundred patches/s. This keeps one
 * keep-alive agent per cluster and credentials on this KubeConfig, with at most
 * {@link API_CONNECTIONS} connections, for every client made from it before or after (idempotent;
 * {@link loadKubeConfig} applies it). `createAgent` is private in client-node's types;
 * test/cloud-sync/cloud-connections.test.ts fails if it stops being called.
 */
function shareConnections(kc: k8s.KubeConfig, requestTimeoutMs: number): void {
  const target = kc as unknown as { createAgent: AgentFactory; applySecurityAuthentication: (context: k8s.RequestContext) => Promise<void>; ternAgents?: Map<string, Agent> }
  if (target.ternAgents !== undefined) return
  const make = target.createAgent.bind(kc)
  const agents = new Map<string, Agent>()
  target.ternAgents = agents
  // every API call's request passes here (watches do not: they last by design); a call's own
  // middleware (requestTimeout) runs after it and may set a shorter limit
  const authenticate = target.applySecurityAuthentication.bind(kc)
  target.applySecurityAuthentication = async (context) => {
    await authenticate(context)
    context.setSignal(AbortSignal.timeout(requestTimeoutMs))
  }
  target.createAgent = (cluster, options) => {
    // Called for every request: a cheap key (JSON of a Buffer is an array of its bytes).
    const parts = [cluster?.server, cluster?.proxyUrl, options.ca, options.cert, options.key, options.pfx, options.passphrase, options.rejectUnauthorized]
    const key = parts.map(keyPart).join('\u0000')
    let agent = agents.get(key)
    if (agent === undefined) {
      agent = make(cluster, { ...options, keepAlive: true, maxSockets: API_CONNECTIONS, timeout: API_IDLE_MS })
      agents.set(key, agent)
    }
    return agent
  }
}

/**
 * Closes every connection `kc`'s clients hold to the API server, in use or idle, as the kubelet
 * does when a heartbeat fails (its `closeAllConns`): requests in flight fail, watches end and are
 * resumed, and what comes next opens new connections instead of queueing behind dead ones.
 * Returns how many were closed.
 */
export function closeApiConnections(kc: k8s.KubeConfig): number {
  let closed = 0
  for (const agent of (kc as unknown as { ternAgents?: Map<string, Agent> }).ternAgents?.values() ?? []) {
    for (const sockets of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) {
      for (const socket of sockets ?? []) {
        socket.destroy()
        closed++
      }
    }
  }
  return closed
}

/** A middleware step that hands its context on as it is. */
function passOn<T>(context: T): k8s.Observable<T> {
  return new k8s.Observable(Promise.resolve(context))
}

/** Call options giving one client-node call a shorter time limit than {@link API_REQUEST_TIMEOUT_MS}. */
export function requestTimeout(ms: number): k8s.ConfigurationOptions<k8s.ObservableMiddleware> {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(AbortSignal.timeout(ms))
          return passOn(context)
        },
        post: passOn,
      },
    ],
    middlewareMergeStrategy: 'append',
  }
}

function keyPart(part: unknown): string {
  if (Buffer.isBuffer(part)) return part.toString('latin1')
  if (Array.isArray(part)) return part.map(keyPart).join('\u0001')
  return typeof part === 'string' ? part : (JSON.stringify(part) ?? '')
}
