/**
 * tern cloud's kubelet stream endpoint: what the API server calls a node's kubelet for pods/log,
 * pods/exec, pods/attach and pods/portforward (kubelet-paths.ts), served for every tern node at
 * one address (the Nodes' daemonEndpoints point here) and carried to the pod's node through its
 * stream tunnel. HTTPS; the caller authenticates as the API server does to a kubelet, with a
 * client certificate (its --kubelet-client-certificate) of `clientCA`. The node a request goes to
 * is the pod's `spec.nodeName` as tern cloud's pod informer has it (the workload downlink's watch,
 * so a request costs the API server nothing more), never anything in the request, so a node is
 * only ever asked for its own pods (and checks that it runs them). A node has at most
 * `maxPerNode` streams open at once (tunnels.ts); the next request is refused.
 *
 * Logs are answered as HTTP responses; exec, attach and port-forward are upgraded connections
 * (SPDY, or a WebSocket channel protocol) passed through byte for byte to the runtime's streaming
 * server at the edge, as the kubelet proxies them: the protocol is between kubectl/the API server
 * and containerd.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import { isErrorCode } from '../../schemas/errors.js'
import { TernError, type ErrorCode } from '../../schemas/tern-error.js'
import * as checks from '../../schemas/generated/validators.js'
import type { StreamReply, StreamRequest } from '../../schemas/stream-tunnel.js'
import { validator } from '../../schemas/validate.js'
import type { BoundPods } from '../cloud/pod-uplink.js'
import { LOG_QUERY_KEYS, parseKubeletPath, type KubeletTarget } from './kubelet-paths.js'
import type { TunnelStream } from './mux.js'
import type { Tunnels } from './tunnels.js'

const validateReply = validator(checks.StreamReply)

export interface StreamServerOptions {
  host: string
  port: number
  tls: { cert: string | Buffer; key: string | Buffer }
  /** CA(s) of the client certificates accepted (the API server's kubelet client certificate) */
  clientCA: string | Buffer
  /** when not empty, only client certificates with one of these CNs */
  allowedNames: readonly string[]
  /** pods bound to a node: the workload downlink's pod informer */
  pods: Pick<BoundPods, 'synced' | 'get'>
  tunnels: Tunnels
  /** how long the edge may take to answer a new stream, ms */
  replyTimeoutMs?: number
  log: Logger
}

/** Hop-by-hop and routing headers the edge does not pass on to the runtime's streaming server. */
const NOT_FORWARDED = new Set(['host', 'authorization', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-remote-user', 'x-remote-group', 'proxy-authorization'])

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export class StreamServer {
  readonly #o: StreamServerOptions
  readonly #log: Logger
  #server: Server | undefined
  readonly #sockets = new Set<Duplex>()

  constructor(options: StreamServerOptions) {
    this.#o = options
    this.#log = options.log.child({ part: 'stream-server' })
  }

  async start(): Promise<AddressInfo> {
    const { tls, clientCA, host, port } = this.#o
    // the certificate is asked for and checked here; a request without one gets a 401, as a kubelet answers
    const server = createServer({ cert: tls.cert, key: tls.key, ca: clientCA, requestCert: true, rejectUnauthorized: false })
    this.#server = server
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void this.#request(request, response))
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => void this.#upgrade(request, socket, head))
    server.on('tlsClientError', (err) => this.#log.debug({ err }, 'TLS handshake with a client failed'))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port }, () => {
        server.off('error', reject)
        resolve()
      })
    }).catch((err: unknown) => {
      throw new TernError('CLOUD_LISTEN_FAILED', `the stream endpoint cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err })
    })
    const address = server.address() as AddressInfo
    this.#log.info({ address: address.address, port: address.port }, 'kubelet stream endpoint listening')
    return address
  }

  /** Serves a new certificate from now on (CloudHub's, renewed). */
  setCertificate(tls: { cert: string | Buffer; key: string | Buffer }): void {
    this.#server?.setSecureContext({ cert: tls.cert, key: tls.key, ca: this.#o.clientCA })
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    this.#server = undefined
    for (const socket of this.#sockets) socket.destroy()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    await closed
  }

  /** Who called, or the refusal. */
  #authenticate(request: IncomingMessage): Refusal | undefined {
    const socket = request.socket as TLSSocket
    if (!socket.authorized) return new Refusal(401, 'STREAM_UNAUTHORIZED', 'Unauthorized: a client certificate of the API server is required')
    const { allowedNames } = this.#o
    const cn = socket.getPeerCertificate().subject?.CN
    const name = Array.isArray(cn) ? cn[0] : cn
    if (allowedNames.length > 0 && (name === undefined || !allowedNames.includes(name))) return new Refusal(403, 'STREAM_FORBIDDEN', `Forbidden: ${name ?? 'a certificate without CN'} may not use the stream endpoint`)
    return undefined
  }

  /** The node that runs the target's pod, as the pod informer has it (the cache keeps bound pods only). */
  #route(target: KubeletTarget): string {
    const { pods, tunnels } = this.#o
    const what = `pod ${target.namespace}/${target.pod}`
    if (!pods.synced) throw new Refusal(503, 'CLOUD_KUBE_UNAVAILABLE', `tern cloud has not listed the cluster's pods yet; cannot route ${what}`)
    const pod = pods.get(target.namespace, target.pod)
    if (pod === undefined) throw new Refusal(404, 'STREAM_POD_NOT_FOUND', `${what} not found, or not bound to a node`)
    if ('uid' in target && target.uid !== undefined && target.uid !== pod.metadata.uid) throw new Refusal(404, 'STREAM_POD_NOT_FOUND', `${what} has another uid than ${target.uid}`)
    const node = pod.spec.nodeName ?? ''
    if (!tunnels.has(node)) throw new Refusal(503, 'STREAM_NODE_UNAVAILABLE', `node ${node} of ${what} has no stream tunnel open (not connected to tern cloud)`)
    return node
  }

  /**
   * Opens the stream and waits for the edge's reply; a refusal when it says no. `gone` is the
   * caller's connection closing: from then on the stream is closed (a waiting one at once), so a
   * client that leaves at any moment never leaves its stream holding one of the node's slots.
   */
  async #open(node: string, request: StreamRequest, gone: AbortSignal): Promise<TunnelStream> {
    if (gone.aborted) throw new Refusal(499, 'STREAM_CLOSED', 'the client closed the connection')
    const opened = this.#o.tunnels.open(node, request)
    if (!opened.ok) throw new Refusal(opened.code === 'STREAM_LIMIT_REACHED' ? 429 : 503, opened.code, opened.message)
    const stream = opened.stream
    const close = (): void => {
      stream.destroy()
    }
    gone.addEventListener('abort', close, { once: true })
    stream.once('close', () => gone.removeEventListener('abort', close))
    const timeoutMs = this.#o.replyTimeoutMs ?? 30_000
    const reply = await new Promise<StreamReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.destroy()
        reject(new Refusal(504, 'STREAM_NODE_UNAVAILABLE', `node ${node} did not answer within ${timeoutMs} ms`))
      }, timeoutMs)
      stream.once('reply', (doc: unknown) => {
        clearTimeout(timer)
        const checked = validateReply(doc)
        if (!checked.ok) {
          stream.destroy()
          reject(new Refusal(502, 'STREAM_PROTOCOL_ERROR', `node ${node} answered a stream with an invalid reply`))
        } else resolve(checked.value)
      })
      stream.once('error', (err) => {
        clearTimeout(timer)
        reject(new Refusal(502, 'STREAM_CLOSED', err.message))
      })
      stream.once('close', () => {
        clearTimeout(timer)
        reject(new Refusal(499, 'STREAM_CLOSED', 'the client closed the connection'))
      })
    })
    if (reply.status >= 300 && reply.status !== 101) {
      stream.destroy()
      const code = isErrorCode(reply.code) ? reply.code : 'STREAM_RUNTIME_FAILED'
      throw new Refusal(reply.status, code, reply.message ?? 'the node refused the request')
    }
    stream.removeAllListeners('error')
    return stream
  }

  async #request(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const log = this.#log.child({ url: request.url })
    const gone = new AbortController()
    response.once('close', () => gone.abort())
    try {
      const refused = this.#authenticate(request)
      if (refused !== undefined) throw refused
      const url = new URL(request.url ?? '/', 'https://stream.invalid')
      const target = parseKubeletPath(url.pathname)
      if (target === undefined) throw new Refusal(404, 'STREAM_REQUEST_INVALID', `${url.pathname} is not a kubelet path tern serves`)
      if (target.kind !== 'logs') throw new Refusal(400, 'STREAM_REQUEST_INVALID', `${target.kind} needs an upgraded connection (SPDY or WebSocket)`)
      if (request.method !== 'GET') throw new Refusal(405, 'STREAM_REQUEST_INVALID', `${request.method ?? ''} is not allowed on containerLogs`)
      const node = this.#route(target)
      const query = Object.fromEntries(LOG_QUERY_KEYS.flatMap((k) => (url.searchParams.has(k) ? [[k, url.searchParams.get(k) as string]] : [])))
      const stream = await this.#open(node, { kind: 'logs', namespace: target.namespace, pod: target.pod, container: target.container, query }, gone.signal)
      log.debug({ node, stream: stream.id }, 'logs stream opened')
      response.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' })
      response.flushHeaders()
      stream.pipe(response)
      stream.on('error', (err) => {
        log.debug({ err }, 'logs stream failed')
        response.destroy()
      })
    } catch (err) {
      const refusal = asRefusal(err, log)
      if (response.headersSent || gone.signal.aborted) response.destroy()
      else {
        const body = statusBody(refusal)
        response.writeHead(refusal.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body)
      }
    }
  }

  async #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const log = this.#log.child({ url: request.url })
    socket.on('error', (err) => log.debug({ err }, 'stream endpoint connection error'))
    const gone = new AbortController()
    socket.once('close', () => gone.abort())
    try {
      const refused = this.#authenticate(request)
      if (refused !== undefined) throw refused
      const url = new URL(request.url ?? '/', 'https://stream.invalid')
      const target = parseKubeletPath(url.pathname)
      if (target === undefined || target.kind === 'logs') throw new Refusal(404, 'STREAM_REQUEST_INVALID', `${url.pathname} is not an exec, attach or portForward path`)
      const node = this.#route(target)
      const headers: Array<[string, string]> = []
      for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
        const name = request.rawHeaders[i] as string
        if (!NOT_FORWARDED.has(name.toLowerCase())) headers.push([name, request.rawHeaders[i + 1] as string])
      }
      const stream = await this.#open(node, {
        kind: target.kind,
        namespace: target.namespace,
        pod: target.pod,
        container: target.kind === 'portforward' ? '' : target.container,
        ...(target.uid === undefined ? {} : { uid: target.uid }),
        query: [...url.searchParams.entries()],
        method: request.method ?? 'GET',
        headers,
      }, gone.signal)
      log.debug({ node, stream: stream.id, kind: target.kind }, 'upgraded stream opened')
      this.#sockets.add(socket)
      if (head.length > 0) stream.write(head)
      socket.pipe(stream).pipe(socket)
      const done = (): void => {
        this.#sockets.delete(socket)
        stream.destroy()
        socket.destroy()
      }
      socket.once('close', done)
      stream.on('error', done)
      stream.on('close', () => socket.end())
    } catch (err) {
      const refusal = asRefusal(err, log)
      if (!socket.writable) {
        socket.destroy()
        return
      }
      const body = statusBody(refusal)
      socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    }
  }
}

function asRefusal(err: unknown, log: Logger): Refusal {
  if (err instanceof Refusal) {
    log.info({ code: err.code, status: err.status }, `stream request refused: ${err.message}`)
    return err
  }
  log.error({ err }, 'stream request failed')
  return new Refusal(500, 'STREAM_RUNTIME_FAILED', (err as Error).message)
}

/** A metav1.Status, as the API server passes a kubelet's refusal on to kubectl. */
function statusBody(refusal: Refusal): string {
  const reason = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 429: 'TooManyRequests', 503: 'ServiceUnavailable' }[refusal.status] ?? 'InternalError'
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: refusal.message, reason, details: { causes: [{ reason: refusal.code }] }, code: refusal.status })
}
