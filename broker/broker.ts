/**
 * The embedded edge MQTT bus: aedes over a LevelDB sublevel, with Mosquitto's semantics for what
 * clients notice (see README "MQTT bus"). Lifecycle: the constructor stores options, `start()`
 * binds every listener, `stop()` (idempotent) stops accepting, disconnects clients and waits for
 * persistence writes in flight.
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { IncomingMessage } from 'node:http'
import { Aedes, type Client, type PublishPacket, type AuthenticateError } from 'aedes'
import type { AbstractLevel } from 'abstract-level'
import mqemitter from 'mqemitter'
import type { Logger } from 'pino'
import type { MqttConfig } from '../schemas/config.js'
import { createAcl, type Acl, type ClientAccess } from './acl.js'
import { createAuthenticator, type Authenticator } from './auth.js'
import { cleanIncomingInMemory } from './clean-incoming.js'
import { connackFirst, releaseAfterConnack } from './connack-first.js'
import { enforceConformance } from './conformance.js'
import { atGrantedQos, deliverAtHighestGrant } from './delivery.js'
import { coalesceWrites, memoizeMatches, parseDirectly, skipCleanSessionAcks } from './hot-path.js'
import { ConnectionLimit, limitCounters, type LimitCounters } from './limits.js'
import { OutgoingQueue } from './outgoing.js'
import { PublishOrder, type PublishFn } from './publish-order.js'
import { trafficCounters, type TrafficCounters } from './traffic.js'
import { limitPacketSize } from './packet-size.js'
import type { OfflineQueueStats } from './offline-queue.js'
import { SESSION_MARKER, sessionPersistence, type SessionStore } from './persistence.js'
import { markRefused, pacedAnswers } from './many-subscriptions.js'
import { resolveListener, startListener, type BoundListener, type ResolvedListener, type RunningListener } from './listeners.js'

// Any abstract-level database or sublevel; the broker keeps its sessions under its own prefix.
export type BrokerDb = AbstractLevel<string | Buffer | Uint8Array, string, unknown>

export interface BrokerOptions {
  config: MqttConfig
  db: BrokerDb
  log: Logger
  /** aedes heartbeat and will-sweep period, ms (tests shorten it). */
  heartbeatInterval?: number
}

const IDENTIFIER_REJECTED = 2
const SERVER_UNAVAILABLE = 3
const NOT_AUTHORISED = 5
const MAX_DENIAL_LOGS_PER_CLIENT = 20
/** aedes' default `concurrency`: messages its emitter delivers at once */
const AEDES_CONCURRENCY = 100
/** aedes' message for its connect timer (lib/client.js), the only sign it fired */
const CONNECT_TIMEOUT_MESSAGE = 'connect did not arrive in time'

export class EdgeBroker {
  readonly #options: BrokerOptions
  readonly #log: Logger
  #aedes: Aedes | undefined
  #listeners: RunningListener[] = []
  readonly #listenerOf = new WeakMap<Duplex, ResolvedListener>()
  readonly #access = new WeakMap<Client, ClientAccess>()
  readonly #denied = new WeakSet<PublishPacket>()
  readonly #denialLogs = new WeakMap<Client, number>()
  readonly #noClientId = new WeakSet<Client>()
  readonly #persistent = new WeakSet<Client>()
  #sessions: SessionStore | undefined
  readonly #counters = limitCounters()
  readonly #traffic = trafficCounters()
  readonly #connections: ConnectionLimit
  #stopped = false

  constructor(options: BrokerOptions) {
    this.#options = options
    this.#log = options.log.child({ part: 'broker' })
    this.#connections = new ConnectionLimit(options.config.maxConnections, this.#counters, this.#log)
  }

  /** How often each limit has bitten since start (README, MQTT bus limits); live, read-only. */
  get limits(): Readonly<LimitCounters> {
    return this.#counters
  }

  /** Messages received and sent by QoS since start; live, read-only. */
  get traffic(): Readonly<TrafficCounters> {
    return this.#traffic
  }

  /** Connections open over every listener (before and after CONNECT). */
  get connections(): number {
    return this.#connections.open
  }

  /** The aedes instance, for in-process parts (available after start). */
  get aedes(): Aedes {
    if (this.#aedes === undefined) throw new Error('broker not started')
    return this.#aedes
  }

  /** Messages dropped for persistent sessions (queue limits, full disk), for reporting. */
  get sessionStats(): OfflineQueueStats {
    if (this.#sessions === undefined) throw new Error('broker not started')
    return this.#sessions.queues.stats
  }

  get listeners(): BoundListener[] {
    return this.#listeners.map((l) => l.bound)
  }

  async start(): Promise<void> {
    const { config, db } = this.#options
    const acl = createAcl(config.acl)
    const auth = createAuthenticator(config.users)
    const answer = pacedAnswers() // many filters at once do not stall other clients
    const sessions = sessionPersistence(db, config, this.#log)
    this.#sessions = sessions
    const queueLimits = { maxQueuedMessages: config.maxQueuedMessages, maxQueuedBytes: config.maxQueuedBytes }
    const order = new PublishOrder() // one topic's messages reach subscribers in the order published
    const aedes = await Aedes.createBroker({
      id: 'tern',
      // aedes' own emitter (its default concurrency, empty levels match [MQTT-4.7.1-3]), answers remembered
      mq: order.emitter(memoizeMatches(mqemitter({ concurrency: AEDES_CONCURRENCY, matchEmptyLevels: true }))),
      persistence: cleanIncomingInMemory(skipCleanSessionAcks(sessions.persistence)),
      heartbeatInterval: this.#options.heartbeatInterval ?? 60_000,
      keepaliveLimit: config.keepaliveLimit,
      maxClientsIdLength: 65_535,
      // a backed-up connection that takes nothing for this long is closed (docs/mqtt-bus.md, limits)
      drainTimeout: config.stallTimeoutMs,
      connectTimeout: config.connectTimeoutMs,
      preConnect: (client, packet, done) => {
        new OutgoingQueue(client, queueLimits, this.#counters, this.#log, this.#traffic.sent).attach()
        deliverAtHighestGrant(client) // before the session's subscriptions are restored
        connackFirst(client)
        // A persistent session needs a name: CONNACK 2 [MQTT-3.1.3-8] (answered in authenticate,
        // the step where aedes can send a refusal code). aedes would invent an id instead.
        if (packet.clientId === '' && !packet.clean) this.#noClientId.add(client)
        if (!packet.clean) this.#persistent.add(client)
        done(null, true)
      },
      authenticate: (client, username, password, done) => {
        if (this.#noClientId.has(client)) return done(refusal(IDENTIFIER_REJECTED), false)
        this.#authenticate(auth, acl, client, username, password).then(
          async (ok) => {
            if (!ok) return done(refusal(NOT_AUTHORISED), false)
            // a persistent session the store cannot keep (disk full) is refused, not cut off later
            if (this.#persistent.has(client) && !(await sessions.health.check())) return done(refusal(SERVER_UNAVAILABLE), false)
            done(null, true)
          },
          (err: unknown) => {
            this.#log.error({ err, clientId: client.id }, 'authentication failed unexpectedly')
            done(refusal(NOT_AUTHORISED), false)
          },
        )
      },
      authorizePublish: (client, packet, done) => {
        if (client !== null && !this.#mayPublish(client, packet)) this.#denied.add(packet)
        else if (client !== null) order.arrived(packet, client)
        done(null)
      },
      authorizeSubscribe: (client, sub, done) => {
        // a session's placeholder (see persistence.ts) is never a subscription
        const allowed = sub.topic !== SESSION_MARKER && (sub.topic.startsWith('$SYS') || this.#accessOf(client).canSubscribe(sub.topic))
        if (!allowed) {
          if (sub.topic !== SESSION_MARKER) this.#logDenial(client, 'subscribe', sub.topic)
          markRefused(sub)
        }
        answer(client, () => done(null, allowed ? sub : null)) // null = failure 0x80 in SUBACK [MQTT-3.9.3]
      },
      authorizeForward: (client, packet) => (acl.open || this.#accessOf(client).canReceive(packet.topic) ? atGrantedQos(client, packet) : null),
    })
    // A refused publish is acknowledged as usual (MQTT 3.1.1 has no way to say no) and dropped,
    // as Mosquitto does; aedes would instead close the connection, so drop it here.
    const publish = order.publishing(aedes)
    const guarded: PublishFn = (packet, client, done) => {
      if (!this.#denied.has(packet)) {
        this.#traffic.received[packet.qos]++
        return publish(packet, client, done)
      }
      const callback = typeof client === 'function' ? client : done
      callback?.()
    }
    aedes.publish = guarded
    releaseAfterConnack(aedes)
    aedes.on('clientError', (client, err) => this.#log.debug({ clientId: client.id, err: err.message }, 'client error'))
    aedes.on('connectionError', (client, err) => {
      if (err.message === CONNECT_TIMEOUT_MESSAGE) this.#counters.connectTimeouts++
      this.#log.debug({ clientId: client.id, err: err.message }, 'connection error')
    })
    this.#aedes = aedes

    try {
      for (const config of this.#options.config.listeners) {
        const listener = resolveListener(config)
        const running = await startListener(listener, (stream, l, req) => this.#handle(stream, l, req))
        this.#listeners.push(running)
        this.#log.info({ ...running.bound, allowAnonymous: listener.allowAnonymous }, 'listening')
      }
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await Promise.all(this.#listeners.map((l) => l.close()))
    this.#listeners = []
    const aedes = this.#aedes
    if (aedes !== undefined) await new Promise<void>((resolve) => aedes.close(() => resolve()))
    this.#sessions?.health.stop()
  }

  #handle(stream: Duplex, listener: ResolvedListener, req?: IncomingMessage): void {
    if (!this.#connections.admit(stream)) return
    this.#listenerOf.set(stream, listener)
    if (stream instanceof Socket) coalesceWrites(stream) // TCP and TLS; WebSocket streams frame each write
    const client = this.aedes.handle(stream, req)
    parseDirectly(client)
    enforceConformance(client)
    limitPacketSize(client, this.#options.config.maxPacketSize, this.#counters, this.#log)
  }

  async #authenticate(auth: Authenticator, acl: Acl, client: Client, username: string | undefined, password: Buffer | undefined): Promise<boolean> {
    const listener = this.#listenerOf.get(client.conn)
    const outcome = await auth.check(username, password, listener?.allowAnonymous ?? false)
    if (!outcome.ok) {
      this.#log.warn({ code: 'MQTT_BAD_CREDENTIALS', clientId: client.id, username, reason: outcome.reason }, 'connection refused')
      return false
    }
    this.#access.set(client, acl.forClient({ clientId: client.id, username }))
    return true
  }

  #accessOf(client: Client): ClientAccess {
    const access = this.#access.get(client)
    // Every client passes authenticate() before it can publish or subscribe.
    if (access === undefined) throw new Error(`no access rights for client ${client.id}`)
    return access
  }

  #mayPublish(client: Client, packet: PublishPacket): boolean {
    const allowed = !packet.topic.startsWith('$SYS') && this.#accessOf(client).canPublish(packet.topic)
    if (!allowed) this.#logDenial(client, 'publish', packet.topic)
    return allowed
  }

  #logDenial(client: Client, action: 'publish' | 'subscribe', topic: string): void {
    const count = (this.#denialLogs.get(client) ?? 0) + 1
    this.#denialLogs.set(client, count)
    // A misbehaving device may retry forever; keep the log readable.
    if (count <= MAX_DENIAL_LOGS_PER_CLIENT) {
      this.#log.warn({ code: 'MQTT_NOT_AUTHORIZED', clientId: client.id, action, topic }, `${action} refused by ACL`)
    }
  }
}

function refusal(returnCode: typeof IDENTIFIER_REJECTED | typeof SERVER_UNAVAILABLE | typeof NOT_AUTHORISED): AuthenticateError {
  const messages = { [IDENTIFIER_REJECTED]: 'identifier rejected', [SERVER_UNAVAILABLE]: 'server unavailable', [NOT_AUTHORISED]: 'not authorised' }
  const err = new Error(messages[returnCode]) as AuthenticateError
  err.returnCode = returnCode
  return err
}
