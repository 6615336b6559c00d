/**
 * The live web view of `tern edge` (`http.ui: true`): a request handler the node's HTTP listener
 * mounts. It serves one page (web/client/, bundled into the build) under /ui/, a JSON API beside
 * it, and a server-sent event stream fed in-process from the bus (web/live.ts). Server-sent events
 * rather than MQTT over the broker's WebSocket listener: they need no listener the node may not
 * have, no MQTT library in the page (the page stays a few KiB), work the same in external-broker
 * mode, and let the server apply the user's ACL to what it sends instead of trusting the page.
 * Who may see and set what is the broker's decision: the same users and password hashes
 * (broker/auth.ts), the same ACL (broker/acl.ts), anonymous only on loopback.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import { createAcl } from '../broker/acl.js'
import { createAuthenticator, type Authenticator } from '../broker/auth.js'
import type { Bus } from '../broker/bus.js'
import type { AclRule, UserConfig } from '../schemas/config.js'
import { WebLogin as webLoginCheck } from '../schemas/generated/validators/WebLogin.js'
import { WebSetExpected as webSetExpectedCheck } from '../schemas/generated/validators/WebSetExpected.js'
import { cloudLinkStatusTopic, deviceTopic, mapperMetricsTopic, parseDeviceId } from '../schemas/topics.js'
import { validator } from '../schemas/validate.js'
import type { CloudLinkMessage, MapperMetricsMessage } from '../schemas/web.js'
import type { DeviceRecord } from '../twin/stored-device.js'
import { loadAssets, type Asset } from './assets.js'
import { deviceView, type DeviceView } from './device-view.js'
import { History } from './history.js'
import { loopbackRequest, readJson, sameOrigin, sendError, sendJson, SECURITY_HEADERS } from './http.js'
import { LiveFeed, seriesKey, type TwinView } from './live.js'
import { LoginLimit, type LoginLimitOptions } from './login-limit.js'
import { clearedCookie, csrfMatches, Sessions, type Session } from './sessions.js'
import { ExpectedWriter } from './set-expected.js'
import { frame, Viewers } from './viewers.js'

export interface WebViewOptions {
  bus: Bus
  twin: TwinView
  nodeName: string
  users: readonly UserConfig[]
  acl: readonly AclRule[] | undefined
  log: Logger
  /**
   * Admit viewers without a login (as the ACL's `$anonymous`); default: only requests made over
   * loopback to a loopback host name, as the bus admits anonymous clients on a loopback listener.
   */
  allowAnonymous?: boolean
  now?: () => number
  loginLimit?: Partial<LoginLimitOptions>
}

const validateLogin = validator(webLoginCheck)
const validateSet = validator(webSetExpectedCheck)

export class WebView {
  readonly #o: WebViewOptions
  readonly #log: Logger
  readonly #now: () => number
  readonly #auth: Authenticator
  readonly #sessions: Sessions
  readonly #limit: LoginLimit
  readonly #history = new History()
  readonly #viewers = new Viewers()
  readonly #writer: ExpectedWriter
  readonly #feed: LiveFeed
  readonly #mappers = new Map<string, MapperMetricsMessage>()
  #cloud: CloudLinkMessage | undefined
  #assets: ReadonlyMap<string, Asset> = new Map()

  constructor(options: WebViewOptions) {
    this.#o = options
    this.#log = options.log.child({ part: 'web' })
    this.#now = options.now ?? Date.now
    this.#auth = createAuthenticator(options.users)
    this.#sessions = new Sessions({ acl: createAcl(options.acl), now: this.#now })
    this.#limit = new LoginLimit(options.loginLimit)
    this.#writer = new ExpectedWriter({ bus: options.bus })
    this.#feed = new LiveFeed({
      bus: options.bus,
      twin: options.twin,
      nodeName: options.nodeName,
      history: this.#history,
      log: this.#log,
      now: this.#now,
      listener: {
        devices: (keys, membership) => this.#devicesChanged(keys, membership),
        mappers: (protocol, metrics) => {
          this.#mappers.set(protocol, metrics)
          this.#viewers.send((s) => (this.#mayRead(s, mapperMetricsTopic(options.nodeName, protocol)) ? frame('mappers', this.#mappersFor(s)) : undefined))
        },
        cloud: (status) => {
          this.#cloud = status
          this.#viewers.send((s) => (this.#mayRead(s, cloudLinkStatusTopic(options.nodeName)) ? frame('cloud', status) : undefined))
        },
        result: (_topic, payload) => this.#writer.result(payload),
      },
    })
  }

  async start(): Promise<void> {
    this.#assets = await loadAssets()
    await this.#feed.start()
    this.#log.info({ assets: [...this.#assets.values()].reduce((n, a) => n + a.gzip.length, 0) }, 'web view ready under /ui/ (asset bytes gzipped)')
  }

  async stop(): Promise<void> {
    this.#feed.stop()
    this.#viewers.close()
    await Promise.resolve()
  }

  /** Serves the request when its path is the web view's (`/ui`, `/ui/...`); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== '/ui' && !url.pathname.startsWith('/ui/')) return false
    this.#route(req, res, url).catch((err: unknown) => {
      this.#log.error({ err, path: url.pathname }, 'web view request failed')
      if (!res.headersSent) sendError(res, 500, 'INTERNAL_ERROR', 'the web view failed on this request')
      else res.destroy()
    })
    return true
  }

  async #route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = `${req.method ?? 'GET'} ${url.pathname}`
    switch (route) {
      case 'GET /ui':
        res.writeHead(308, { location: '/ui/' }).end()
        return
      case 'GET /ui/':
        return this.#asset(req, res, 'index.html')
      case 'GET /ui/app.js':
        return this.#asset(req, res, 'app.js')
      case 'GET /ui/app.css':
        return this.#asset(req, res, 'app.css')
      case 'GET /ui/api/session':
        return this.#whoAmI(req, res)
      case 'POST /ui/api/login':
        return this.#login(req, res)
      case 'POST /ui/api/logout':
        return this.#logout(req, res)
      case 'GET /ui/api/events':
        return this.#events(req, res)
      case 'GET /ui/api/history':
        return this.#historyOf(req, res, url)
      case 'POST /ui/api/expected':
        return this.#setExpected(req, res)
      default:
        return sendError(res, 404, 'WEB_NOT_FOUND', `no ${route} in the web view`)
    }
  }

  #asset(req: IncomingMessage, res: ServerResponse, name: string): void {
    const asset = this.#assets.get(name)
    if (asset === undefined) return sendError(res, 404, 'WEB_NOT_FOUND', `no asset ${name}`)
    if (req.headers['if-none-match'] === asset.etag) return void res.writeHead(304, { etag: asset.etag }).end()
    const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')
    const body = gzip ? asset.gzip : asset.body
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'cache-control': 'no-cache',
      etag: asset.etag,
      vary: 'accept-encoding',
      'content-length': body.length,
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    })
    res.end(body)
  }

  /** The request's session; an anonymous one is made for a loopback request without one. */
  #session(req: IncomingMessage, res: ServerResponse, create: boolean): Session | undefined {
    const session = this.#sessions.fromCookie(req.headers.cookie)
    if (session !== undefined) return session
    if (!create || !(this.#o.allowAnonymous ?? loopbackRequest(req))) return undefined
    const anonymous = this.#sessions.create(undefined)
    res.setHeader('set-cookie', this.#sessions.cookie(anonymous, secure(req)))
    return anonymous
  }

  #whoAmI(req: IncomingMessage, res: ServerResponse): void {
    const session = this.#session(req, res, true)
    if (session === undefined) return sendError(res, 401, 'WEB_LOGIN_REQUIRED', 'log in with a user of the MQTT bus')
    sendJson(res, 200, { user: session.username ?? null, csrf: session.csrf, node: this.#o.nodeName })
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!sameOrigin(req)) return sendError(res, 403, 'WEB_CSRF_REJECTED', 'a login from another origin')
    const body = await readJson(req)
    if (!body.ok) return sendError(res, 400, 'WEB_BAD_REQUEST', body.reason)
    const checked = validateLogin(body.value)
    if (!checked.ok) return sendError(res, 400, 'WEB_BAD_REQUEST', 'the login body does not match its schema', { problems: checked.problems })
    const { username, password } = checked.value
    const address = req.socket.remoteAddress ?? ''
    const now = this.#now()
    const wait = this.#limit.retryAfter(address, username, now)
    if (wait > 0) {
      return sendError(res, 429, 'WEB_LOGIN_RATE_LIMITED', 'too many failed logins; try again later', { headers: { 'retry-after': String(Math.ceil(wait / 1000)) } })
    }
    const outcome = await this.#auth.check(username, Buffer.from(password, 'utf8'), false)
    if (!outcome.ok) {
      this.#limit.failed(address, username, now)
      this.#log.warn({ code: 'WEB_LOGIN_FAILED', username, address, reason: outcome.reason }, 'web view login refused')
      return sendError(res, 401, 'WEB_LOGIN_FAILED', 'unknown user or wrong password')
    }
    this.#limit.succeeded(username)
    const old = this.#sessions.fromCookie(req.headers.cookie)
    if (old !== undefined) this.#end(old)
    const session = this.#sessions.create(username)
    this.#log.info({ username, address }, 'web view login')
    sendJson(res, 200, { user: username, csrf: session.csrf, node: this.#o.nodeName }, { 'set-cookie': this.#sessions.cookie(session, secure(req)) })
  }

  #logout(req: IncomingMessage, res: ServerResponse): void {
    const session = this.#writable(req, res)
    if (session === undefined) return
    this.#end(session)
    res.writeHead(204, { 'set-cookie': clearedCookie() }).end()
  }

  #end(session: Session): void {
    this.#sessions.delete(session)
    this.#viewers.close(session)
  }

  /** The session of a write, checked against CSRF; answers the request itself when refused. */
  #writable(req: IncomingMessage, res: ServerResponse): Session | undefined {
    const session = this.#session(req, res, false)
    if (session === undefined) {
      sendError(res, 401, 'WEB_LOGIN_REQUIRED', 'log in with a user of the MQTT bus')
      return undefined
    }
    if (!sameOrigin(req) || !csrfMatches(session, req.headers['x-tern-csrf'])) {
      sendError(res, 403, 'WEB_CSRF_REJECTED', 'the request lacks the session token of this page')
      return undefined
    }
    return session
  }

  #events(req: IncomingMessage, res: ServerResponse): void {
    const session = this.#session(req, res, false)
    if (session === undefined) return sendError(res, 401, 'WEB_LOGIN_REQUIRED', 'log in with a user of the MQTT bus')
    if (!this.#viewers.add(res, session, this.#snapshot(session))) sendError(res, 503, 'WEB_TOO_MANY_VIEWERS', 'the web view streams to as many pages as it can; close one')
  }

  #snapshot(session: Session): string {
    const devices: DeviceView[] = []
    for (const [key, record] of this.#o.twin.devices) {
      const view = this.#viewFor(session, key, record)
      if (view !== undefined) devices.push(view)
    }
    const cloud = this.#mayRead(session, cloudLinkStatusTopic(this.#o.nodeName)) ? (this.#cloud ?? null) : null
    return frame('snapshot', { time: this.#now(), devices, mappers: this.#mappersFor(session), cloud })
  }

  #devicesChanged(keys: ReadonlySet<string>, membership: boolean): void {
    if (membership) return this.#viewers.send((s) => this.#snapshot(s))
    const now = this.#now()
    for (const key of keys) {
      const record = this.#o.twin.devices.get(key)
      const ref = record === undefined ? undefined : parseDeviceId(record.spec.id)
      if (record === undefined || ref === undefined) continue
      // one event text per device and per settable-or-not, however many pages follow
      const framed = new Map<boolean, string>()
      const framedFor = (canSet: boolean): string => {
        let text = framed.get(canSet)
        if (text === undefined) framed.set(canSet, (text = frame('device', { time: now, device: deviceView(key, record, canSet) })))
        return text
      }
      const document = deviceTopic(ref, 'twin/update/document')
      const update = deviceTopic(ref, 'twin/update')
      this.#viewers.send((s) => (s.access.canReceive(document) ? framedFor(s.access.canPublish(update)) : undefined))
    }
  }

  /** The device as the logged-in user may see it; undefined when their ACL does not let them read the device. */
  #viewFor(session: Session, key: string, record: DeviceRecord): DeviceView | undefined {
    const ref = parseDeviceId(record.spec.id)
    if (ref === undefined || !session.access.canReceive(deviceTopic(ref, 'twin/update/document'))) return undefined
    return deviceView(key, record, session.access.canPublish(deviceTopic(ref, 'twin/update')))
  }

  #mayRead(session: Session, topic: string): boolean {
    return session.access.canReceive(topic)
  }

  /** Each protocol's counters the session may read, only of the devices it may see. */
  #mappersFor(session: Session): Array<{ protocol: string; timestamp: number; devices: Record<string, Record<string, number>> }> {
    const visible = new Set<string>()
    for (const [key, record] of this.#o.twin.devices) {
      if (this.#viewFor(session, key, record) !== undefined) visible.add(key).add(record.spec.id)
    }
    const out = []
    for (const [protocol, metrics] of this.#mappers) {
      if (!this.#mayRead(session, mapperMetricsTopic(this.#o.nodeName, protocol))) continue
      const devices = Object.fromEntries(Object.entries(metrics.devices).filter(([id]) => visible.has(id)))
      out.push({ protocol, timestamp: metrics.timestamp, devices })
    }
    return out
  }

  #historyOf(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const session = this.#session(req, res, false)
    if (session === undefined) return sendError(res, 401, 'WEB_LOGIN_REQUIRED', 'log in with a user of the MQTT bus')
    const key = url.searchParams.get('device') ?? ''
    const property = url.searchParams.get('property') ?? ''
    const record = this.#o.twin.devices.get(key)
    if (record === undefined || this.#viewFor(session, key, record) === undefined) return sendError(res, 404, 'WEB_NOT_FOUND', `no device ${key} on this node`)
    sendJson(res, 200, { device: key, property, points: this.#history.points(seriesKey(key, property), this.#now()) })
  }

  async #setExpected(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = this.#writable(req, res)
    if (session === undefined) return
    const body = await readJson(req)
    if (!body.ok) return sendError(res, 400, 'WEB_BAD_REQUEST', body.reason)
    const checked = validateSet(body.value)
    if (!checked.ok) return sendError(res, 400, 'WEB_BAD_REQUEST', 'the body does not match its schema', { problems: checked.problems })
    const { device: key, property, value } = checked.value
    const record = this.#o.twin.devices.get(key)
    const view = record === undefined ? undefined : this.#viewFor(session, key, record)
    const ref = record === undefined ? undefined : parseDeviceId(record.spec.id)
    if (view === undefined || ref === undefined) return sendError(res, 404, 'WEB_NOT_FOUND', `no device ${key} on this node`)
    const prop = view.properties.find((p) => p.name === property)
    if (prop === undefined) return sendError(res, 404, 'WEB_NOT_FOUND', `device ${key} has no property ${property}`)
    if (!prop.settable) return sendError(res, 403, 'WEB_NOT_ALLOWED', refusal(prop.owner, prop.accessMode))
    const outcome = await this.#writer.set(ref, property, value)
    if (outcome.ok) {
      this.#log.info({ username: session.username ?? null, device: key, property, value }, 'expected value set from the web view')
      return sendJson(res, 200, { ok: true })
    }
    sendJson(res, outcome.code, { errorCode: outcome.errorCode, reason: outcome.reason, problems: outcome.problems })
  }
}

function refusal(owner: 'cloud' | 'edge', accessMode: string): string {
  if (owner === 'cloud') return 'the property is owned by the cloud: its Device spec sets the desired value (kubectl patch device)'
  if (accessMode === 'ReadOnly') return 'the property is read-only'
  return 'your ACL does not let you publish twin updates of this device'
}

function secure(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket>).encrypted === true
}
