/**
 * Each client's own bounded outgoing queue: delivering to one client never waits on another
 * client's socket (DESIGN §3, "a slow or stalled client costs only itself").
 *
 * Why it is needed: aedes hands a message to each matching subscriber through mqemitter, which
 * finishes a message only when every subscriber's delivery callback has run and holds at most
 * `concurrency` (100) messages at once. aedes runs a delivery's callback after the packet is
 * written, and, when the socket is backed up (write() said false), only after 'drain'
 * (lib/write.js, Client#waitForDrain). So one subscriber that stopped reading held 100 messages,
 * and with them every publisher's PUBACK, every other subscriber and the twin, until aedes'
 * drainTimeout closed it.
 *
 * Here, as soon as a client's socket is backed up, the shared path's callbacks for that client are
 * released, and until the socket drains:
 * - QoS 0 messages for the client are dropped;
 * - QoS 1/2 messages wait in the client's queue, in order, up to maxQueuedMessages messages and
 *   maxQueuedBytes payload bytes (0 = no limit); past either, a clean session's message is
 *   dropped, and a persistent session's is left in the session store, where aedes put it before
 *   delivering and from where it goes out when the client next connects (the offline limits
 *   apply there). Messages already written to the socket (in flight, awaiting PUBACK) are not
 *   counted: aedes sends without an in-flight window, so they are what Mosquitto holds with
 *   `max_inflight_messages 0`, and cost a clean session nothing once written.
 * On 'drain' the queue goes to aedes in order, before anything newer. A socket that does not
 * drain within the stall timeout is closed (aedes' drainTimeout, counted here).
 * Messages aedes sends to the client on its own behalf (retained messages on SUBSCRIBE, a
 * session's queue on CONNECT) still wait for the socket: that waiting costs only this client.
 *
 * Every delivery to the client passes here, so here too a message reaches the client once when
 * several of its subscriptions match. aedes' own check (lib/client.js dedupe) drops any message
 * numbered below the newest one the client was handed, which assumes messages reach clients in the
 * order they were numbered; they do not: a QoS 1/2 message is numbered, then queued for the
 * persistent sessions it matches (a LevelDB write), and only then handed out, while a QoS 0 message
 * or one needing no write goes out at once. A persistent QoS 1 subscriber lost 15 of 200 QoS 1
 * messages interleaved with QoS 0 ones, and aedes cleared them from its session (aedes issues #955,
 * #994). An overlapping subscription's copy is handed out in the same synchronous pass of the
 * emitter as the first one, so a message is a copy when its number was already seen this tick.
 */
import type { AedesPublishPacket, Client } from 'aedes'
import type { Logger } from 'pino'
import type { LimitCounters } from './limits.js'
import type { QueueLimits } from './offline-queue.js'
import type { TrafficCounters } from './traffic.js'

type Done = () => void
type Deliver = (packet: AedesPublishPacket, done: Done) => void

/** What aedes' Client (lib/client.js) has beyond its typings. */
interface ClientInternals {
  /** broker id -> the newest message number handed to the client (aedes' dedupe) */
  duplicates: Record<string, number>
  deliver0: Deliver
  deliverQoS: Deliver
  waitForDrain(callback: (...args: unknown[]) => void): void
  _handleDrainTimeout?: () => void
}

interface Waiting {
  packet: AedesPublishPacket
  deliver: Deliver
  bytes: number
}

/** What happened to messages for one client during one backed-up spell, for its log line. */
interface Episode {
  qos0Dropped: number
  queueFull: number
}

export class OutgoingQueue {
  readonly #client: Client
  readonly #limits: QueueLimits
  readonly #counters: LimitCounters
  readonly #log: Logger
  /** the socket said false and has not drained since */
  #blocked = false
  /** set while a delivery is handed to aedes: aedes' deliverQoS passes QoS 0 on to deliver0 */
  #handing = false
  /** the shared path's callbacks for deliveries aedes has not finished */
  readonly #pending = new Set<Done>()
  #queue: Waiting[] = []
  #queuedBytes = 0
  #episode: Episode | undefined
  /** messages handed to the connection, by QoS (broker/traffic.ts) */
  readonly #sent: TrafficCounters['sent']
  /** the numbers of the messages offered during this tick: a number seen again is another subscription's copy */
  readonly #offeredThisTick = new Set<number>()

  constructor(client: Client, limits: QueueLimits, counters: LimitCounters, log: Logger, sent: TrafficCounters['sent'] = [0, 0, 0]) {
    this.#client = client
    this.#limits = limits
    this.#counters = counters
    this.#log = log
    this.#sent = sent
  }

  /** Puts the queue in front of the client's deliveries; call in preConnect, before any subscription. */
  attach(): void {
    const own = this.#client as unknown as ClientInternals
    own.duplicates = REMEMBERS_NOTHING
    const deliver0 = own.deliver0
    const deliverQoS = own.deliverQoS
    own.deliver0 = (packet, done) => this.#offer(packet, deliver0, done, false)
    own.deliverQoS = (packet, done) => this.#offer(packet, deliverQoS, done, packet.qos > 0)
    const waitForDrain = own.waitForDrain.bind(own)
    own.waitForDrain = (callback) => {
      this.#block()
      waitForDrain(callback)
    }
    const onDrainTimeout = own._handleDrainTimeout?.bind(own)
    if (onDrainTimeout !== undefined) {
      own._handleDrainTimeout = () => {
        this.#counters.stalledDisconnects++
        this.#log.warn({ code: 'MQTT_CLIENT_STALLED', clientId: this.#client.id, queued: this.#queue.length }, 'client took nothing from its connection in time: disconnected')
        onDrainTimeout()
      }
    }
    const conn = this.#client.conn
    conn.on('drain', () => this.#drained())
    conn.once('close', () => {
      this.#queue = []
      this.#queuedBytes = 0
    })
  }

  #offer(packet: AedesPublishPacket, deliver: Deliver, done: Done, acknowledged: boolean): void {
    // aedes' own sends (retained on SUBSCRIBE: no broker id) and a hand-over already decided here
    if (this.#handing) return deliver(packet, done)
    if (packet.brokerId == null) {
      this.#sent[packet.qos]++
      return deliver(packet, done)
    }
    if (this.#isCopy(packet.brokerCounter)) return void setImmediate(done)
    if (!this.#blocked && this.#queue.length === 0) return this.#handOver(packet, deliver, done)
    if (!acknowledged) {
      this.#counters.qos0Dropped++
      this.#noteDrop('qos0Dropped')
    } else if (this.#hasRoomFor(packet)) {
      const bytes = payloadBytes(packet)
      this.#queue.push({ packet, deliver, bytes })
      this.#queuedBytes += bytes
    } else if (this.#client.clean) {
      this.#counters.queueFullDropped++
      this.#noteDrop('queueFull')
    } else {
      this.#counters.queueFullKept++
      this.#noteDrop('queueFull')
    }
    // asynchronously, as aedes does, or a stream of messages for a blocked client would recurse
    setImmediate(done)
  }

  #isCopy(counter: number): boolean {
    const offered = this.#offeredThisTick
    if (offered.has(counter)) return true
    if (offered.size === 0) queueMicrotask(() => offered.clear())
    offered.add(counter)
    return false
  }

  #hasRoomFor(packet: AedesPublishPacket): boolean {
    const { maxQueuedMessages, maxQueuedBytes } = this.#limits
    if (maxQueuedMessages > 0 && this.#queue.length >= maxQueuedMessages) return false
    return maxQueuedBytes === 0 || this.#queuedBytes + payloadBytes(packet) <= maxQueuedBytes
  }

  #handOver(packet: AedesPublishPacket, deliver: Deliver, done: Done): void {
    let finished = false
    const release: Done = () => {
      if (finished) return
      finished = true
      this.#pending.delete(release)
      done()
    }
    this.#pending.add(release)
    this.#sent[packet.qos]++
    this.#handing = true
    try {
      deliver(packet, release)
    } finally {
      this.#handing = false
    }
  }

  /** The socket is backed up: the shared path stops waiting for this client's writes. */
  #block(): void {
    this.#blocked = true
    if (this.#pending.size === 0) return
    const pending = [...this.#pending]
    for (const release of pending) release()
  }

  #drained(): void {
    if (!this.#blocked) return
    this.#blocked = false
    this.#endEpisode()
    const queue = this.#queue
    // aedes emits 'drain' itself when it closes a client, to release its waiting writes
    if (this.#client.closed) return void (this.#queue = [])
    this.#queue = []
    this.#queuedBytes = 0
    // In order, before anything newer; what does not fit the socket backs it up again, and
    // waits in aedes' write like any message handed over after it.
    for (const { packet, deliver } of queue) this.#handOver(packet, deliver, noop)
  }

  #noteDrop(kind: keyof Episode): void {
    const episode = (this.#episode ??= { qos0Dropped: 0, queueFull: 0 })
    if (episode[kind]++ > 0) return
    // Once per client per backed-up spell and kind, not per message.
    const what = kind === 'qos0Dropped' ? 'dropping QoS 0 messages for it' : this.#client.clean ? 'its queue is full: dropping QoS 1/2 messages for it' : 'its queue is full: keeping further QoS 1/2 messages in its session for its next connection'
    this.#log.warn({ code: 'MQTT_CLIENT_BACKED_UP', clientId: this.#client.id, ...this.#limits }, `client is not reading its connection: ${what}`)
  }

  #endEpisode(): void {
    const episode = this.#episode
    if (episode === undefined) return
    this.#episode = undefined
    this.#log.info({ clientId: this.#client.id, ...episode }, 'client reads its connection again')
  }
}

function payloadBytes(packet: AedesPublishPacket): number {
  const payload = packet.payload as Buffer | string | undefined
  return payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
}

function noop(): void {}

/** aedes' dedupe table for a client, switched off: every number reads as unseen, writes are ignored (see above). */
const REMEMBERS_NOTHING: Record<string, number> = new Proxy(Object.create(null) as Record<string, number>, { set: () => true })
