/**
 * The edge end of the stream tunnel: a second WebSocket to CloudHub, `/<projectId>/<node>/streams`,
 * dialled with the node's own credentials whenever its session is open and closed with it (so a
 * renewed certificate or a revocation applies to both). A connection of its own, so that a
 * `kubectl logs -f` or a large `cat` never queues in front of the session's twin and status
 * messages (docs/cloud.md, "Streams"). The edge never listens: streams reach it through here.
 */
import type { Logger } from 'pino'
import WebSocket from 'ws'
import { bearer } from '../link/auth.js'
import { Headers, streamsPath } from '../link/protocol.js'
import type { Session } from '../session.js'
import { Mux, type TunnelStream } from './mux.js'

export interface EdgeTunnelOptions {
  /** CloudHub's address, as the session's (`wss://host:port`) */
  url: string
  node: string
  projectId: string
  /** the credentials the session was opened with, read at each dial */
  credentials: () => { identity?: { cert: string | Buffer; key: string | Buffer }; secret?: string }
  ca?: string | Buffer
  serve: (stream: TunnelStream, request: unknown) => void
  /** ping the tunnel this often, and close it when a ping goes unanswered (default 15 000 ms) */
  pingMs?: number
  log: Logger
}

/** Largest tunnel frame: a DATA frame of mux.ts's size, or a stream request with its headers. */
const MAX_FRAME = 1024 * 1024
/** wait before dialling a lost tunnel again while the session lives, ms */
const REDIAL_MS = 2000

export class EdgeTunnel {
  readonly #o: EdgeTunnelOptions
  readonly #log: Logger
  #mux: Mux | undefined
  #socket: WebSocket | undefined
  #session: Session | undefined
  #stopped = false

  constructor(options: EdgeTunnelOptions) {
    this.#o = options
    this.#log = options.log.child({ part: 'streams' })
  }

  /** Dials the tunnel for the given cloud link session, and closes it when that link session closes. */
  attach(session: Session): void {
    if (this.#stopped) return
    this.#session = session
    this.#dial()
    session.onClose(() => {
      if (this.#session === session) this.#close('session closed')
    })
  }

  get open(): boolean {
    return this.#mux !== undefined && !this.#mux.closed
  }

  stop(): void {
    this.#stopped = true
    this.#close('tern edge stopping')
  }

  #close(reason: string): void {
    this.#mux?.close(1000, reason)
    this.#socket?.terminate()
    this.#mux = undefined
    this.#socket = undefined
  }

  #dial(): void {
    this.#close('redialled')
    const { url, node, projectId, ca } = this.#o
    const { identity, secret } = this.#o.credentials()
    const target = new URL(url)
    target.pathname = streamsPath(projectId, node)
    const socket = new WebSocket(target, {
      headers: { [Headers.nodeId]: node, [Headers.projectId]: projectId, ...(identity === undefined && secret !== undefined ? { Authorization: bearer(secret) } : {}) },
      ...(ca === undefined ? {} : { ca }),
      ...(identity === undefined ? {} : { cert: identity.cert, key: identity.key }),
      handshakeTimeout: 10_000,
      maxPayload: MAX_FRAME,
      perMessageDeflate: false,
      followRedirects: false,
      // RFC 6455 §10.3: a client masks its frames so that an intermediary reading the plaintext
      // cannot be steered by their bytes. Inside TLS none reads it, and ws without its native addon
      // masks byte by byte in JavaScript, at both ends: ~0.25 s of each one's CPU per 100 MB of
      // exec output or logs, out of ~2 s (a zero mask is skipped by both)
      ...(target.protocol === 'wss:' ? { generateMask: (mask: Buffer) => void mask.fill(0) } : {}),
    })
    this.#socket = socket
    socket.on('unexpected-response', (_request, response) => {
      this.#log.warn({ status: response.statusCode }, 'CloudHub refused the stream tunnel; kubectl logs/exec cannot reach this node until the next connect')
      socket.terminate()
    })
    socket.on('error', (err) => this.#log.debug({ err }, 'stream tunnel error'))
    socket.on('close', () => {
      // a tunnel lost while its session lives is dialled again; the session's own redial covers the rest
      const session = this.#session
      if (this.#socket !== socket || this.#stopped || session?.open !== true) return
      setTimeout(() => {
        if (this.#socket === socket && !this.#stopped && session.open && this.#session === session) this.#dial()
      }, REDIAL_MS).unref()
    })
    socket.on('open', () => {
      if (this.#socket !== socket) return
      this.#mux = new Mux(socket, { onOpen: this.#o.serve, log: this.#log })
      this.#log.info('stream tunnel open')
      this.#keepalive(socket)
    })
  }

  #keepalive(socket: WebSocket): void {
    let answered = true
    socket.on('pong', () => {
      answered = true
    })
    const timer = setInterval(() => {
      if (!answered) {
        this.#log.warn({ code: 'CLOUD_KEEPALIVE_TIMEOUT' }, 'the stream tunnel did not answer a ping; closing it until the next connect')
        socket.terminate()
        return
      }
      answered = false
      socket.ping()
    }, this.#o.pingMs ?? 15_000)
    timer.unref()
    socket.on('close', () => clearInterval(timer))
  }
}
