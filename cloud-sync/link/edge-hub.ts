/**
 * EdgeHub: the edge end of the cloud–edge link (kubeedge-compat.md §5.4). It dials CloudHub at
 * `<url>/<projectId>/<node>/events` (edges sit behind NAT, so the edge always dials), keeps one
 * {@link Session} open, and redials forever with capped exponential back-off and jitter. Every
 * `heartbeatMs` it sends KubeEdge's keepalive `ping`; CloudHub answers `pong`, so a link on which
 * nothing arrived for `keepaliveTimeoutMs` is dead and is cut and redialled.
 *
 * Failures are logged once per streak at error level (CLOUD_CONNECT_FAILED, or CLOUD_AUTH_FAILED
 * for a 401/403, after which it retries at the back-off cap: a wrong secret does not fix itself
 * quickly, with the code and reason CloudHub gave); every further attempt of the streak is logged
 * at debug. A 403 NODE_REVOKED is final until the node joins again: logged as such, and redialled
 * only every `revokedRetryMs`.
 */
import type { Logger } from 'pino'
import WebSocket from 'ws'
import { realClock, type Clock, type TimerHandle } from '../../mappers/runtime/clock.js'
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from '../../mappers/runtime/backoff.js'
import { TernError, type ErrorCode } from '../../schemas/tern-error.js'
import { keepalive, Sources } from '../messages.js'
import { Session } from '../session.js'
import { bearer, isBearerSecret } from './auth.js'
import { socketClosed, terminateAfter } from './close.js'
import { every, watchKeepalive } from './keepalive.js'
import { CloseCodes, DEFAULT_MAX_PAYLOAD, DEFAULT_PROJECT_ID, EDGE_CAPABILITIES, eventsPath, Headers, isNodeName, isProjectId } from './protocol.js'
import { wsWire } from './ws-wire.js'

export interface EdgeHubOptions {
  /** CloudHub's address, `wss://host:port` (`ws://` only for tests); the path is set from projectId and node */
  url: string
  /** this node's name (DNS-1123 subdomain) */
  node: string
  /** default KubeEdge's `e632aba927ea4ac2b575ec1603d56f10` */
  projectId?: string
  /** the node's certificate and key (PEM): mutual TLS, the normal way a node proves who it is */
  identity?: { cert: string | Buffer; key: string | Buffer }
  /** without `identity`, for development: a shared secret sent as `Authorization: Bearer <secret>` */
  secret?: string
  /** CA certificate(s) (PEM) that signed CloudHub's certificate; the system CAs when absent */
  ca?: string | Buffer
  /** send a keepalive this often (default 15 000 ms, KubeEdge's heartbeat) */
  heartbeatMs?: number
  /** cut the link when nothing arrived for this long (default 2 × heartbeatMs: two unanswered keepalives) */
  keepaliveTimeoutMs?: number
  /** give up an opening handshake (TCP, TLS, HTTP upgrade) after this long (default 10 000 ms) */
  handshakeTimeoutMs?: number
  /** redial back-off (default 1 s doubling to 60 s, full jitter above the floor) */
  backoff?: Partial<BackoffOptions>
  /** redial this long after CloudHub said the node is revoked (default 10 minutes) */
  revokedRetryMs?: number
  /** re-send an unanswered request after this long (default: Session's, 5000 ms) */
  resendMs?: number
  /** largest frame accepted, bytes (default 16 MiB) */
  maxPayload?: number
  /** how long the hub may take to answer a close before the socket is cut (default 2000 ms) */
  closeGraceMs?: number
  log: Logger
  /** called with every new session (after each connect) */
  onSession(session: Session): void
  clock?: Clock
  random?: () => number
}

interface Waiter {
  resolve(session: Session): void
  reject(err: Error): void
}

export class EdgeHub {
  readonly #o: EdgeHubOptions & Required<Pick<EdgeHubOptions, 'projectId' | 'heartbeatMs' | 'handshakeTimeoutMs' | 'maxPayload' | 'closeGraceMs' | 'revokedRetryMs' | 'clock'>>
  readonly #log: Logger
  readonly #backoffOptions: BackoffOptions
  readonly #backoff: Backoff
  readonly #waiters: Waiter[] = []
  #url: URL | undefined
  #socket: WebSocket | undefined
  #session: Session | undefined
  #retry: TimerHandle | undefined
  /** the code of the failure streak going on, if any */
  #failing: ErrorCode | undefined
  #stopping: Promise<void> | undefined
  #identity: { cert: string | Buffer; key: string | Buffer } | undefined
  /** the socket switchIdentity closed: its close redials at once with the renewed certificate, not after back-off */
  #switchedFrom: WebSocket | undefined

  constructor(options: EdgeHubOptions) {
    this.#o = { projectId: DEFAULT_PROJECT_ID, heartbeatMs: 15_000, handshakeTimeoutMs: 10_000, maxPayload: DEFAULT_MAX_PAYLOAD, closeGraceMs: 2000, revokedRetryMs: 600_000, clock: realClock, ...options }
    this.#log = options.log.child({ part: 'edgehub', node: options.node })
    this.#backoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff }
    this.#backoff = new Backoff(this.#backoffOptions, options.random)
    this.#identity = options.identity
  }

  /**
   * Connects with `identity` from now on: the open session is closed (4004) and the hub redialled
   * at once with it. Requests in flight on the old session reject with CLOUD_LINK_CLOSED; their
   * owners (the outbox) send them again on the new one.
   */
  switchIdentity(identity: { cert: string | Buffer; key: string | Buffer }): void {
    this.#identity = identity
    const socket = this.#socket
    if (socket === undefined || this.#stopping !== undefined) return
    this.#switchedFrom = socket
    this.#session?.close(CloseCodes.renewed, 'certificate renewed')
    terminateAfter(socket, this.#o.closeGraceMs, this.#o.clock)
  }

  /** The certificate and key the hub dials with now (a renewal switches them). */
  get identity(): { cert: string | Buffer; key: string | Buffer } | undefined {
    return this.#identity
  }

  /** The project ID the hub dials with. */
  get projectId(): string {
    return this.#o.projectId
  }

  /** A session is open now. */
  get connected(): boolean {
    return this.#session?.open === true
  }

  /** The open session, if any. */
  get session(): Session | undefined {
    return this.connected ? this.#session : undefined
  }

  /** Resolves with the next session that opens (not the current one); rejects with CLOUD_LINK_CLOSED on stop(). */
  nextSession(): Promise<Session> {
    if (this.#stopping !== undefined) return Promise.reject(stopped(this.#o.node))
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  /**
   * Starts dialling and returns at once; the cloud being down is not an error here. Throws
   * CLOUD_CONFIG_INVALID for a bad URL, node name, project ID or secret.
   */
  start(): Promise<void> {
    if (this.#url !== undefined || this.#stopping !== undefined) return Promise.reject(new Error('EdgeHub.start() called twice or after stop()'))
    const target = this.#target()
    if (!target.ok) return Promise.reject(target.error)
    this.#url = target.url
    this.#dial()
    return Promise.resolve()
  }

  /** Closes the session (1001) and stops redialling. Idempotent; safe after a failed start. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop(): Promise<void> {
    if (this.#retry !== undefined) this.#o.clock.clearTimeout(this.#retry)
    this.#retry = undefined
    for (const waiter of this.#waiters.splice(0)) waiter.reject(stopped(this.#o.node))
    const socket = this.#socket
    if (socket === undefined) return
    this.#session?.close(CloseCodes.goingAway, 'edgehub stopping')
    terminateAfter(socket, this.#o.closeGraceMs, this.#o.clock)
    await socketClosed(socket)
    this.#log.info('EdgeHub stopped')
  }

  #target(): { ok: true; url: URL } | { ok: false; error: TernError } {
    const { node, projectId, url, secret } = this.#o
    const invalid = (message: string): { ok: false; error: TernError } => ({ ok: false, error: new TernError('CLOUD_CONFIG_INVALID', message) })
    if (!isNodeName(node)) return invalid(`node name ${JSON.stringify(node)} is not a DNS-1123 subdomain of at most 253 characters`)
    if (!isProjectId(projectId)) return invalid(`project ID ${JSON.stringify(projectId)} is not valid`)
    if (this.#identity === undefined && (secret === undefined || !isBearerSecret(secret))) return invalid('the node has no certificate (tern join), and no shared secret of visible ASCII without spaces')
    if (!URL.canParse(url)) return invalid(`cloud URL ${JSON.stringify(url)} is not a URL`)
    const target = new URL(url)
    if (target.protocol !== 'wss:' && target.protocol !== 'ws:') return invalid(`cloud URL ${url} is not wss://host:port`)
    target.pathname = eventsPath(projectId, node)
    target.search = ''
    target.hash = ''
    return { ok: true, url: target }
  }

  #dial(): void {
    this.#retry = undefined
    if (this.#stopping !== undefined) return
    const { node, projectId, secret, ca } = this.#o
    const identity = this.#identity
    const socket = new WebSocket(this.#url as URL, {
      headers: { [Headers.nodeId]: node, [Headers.projectId]: projectId, [Headers.capabilities]: EDGE_CAPABILITIES.join(','), ...(identity === undefined && secret !== undefined ? { Authorization: bearer(secret) } : {}) },
      ...(ca === undefined ? {} : { ca }),
      ...(identity === undefined ? {} : { cert: identity.cert, key: identity.key }),
      handshakeTimeout: this.#o.handshakeTimeoutMs,
      maxPayload: this.#o.maxPayload,
      perMessageDeflate: false,
      followRedirects: false,
    })
    this.#socket = socket
    let status: number | undefined
    let error: Error | undefined
    let session: Session | undefined
    let refusal: Refusal | undefined
    socket.on('unexpected-response', (_request, response) => {
      status = response.statusCode
      // CloudHub says why in a small JSON body ({code, reason}); read a little of it, then cut.
      const chunks: Buffer[] = []
      let size = 0
      let read = false
      const done = (): void => {
        if (read) return
        read = true
        refusal = parseRefusal(Buffer.concat(chunks).toString('utf8'))
        socket.terminate()
      }
      const timer = this.#o.clock.setTimeout(done, REFUSAL_READ_MS)
      response.on('data', (chunk: Buffer) => {
        if (size >= REFUSAL_MAX_BYTES) return
        chunks.push(chunk)
        size += chunk.length
      })
      response.once('end', () => {
        this.#o.clock.clearTimeout(timer)
        done()
      })
      response.once('error', () => {
        this.#o.clock.clearTimeout(timer)
        done()
      })
    })
    socket.on('error', (err) => {
      error ??= err
    })
    socket.on('open', () => {
      session = this.#opened(socket)
    })
    socket.on('close', (code, reason) => {
      if (this.#socket === socket) this.#socket = undefined
      // A switch closes the socket it finds, whether its session is open yet or it is still
      // dialling; a flag left set by a dial the switch cut made a later, unrelated loss skip
      // the back-off.
      const switched = this.#switchedFrom === socket
      if (switched) this.#switchedFrom = undefined
      if (this.#stopping !== undefined) return
      if (switched && refusal === undefined) this.#redialSwitched(code, reason.toString('utf8'))
      else if (session !== undefined) this.#lost(code, reason.toString('utf8'))
      else this.#failed(status, error, refusal)
    })
  }

  #opened(socket: WebSocket): Session {
    const { clock, node } = this.#o
    this.#backoff.succeeded(clock.now())
    const recovered = this.#failing !== undefined
    this.#failing = undefined
    const log = this.#log
    const session = new Session(wsWire(socket, log), { node, source: Sources.edge, log, clock, ...(this.#o.resendMs === undefined ? {} : { resendMs: this.#o.resendMs }) })
    this.#session = session
    every(session, { intervalMs: this.#o.heartbeatMs, clock, tick: () => session.send(keepalive('ping')) })
    watchKeepalive(session, {
      timeoutMs: this.#o.keepaliveTimeoutMs ?? 2 * this.#o.heartbeatMs,
      clock,
      onTimeout: (silentMs) => {
        log.warn({ code: 'CLOUD_KEEPALIVE_TIMEOUT', silentMs }, 'CloudHub sent nothing within the keepalive timeout; reconnecting')
        session.close(CloseCodes.keepaliveTimeout, 'keepalive timeout')
        terminateAfter(socket, this.#o.closeGraceMs, clock)
      },
    })
    log.info({ url: this.#url?.href, recovered }, 'connected to CloudHub')
    try {
      this.#o.onSession(session)
    } catch (err) {
      log.error({ err }, 'onSession threw')
    }
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(session)
    return session
  }

  #redialSwitched(code: number, reason: string): void {
    this.#log.info({ closeCode: code, reason }, 'reconnecting with the renewed certificate')
    this.#schedule(0)
  }

  #lost(code: number, reason: string): void {
    const delayMs = this.#backoff.next(this.#o.clock.now())
    this.#log.warn({ closeCode: code, reason, delayMs }, 'link to CloudHub closed; redialling')
    this.#schedule(delayMs)
  }

  #failed(status: number | undefined, error: Error | undefined, refusal: Refusal | undefined): void {
    if (status === 403 && refusal?.code === 'NODE_REVOKED') {
      // Final until the operator joins the node again (a new key, a new process): knocking on at full speed helps nobody.
      const delayMs = this.#o.revokedRetryMs
      const detail = { code: 'NODE_REVOKED' satisfies ErrorCode, status, reason: refusal.reason, delayMs }
      if (this.#failing !== 'NODE_REVOKED') this.#log.error(detail, 'CloudHub says this node is revoked and refuses its certificate; join it again with a new token (tern reset, tern gettoken, tern join); retrying only every few minutes meanwhile')
      else this.#log.debug(detail, 'connect attempt failed')
      this.#failing = 'NODE_REVOKED'
      this.#schedule(delayMs)
      return
    }
    const auth = status === 401 || status === 403
    const code: ErrorCode = auth ? 'CLOUD_AUTH_FAILED' : 'CLOUD_CONNECT_FAILED'
    const next = this.#backoff.next(this.#o.clock.now())
    const delayMs = auth ? this.#backoffOptions.maxMs : next
    const said = refusal === undefined ? {} : { cloudCode: refusal.code, reason: refusal.reason }
    const detail = { code, status, ...said, err: status === undefined ? error : undefined, attempt: this.#backoff.attempt, delayMs }
    if (this.#failing !== code) this.#log.error(detail, auth ? 'CloudHub refused the credentials; retrying at the back-off cap' : 'cannot connect to CloudHub; retrying with back-off')
    else this.#log.debug(detail, 'connect attempt failed')
    this.#failing = code
    this.#schedule(delayMs)
  }

  #schedule(delayMs: number): void {
    if (this.#stopping !== undefined) return
    this.#retry = this.#o.clock.setTimeout(() => this.#dial(), delayMs)
  }
}

/** What CloudHub said when it refused the upgrade (its JSON body), when it said anything readable. */
interface Refusal {
  code: string | undefined
  reason: string | undefined
}

/** How much of a refusal's body is read, and for how long. */
const REFUSAL_MAX_BYTES = 4096
const REFUSAL_READ_MS = 2000

function parseRefusal(body: string): Refusal | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(body)
  } catch {
    return undefined
  }
  if (typeof doc !== 'object' || doc === null) return undefined
  const { code, reason } = doc as { code?: unknown; reason?: unknown }
  return { code: typeof code === 'string' ? code.slice(0, 64) : undefined, reason: typeof reason === 'string' ? reason.slice(0, 512) : undefined }
}

function stopped(node: string): TernError {
  return new TernError('CLOUD_LINK_CLOSED', `EdgeHub of node ${node} is stopping`)
}
