/**
 * The HTTP listener of `tern edge` and `tern cloud` (config `http`): `/metrics` in Prometheus' text
 * format, `/healthz` (the process answers) and `/readyz` (200, or 503 with one reason per line).
 * Other routes can be added with {@link MetricsServer.route} before start. Lifecycle as every
 * part: the constructor stores options, `start()` binds, `stop()` is idempotent.
 *
 * The listener shares the process's open-files limit and event loop with the broker and LevelDB,
 * so it holds at most `maxConnections` connections: past it a connection is closed as soon as it
 * is accepted (counted, and logged once each time the limit is reached), and a slow-loris client
 * or a pile of scrapes costs the listener's own clients, never the broker's. Scrapes that arrive
 * together share one collection (see {@link MetricsServer#collect}), so a pile of them costs the
 * event loop one collection, not one each.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { HttpListener } from '../schemas/http-listener.js'
import { TernError } from '../schemas/tern-error.js'
import { countedBy, type Registry } from './prom.js'

/**
 * How long a collection waits for more scrapes to share it, ms: a scrape's answer comes that much
 * later, and scrapes sent at once (which a loaded event loop reads over tens of ms) cost one.
 */
const GATHER_MS = 10

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void

export interface MetricsServerOptions {
  listener: HttpListener
  registry: Registry
  /** why the process is not ready; empty when it is */
  notReady: () => readonly string[]
  log: Logger
}

export class MetricsServer {
  readonly #o: MetricsServerOptions
  readonly #routes = new Map<string, RouteHandler>()
  readonly #mounted: Array<(req: IncomingMessage, res: ServerResponse) => boolean> = []
  #server: Server | undefined
  #stopped = false
  /** connections closed at once because maxConnections were open */
  #dropped = 0
  #full = false
  /** the rendered samples every scrape waiting now is answered with; undefined when none is under way */
  #collection: Promise<Buffer> | undefined

  constructor(options: MetricsServerOptions) {
    this.#o = options
    countedBy(options.registry, {
      name: 'tern_http_connections_dropped_total',
      help: 'Connections to this listener closed at once because http.maxConnections were open',
      read: () => [[{}, this.#dropped]],
    })
    this.#routes.set('/metrics', (req, res) => void this.#metrics(req, res))
    this.#routes.set('/healthz', (req, res) => text(req, res, 200, 'ok\n'))
    this.#routes.set('/readyz', (req, res) => {
      const reasons = this.#o.notReady()
      text(req, res, reasons.length === 0 ? 200 : 503, reasons.length === 0 ? 'ok\n' : reasons.map((r) => `not ready: ${r}\n`).join(''))
    })
  }

  /** Serves `path` (exact match, GET and HEAD) with `handler`. */
  route(path: string, handler: RouteHandler): void {
    this.#routes.set(path, handler)
  }

  /**
   * Hands every request, whatever its method, to `handler` before the routes; `handler` answers
   * the paths it owns and returns true for them (the web view's /ui/...).
   */
  mount(handler: (req: IncomingMessage, res: ServerResponse) => boolean): void {
    this.#mounted.push(handler)
  }

  /** The bound address (after start). */
  get address(): AddressInfo {
    const address = this.#server?.address()
    if (address === null || address === undefined || typeof address === 'string') throw new Error('the HTTP listener is not started')
    return address
  }

  async start(): Promise<AddressInfo> {
    const { host, port } = this.#o.listener
    // a scrape that stalls must not hold a socket forever: the timeouts are checked every second
    // (Node.js's default, 30 s, would let a slow client hold a connection three times the timeout)
    const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => this.#handle(req, res))
    server.requestTimeout = 30_000
    server.headersTimeout = 10_000
    this.#limitConnections(server)
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the address is in use (another tern or exporter on it?)' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EADDRNOTAVAIL' ? 'no interface has this address' : err.message
        reject(new TernError('HTTP_LISTEN_FAILED', `http.listen ${host}:${port}: ${why}; choose another http.listen, or set http: false`, { cause: err }))
      })
      server.listen(port, host, () => resolve())
    })
    server.on('error', (err) => this.#o.log.error({ err }, 'HTTP listener failed'))
    this.#server = server
    this.#o.log.info({ host, port: this.address.port }, 'HTTP listener (metrics, health) ready')
    return this.address
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    const server = this.#server
    if (server === undefined) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  #limitConnections(server: Server): void {
    const max = this.#o.listener.maxConnections
    if (max === 0) return
    server.maxConnections = max
    server.on('drop', () => {
      this.#dropped++
      if (this.#full) return
      this.#full = true
      this.#o.log.warn({ code: 'HTTP_CONNECTION_LIMIT', maxConnections: max }, 'http.maxConnections reached: closing further connections')
    })
    server.on('connection', (socket) => socket.once('close', () => (this.#full = false)))
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    for (const handler of this.#mounted) if (handler(req, res)) return
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    const handler = this.#routes.get(path)
    if (handler === undefined) return text(req, res, 404, `not found: ${path}; try /metrics, /healthz or /readyz\n`)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return text(req, res, 405, 'method not allowed\n')
    }
    handler(req, res)
  }

  async #metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer
    try {
      body = await this.#collect()
    } catch {
      return text(req, res, 500, 'collecting metrics failed\n')
    }
    res.writeHead(200, { 'content-type': this.#o.registry.contentType, 'content-length': body.length })
    res.end(req.method === 'HEAD' ? undefined : body)
  }

  /**
   * The registry's samples, rendered once for every scrape that arrives before they are: the
   * collection starts GATHER_MS after the first scrape waiting for it, and a scrape that comes
   * while it is under way waits for it too. Scrapes sent together (a Prometheus pair, a
   * dashboard's panels, a flood), which reach the event loop over several turns, cost one
   * collection; one that comes after a collection has finished gets a new one, so no answer is
   * older than the collection under way when it came. prom-client collects anew at every call.
   */
  #collect(): Promise<Buffer> {
    if (this.#collection !== undefined) return this.#collection
    const collection = new Promise<void>((resolve) => setTimeout(resolve, GATHER_MS)).then(async () => Buffer.from(await this.#o.registry.metrics()))
    this.#collection = collection
    const done = (): void => {
      this.#collection = undefined
    }
    collection.then(done, (err: unknown) => {
      done()
      this.#o.log.error({ err }, 'collecting metrics failed')
    })
    return collection
  }
}

function text(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
  res.end(req.method === 'HEAD' ? undefined : body)
}
