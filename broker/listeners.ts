/** Network listeners of the embedded broker: plain TCP, TLS, WebSocket and WebSocket over TLS. */
import { readFile } from 'node:fs/promises'
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http'
import { createServer as createNetServer, isIP, type Server as NetServer, type AddressInfo } from 'node:net'
import type { SecureContextOptions } from 'node:tls'
import type { Duplex } from 'node:stream'
import type { ListenerConfig } from '../schemas/config.js'
import { TernError } from '../schemas/tern-error.js'

export type ConnectionHandler = (stream: Duplex, listener: ResolvedListener, req?: IncomingMessage) => void

export interface ResolvedListener extends ListenerConfig {
  allowAnonymous: boolean
}

export interface BoundListener {
  protocol: ListenerConfig['protocol']
  host: string
  port: number
}

export interface RunningListener {
  bound: BoundListener
  close(): Promise<void>
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

export function resolveListener(config: ListenerConfig): ResolvedListener {
  return { ...config, allowAnonymous: config.allowAnonymous ?? isLoopback(config.host) }
}

async function loadTls(listener: ListenerConfig): Promise<SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean }> {
  const tls = listener.tls
  if (tls === undefined) {
    throw new TernError('BROKER_TLS_FILE_UNREADABLE', `listener ${listener.protocol}://${listener.host}:${listener.port} needs tls.cert and tls.key`)
  }
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path)
    } catch (cause) {
      throw new TernError('BROKER_TLS_FILE_UNREADABLE', `cannot read TLS ${what} ${path}: ${(cause as Error).message}`, { cause })
    }
  }
  const ca = tls.ca === undefined ? undefined : await read('ca', tls.ca)
  return {
    cert: await read('cert', tls.cert),
    key: await read('key', tls.key),
    ...(ca === undefined ? {} : { ca }),
    requestCert: ca !== undefined,
    rejectUnauthorized: tls.requireClientCertificate,
  }
}

export async function startListener(listener: ResolvedListener, onConnection: ConnectionHandler): Promise<RunningListener> {
  const secure = listener.protocol === 'mqtts' || listener.protocol === 'wss'
  const tlsOptions = secure ? await loadTls(listener) : undefined
  let server: NetServer | HttpServer
  try {
    server = await createServerFor(listener, tlsOptions, onConnection)
  } catch (cause) {
    // A cert/key pair that does not parse or match fails here, synchronously.
    throw new TernError('BROKER_TLS_FILE_UNREADABLE', `TLS files of ${describe(listener)} are not usable: ${(cause as Error).message}`, { cause })
  }
  const sockets = new Set<Duplex>()
  server.on('connection', (socket: Duplex) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    const onError = (cause: NodeJS.ErrnoException): void => {
      const why = cause.code === 'EADDRINUSE' ? 'address already in use' : cause.code === 'EACCES' ? 'permission denied' : cause.message
      reject(new TernError('BROKER_LISTEN_FAILED', `cannot listen on ${describe(listener)}: ${why}`, { cause }))
    }
    server.once('error', onError)
    server.listen(listener.port, listener.host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  return {
    bound: { protocol: listener.protocol, host: listener.host, port: address.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      }),
  }
}

/**
 * Bytes a connection may have queued before a write reports back-pressure. At Node's 16 KiB, ~100
 * packets written in one turn of the event loop (see hot-path.ts) filled it, and aedes then holds
 * each further delivery until 'drain' while its mqemitter (100 messages in flight) stops taking
 * publishes from every client: the twin bench lost a fifth of its throughput to that. Still a
 * bound, so a subscriber that does not read is still found out.
 */
const SOCKET_HIGH_WATER_MARK = 1 << 20

async function createServerFor(
  listener: ResolvedListener,
  tlsOptions: SecureContextOptions | undefined,
  onConnection: ConnectionHandler,
): Promise<NetServer | HttpServer> {
  switch (listener.protocol) {
    case 'mqtt':
      return createNetServer({ highWaterMark: SOCKET_HIGH_WATER_MARK }, (socket) => onConnection(socket, listener))
    case 'mqtts': {
      // tls and https are loaded only for TLS listeners: importing node:tls as an ES module reads
      // its every export, the ~140 root certificates of rootCertificates among them.
      const { createServer: createTlsServer } = await import('node:tls')
      return createTlsServer({ ...tlsOptions, highWaterMark: SOCKET_HIGH_WATER_MARK }, (socket) => onConnection(socket, listener))
    }
    case 'ws':
    case 'wss': {
      // Loaded only for WebSocket listeners (memory matters on a Pi).
      const { WebSocketServer, createWebSocketStream } = await import('ws')
      const http = listener.protocol === 'ws' ? createHttpServer() : (await import('node:https')).createServer(tlsOptions ?? {})
      const wss = new WebSocketServer({
        server: http,
        path: listener.path,
        // MQTT over WebSocket names the subprotocol `mqtt` (older clients: `mqttv3.1`).
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      })
      wss.on('connection', (ws, req) => onConnection(createWebSocketStream(ws), listener, req))
      http.on('close', () => wss.close())
      return http
    }
  }
}

function describe(listener: ListenerConfig): string {
  return `${listener.protocol}://${listener.host}:${listener.port}`
}
