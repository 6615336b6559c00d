/**
 * CloudHub: the cloud end of the cloud–edge link (kubeedge-compat.md §5.4). Edges dial
 * `wss://<host>:<port>/<projectId>/<node>/events`; the hub checks the path, the `node_id` /
 * `project_id` headers, the {@link Authenticator} and the session limit *before* upgrading, so a
 * refused edge gets a plain HTTP status (400, 401/403, 503) and never a session. Each accepted
 * connection becomes one {@link Session}, handed to `onSession`; a node has at most one, and a new
 * connection of a node replaces its old session (close code 4000). Keepalives are answered here
 * and never reach the controllers; a session with no frame for `keepaliveTimeoutMs` is closed.
 */
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import { realClock, type Clock, type TimerHandle } from '../../mappers/runtime/clock.js'
import { TernError, type ErrorCode } from '../../schemas/tern-error.js'
import { keepalive, Sources } from '../messages.js'
import { Session } from '../session.js'
import type { Authenticator, AuthResult } from './auth.js'
import { socketClosed, terminateAfter } from './close.js'
import { watchKeepalive } from './keepalive.js'
import { CloseCodes, DEFAULT_MAX_PAYLOAD, DEFAULT_PROJECT_ID, Headers, parseCapabilities, parseEventsPath } from './protocol.js'
import { wsWire } from './ws-wire.js'

export interface CloudHubOptions {
  /** address to bind, e.g. `0.0.0.0` */
  host: string
  /** port to bind; 0 lets the OS choose (KubeEdge: 10000) */
  port: number
  /**
   * Server certificate and key (PEM). Plain HTTP when absent: only for tests on loopback. With
   * `ca`, clients are asked for a certificate signed by it, but the TLS handshake does not insist:
   * the {@link Authenticator} decides (an mTLS one reads `request.socket.authorized` and the CN).
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer }
  authenticate: Authenticator
  /**
   * Plain HTTP requests (not upgrades) go here first: the bootstrap endpoints of node identity.
   * Returns false for a request it does not serve (answered 426 Upgrade Required).
   */
  serve?: (request: IncomingMessage, response: ServerResponse) => boolean
  /** first path segment edges must use (default KubeEdge's `e632aba927ea4ac2b575ec1603d56f10`) */
  projectId?: string
  /** most sessions at once; more are refused with 503 (default 1000) */
  sessionLimit?: number
  /** close a session that sent no frame for this long (default 30 000 ms, KubeEdge's keepaliveInterval) */
  keepaliveTimeoutMs?: number
  /** re-send an unanswered request after this long (default: Session's, 5000 ms) */
  resendMs?: number
  /** largest frame accepted, bytes (default 16 MiB); a bigger one closes the session with 1009 */
  maxPayload?: number
  /** how long a closing peer may take to answer the close before its socket is cut (default 2000 ms) */
  closeGraceMs?: number
  log: Logger
  /** called with every new session, after the one it replaces (if any) was closed */
  onSession(session: Session): void
  /**
   * Called with each authenticated stream tunnel (`/<projectId>/<node>/streams`, cloud-sync/streams/);
   * without it such a path is refused with 404.
   */
  onTunnel?(node: string, socket: WebSocket): void
  clock?: Clock
}

/** The longest delay a Node.js timer takes as given. */
const MAX_TIMER_MS = 2 ** 31 - 1

type Settings = Required<Omit<CloudHubOptions, 'tls' | 'resendMs' | 'serve' | 'onTunnel'>> & Pick<CloudHubOptions, 'tls' | 'resendMs' | 'serve' | 'onTunnel'>

type Refusal = Extract<AuthResult, { ok: false }> | { ok: false; status: 400 | 404 | 500 | 503; code: ErrorCode; reason: string }

export class CloudHub {
  readonly #o: Settings
  readonly #log: Logger
  readonly #sessions = new Map<string, Session>()
  readonly #sockets = new WeakMap<Session, WebSocket>()
  #server: Server | undefined
  #wss: WebSocketServer | undefined
  #listening: Promise<unknown> | undefined
  #stopping: Promise<void> | undefined

  constructor(options: CloudHubOptions) {
    this.#o = {
      projectId: DEFAULT_PROJECT_ID,
      sessionLimit: 1000,
      keepaliveTimeoutMs: 30_000,
      maxPayload: DEFAULT_MAX_PAYLOAD,
      closeGraceMs: 2000,
      clock: realClock,
      ...options,
    }
    this.#log = options.log.child({ part: 'cloudhub' })
  }

  /** The open session of each node. */
  get sessions(): ReadonlyMap<string, Session> {
    return this.#sessions
  }

  /** Listens; resolves with the bound address. Rejects with CLOUD_LISTEN_FAILED. */
  async start(): Promise<AddressInfo> {
    if (this.#server !== undefined || this.#stopping !== undefined) throw new Error('CloudHub.start() called twice or after stop()')
    const { tls, host, port } = this.#o
    // perMessageDeflate stays off: frames are small JSON, and zlib per session costs memory (ws docs).
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.#o.maxPayload, perMessageDeflate: false })
    const server = tls === undefined ? createHttpServer() : createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: false }) })
    this.#server = server
    this.#wss = wss
    server.on('request', (request, response) => {
      if (this.#o.serve?.(request, response) !== true) response.writeHead(426, { Connection: 'close', Upgrade: 'websocket' }).end()
    })
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(request, socket, head))
    server.on('tlsClientError', (err) => this.#log.debug({ err }, 'TLS handshake with a client failed'))
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.#listening = listening.catch(() => undefined)
    try {
      await listening
    } catch (err) {
      throw new TernError('CLOUD_LISTEN_FAILED', `CloudHub cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err })
    }
    server.on('error', (err) => this.#log.error({ err }, 'CloudHub server error'))
    const address = server.address() as AddressInfo
    this.#log.info({ address: address.address, port: address.port, tls: tls !== undefined }, 'CloudHub listening')
    return address
  }

  /** Closes every session (1001) and the server. Idempotent; safe after a failed start. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop(): Promise<void> {
    await this.#listening
    const server = this.#server
    const wss = this.#wss
    if (server === undefined || wss === undefined) return
    for (const session of [...this.#sessions.values()]) session.close(CloseCodes.goingAway, 'cloudhub stopping')
    const sockets = [...wss.clients]
    for (const socket of sockets) {
      if (socket.readyState === WebSocket.OPEN) socket.close(CloseCodes.goingAway, 'cloudhub stopping')
      terminateAfter(socket, this.#o.closeGraceMs, this.#o.clock)
    }
    await Promise.all(sockets.map(socketClosed))
    await new Promise<void>((resolve) => wss.close(() => resolve()))
    if (server.listening) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    }
    this.#log.info('CloudHub stopped')
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.#log.debug({ err }, 'socket error during the handshake'))
    void this.#admit(request).then((decision) => {
      if (!decision.ok) {
        this.#log.warn({ code: decision.code, status: decision.status, reason: decision.reason, url: request.url, remote: request.socket.remoteAddress }, 'edge connection refused')
        refuse(socket, decision)
        return
      }
      if (socket.destroyed || this.#stopping !== undefined) {
        socket.destroy()
        return
      }
      const wss = this.#wss as WebSocketServer
      const onTunnel = this.#o.onTunnel
      if (decision.kind === 'streams' && onTunnel !== undefined) {
        wss.handleUpgrade(request, socket, head, (ws) => onTunnel(decision.node, ws))
        return
      }
      wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, decision.node, request, decision.expiresAt, decision.identity))
    })
  }

  async #admit(request: IncomingMessage): Promise<{ ok: true; node: string; kind: 'events' | 'streams'; expiresAt?: number; identity?: string } | Refusal> {
    if (this.#stopping !== undefined) return { ok: false, status: 503, code: 'CLOUD_SESSION_LIMIT', reason: 'CloudHub is stopping' }
    const target = parseEventsPath(request.url ?? '')
    if (!target.ok) return { ok: false, status: 400, code: 'CLOUD_HANDSHAKE_INVALID', reason: target.reason }
    const { projectId, node, kind } = target
    if (kind === 'streams' && this.#o.onTunnel === undefined) return { ok: false, status: 404, code: 'CLOUD_HANDSHAKE_INVALID', reason: 'this CloudHub serves no stream tunnels' }
    if (projectId !== this.#o.projectId) return { ok: false, status: 400, code: 'CLOUD_HANDSHAKE_INVALID', reason: `unknown project ID ${projectId}` }
    for (const [header, expected] of [[Headers.nodeId, node], [Headers.projectId, projectId]] as const) {
      const value = request.headers[header]
      if (value !== undefined && value !== expected) return { ok: false, status: 400, code: 'CLOUD_HANDSHAKE_INVALID', reason: `header ${header} does not match the path` }
    }
    let auth: AuthResult
    try {
      auth = await this.#o.authenticate(request, node)
    } catch (err) {
      this.#log.error({ err, node }, 'authenticator threw')
      return { ok: false, status: 500, code: 'CLOUD_AUTH_FAILED', reason: 'authenticator failed' }
    }
    if (!auth.ok) return auth
    if (kind === 'events' && !this.#sessions.has(node) && this.#sessions.size >= this.#o.sessionLimit) {
      return { ok: false, status: 503, code: 'CLOUD_SESSION_LIMIT', reason: `${this.#sessions.size} sessions open, the limit` }
    }
    return { ok: true, node, kind, ...(auth.expiresAt === undefined ? {} : { expiresAt: auth.expiresAt }), ...(auth.identity === undefined ? {} : { identity: auth.identity }) }
  }

  /** Closes the node's session, if it has one (revocation). */
  closeNode(node: string, code: number, reason: string): boolean {
    const session = this.#sessions.get(node)
    if (session === undefined) return false
    this.#log.info({ node, code, reason }, 'closing the session of the node')
    this.#end(session, code, reason)
    return true
  }

  /** Serves a new certificate and key from now on (rotation); sessions open keep theirs. */
  setCertificate(tls: { cert: string | Buffer; key: string | Buffer }): void {
    const server = this.#server
    if (server === undefined || this.#o.tls === undefined || !('setSecureContext' in server)) throw new Error('CloudHub.setCertificate() needs a started TLS hub')
    const { ca } = this.#o.tls
    ;(server as HttpsServer).setSecureContext({ cert: tls.cert, key: tls.key, ...(ca === undefined ? {} : { ca }) })
  }

  #accept(socket: WebSocket, node: string, request: IncomingMessage, expiresAt: number | undefined, identity: string | undefined): void {
    const log = this.#log.child({ node })
    const { clock } = this.#o
    const session = new Session(wsWire(socket, log), { node, source: Sources.cloud, log, capabilities: parseCapabilities(request.headers[Headers.capabilities]), ...(identity === undefined ? {} : { identity }), clock, ...(this.#o.resendMs === undefined ? {} : { resendMs: this.#o.resendMs }) })
    const old = this.#sessions.get(node)
    if (old !== undefined) {
      log.info('a new connection of the node replaces its session')
      this.#end(old, CloseCodes.replaced, 'replaced')
    }
    this.#sessions.set(node, session)
    this.#sockets.set(session, socket)
    session.onClose((code, reason) => {
      if (this.#sessions.get(node) === session) this.#sessions.delete(node)
      log.info({ code, reason }, 'edge session closed')
    })
    session.onKeepalive((message) => {
      if (message.content === 'ping') session.send(keepalive('pong'))
    })
    watchKeepalive(session, {
      timeoutMs: this.#o.keepaliveTimeoutMs,
      clock,
      onTimeout: (silentMs) => {
        log.warn({ code: 'CLOUD_KEEPALIVE_TIMEOUT', silentMs }, 'edge sent nothing within the keepalive timeout; closing its session')
        this.#end(session, CloseCodes.keepaliveTimeout, 'keepalive timeout')
      },
    })
    if (expiresAt !== undefined) {
      // A session lives no longer than the credential it opened with; the node reconnects with its renewed one.
      let timer: TimerHandle | undefined
      const arm = (): void => {
        const left = expiresAt - clock.now()
        if (left > 0) {
          // timers fire at once past 2^31-1 ms (24.8 days): wait in steps
          timer = clock.setTimeout(arm, Math.min(left, MAX_TIMER_MS))
          return
        }
        log.info({ code: 'NODE_CERT_EXPIRED', identity }, 'the certificate of the session expired; closing it')
        this.#end(session, CloseCodes.credentialExpired, 'certificate expired')
      }
      arm()
      session.onClose(() => {
        if (timer !== undefined) clock.clearTimeout(timer)
      })
    }
    log.info({ remote: request.socket.remoteAddress, sessions: this.#sessions.size, ...(identity === undefined ? {} : { identity }) }, 'edge session opened')
    try {
      this.#o.onSession(session)
    } catch (err) {
      log.error({ err }, 'onSession threw')
    }
  }

  #end(session: Session, code: number, reason: string): void {
    session.close(code, reason)
    const socket = this.#sockets.get(session)
    if (socket !== undefined) terminateAfter(socket, this.#o.closeGraceMs, this.#o.clock)
  }
}

/** Answers a refused upgrade with a plain HTTP response (ws's own abortHandshake does the same). */
function refuse(socket: Duplex, refusal: Refusal): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = JSON.stringify({ code: refusal.code, reason: refusal.reason })
  const headers = [
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(refusal.status === 401 ? ['WWW-Authenticate: Bearer'] : []),
  ]
  socket.once('finish', () => socket.destroy())
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`)
}
