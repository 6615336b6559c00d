/**
 * The load generator, identical for every broker: raw connections, N publishers and M subscribers
 * on one topic pattern, driven either as fast as the broker delivers (throughput) or at a fixed
 * rate (latency).
 *
 * Throughput is closed-loop with a large window: at most `window` messages may be published and
 * not yet received by every subscriber. Without it a broker that buffers without bound (Mosquitto
 * queues QoS 0 to a slow client in memory) would be measured on how fast it accepts, not on how
 * fast it delivers, and a broker that drops would stall nothing. QoS 1 publishers also keep at
 * most `inflight` unacknowledged PUBLISH each.
 */
import { performance } from 'node:perf_hooks'
import { ACK_BATCH, ACK_EVERY_MS, Publisher, flushAcks, type PendingAcks } from './clients.js'
import { Connection } from './connection.js'
import { PUBACK, PUBLISH, publishTemplate } from './mqtt-wire.js'

export type Scenario = 'fan-in' | 'fan-out'

export interface LoadOptions {
  port: number
  scenario: Scenario
  qos: 0 | 1
  /** fan-in: publishers (one subscriber); fan-out: subscribers (one publisher). */
  clients: number
  payloadBytes: number
  window: number
  inflight: number
  /** Most messages one publisher writes in one socket write. */
  batch: number
  /** Distinguishes the topics and client ids of one phase from every other. */
  tag: string
}

/** A message given up as lost after this long without any delivery or ack. */
const STALL_MS = 500
const DRAIN_MS = 3000
export interface Counters {
  sent: number
  received: number
  acked: number
}

export class Load {
  readonly fanout: number
  readonly counters: Counters = { sent: 0, received: 0, acked: 0 }
  /** Deliveries written off as lost by the stall detector (they may still arrive late). */
  writtenOff = 0
  readonly #opts: LoadOptions
  readonly #pubs: Publisher[] = []
  readonly #conns: Connection[] = []
  #failure: Error | undefined
  #mode: 'idle' | 'saturate' | 'rate' = 'idle'
  #pumpScheduled = false
  #rr = 0
  readonly #acks: PendingAcks[] = []
  #ackTimer: NodeJS.Timeout | undefined
  #latency: { from: number; until: number; samples: Float64Array; n: number; overflow: number } | undefined

  private constructor(opts: LoadOptions) {
    this.#opts = opts
    this.fanout = opts.scenario === 'fan-out' ? opts.clients : 1
  }

  static async open(opts: LoadOptions): Promise<Load> {
    const load = new Load(opts)
    try {
      await load.#connect()
      if (opts.qos === 1) load.#ackTimer = setInterval(() => load.#acks.forEach(flushAcks), ACK_EVERY_MS)
    } catch (err) {
      await load.close()
      throw err
    }
    return load
  }

  async #connect(): Promise<void> {
    const { port, scenario, qos, clients, tag, payloadBytes } = this.#opts
    const subs = scenario === 'fan-out' ? clients : 1
    const pubs = scenario === 'fan-in' ? clients : 1
    const filter = scenario === 'fan-in' ? `bench/${tag}/+` : `bench/${tag}/all`
    const fail = (err: Error): void => {
      this.#failure ??= err
    }
    await Promise.all(
      Array.from({ length: subs }, async (_, i) => {
        const conn = await Connection.open(port, `s${tag}-${i}`)
        this.#conns.push(conn)
        await conn.subscribe(filter, qos)
        this.#attachSubscriber(conn, fail)
      }),
    )
    await Promise.all(
      Array.from({ length: pubs }, async (_, i) => {
        const conn = await Connection.open(port, `p${tag}-${i}`)
        this.#conns.push(conn)
        const topic = scenario === 'fan-in' ? `bench/${tag}/${String(i).padStart(3, '0')}` : `bench/${tag}/all`
        const pub = new Publisher(conn, publishTemplate(topic, qos, payloadBytes), this.#opts.inflight, () => this.#kick())
        this.#pubs.push(pub)
        conn.handle(
          (type) => {
            if (type !== PUBACK) return
            pub.inflight--
            this.counters.acked++
          },
          () => this.#kick(),
          fail,
        )
      }),
    )
  }

  #attachSubscriber(conn: Connection, fail: (err: Error) => void): void {
    const ack = { conn, ids: [] as number[] }
    this.#acks.push(ack)
    conn.handle(
      (type, flags, buf, start, _end, now) => {
        if (type !== PUBLISH) return
        this.counters.received++
        let at = start + 2 + buf.readUInt16BE(start)
        if ((flags & 0x06) !== 0) {
          ack.ids.push(buf.readUInt16BE(at))
          at += 2
        }
        const lat = this.#latency
        if (lat !== undefined) {
          const sentAt = buf.readDoubleLE(at)
          if (sentAt >= lat.from && sentAt < lat.until) {
            if (lat.n < lat.samples.length) lat.samples[lat.n++] = now - sentAt
            else lat.overflow++
          }
        }
      },
      () => {
        if (ack.ids.length >= ACK_BATCH) flushAcks(ack)
        if (this.#mode === 'saturate') this.#kick()
      },
      fail,
    )
  }

  /** Deliveries published but neither received nor written off. */
  get outstanding(): number {
    return this.counters.sent * this.fanout - this.counters.received - this.writtenOff
  }

  #kick(): void {
    if (this.#mode !== 'saturate' || this.#pumpScheduled) return
    this.#pumpScheduled = true
    setImmediate(() => this.#pump())
  }

  #pump(): void {
    this.#pumpScheduled = false
    if (this.#mode !== 'saturate') return
    const pubs = this.#pubs
    const { batch, window, inflight } = this.#opts
    const windowCredit = Math.floor((window * this.fanout - this.outstanding) / this.fanout)
    // One round over the publishers per turn of the event loop: over loopback the kernel takes
    // writes synchronously for a long time, and an unbounded loop would never let replies in.
    const round = pubs.length * batch
    // Waiting until a quarter batch may go keeps the generator from paying a system call per
    // message when acknowledgements trickle in one by one.
    const least = Math.max(1, Math.min(Math.floor(batch / 4), window, inflight))
    let credit = Math.min(windowCredit, round)
    let idle = 0
    while (credit >= least && idle < pubs.length) {
      const pub = pubs[this.#rr] as Publisher
      this.#rr = (this.#rr + 1) % pubs.length
      const k = pub.send(Math.min(credit, batch), least)
      this.counters.sent += k
      credit -= k
      idle = k === 0 ? idle + 1 : 0
    }
    if (credit < least && windowCredit > round) this.#kick()
  }

  #check(): void {
    if (this.#failure !== undefined) throw this.#failure
  }

  /** Publishes as fast as the window allows until `stop` resolves; a stall writes the window off. */
  async saturate(stop: Promise<void>): Promise<void> {
    this.#check()
    this.#mode = 'saturate'
    let last = -1
    let lastProgress = performance.now()
    const watchdog = setInterval(() => {
      const progress = this.counters.received + this.counters.acked
      const now = performance.now()
      if (progress !== last) {
        last = progress
        lastProgress = now
      } else if (now - lastProgress > STALL_MS && this.outstanding > 0) {
        this.writtenOff += this.outstanding
        lastProgress = now
        this.#kick()
      }
    }, 50)
    this.#kick()
    try {
      await stop
    } finally {
      clearInterval(watchdog)
      this.#mode = 'idle'
    }
    this.#check()
  }

  /**
   * Publishes `perSec` messages per second in total (round-robin over publishers, on a 1 ms timer)
   * until `stop` resolves. Returns the largest lag behind the schedule, in messages.
   */
  async paced(perSec: number, stop: Promise<void>): Promise<number> {
    this.#check()
    this.#mode = 'rate'
    const start = performance.now()
    const pubs = this.#pubs
    let maxLag = 0
    const tick = (): void => {
      const due = Math.floor(((performance.now() - start) * perSec) / 1000) - this.counters.sent
      let left = due
      for (let j = 0; j < pubs.length && left > 0; j++) {
        const share = Math.ceil(left / (pubs.length - j))
        const pub = pubs[this.#rr] as Publisher
        this.#rr = (this.#rr + 1) % pubs.length
        const k = pub.send(share)
        this.counters.sent += k
        left -= k
      }
      maxLag = Math.max(maxLag, left)
    }
    const timer = setInterval(tick, 1)
    try {
      await stop
    } finally {
      clearInterval(timer)
      this.#mode = 'idle'
    }
    this.#check()
    return maxLag
  }

  /** Records publish→receive latency of messages sent within [from, until) (performance.now() ms). */
  recordLatency(from: number, until: number, capacity: number): void {
    this.#latency = { from, until, samples: new Float64Array(capacity), n: 0, overflow: 0 }
  }

  latencySamples(): { samples: Float64Array; overflow: number } {
    const lat = this.#latency
    return lat === undefined ? { samples: new Float64Array(0), overflow: 0 } : { samples: lat.samples.subarray(0, lat.n), overflow: lat.overflow }
  }

  /** Waits (bounded) until every published message was received or nothing arrives any more. */
  async drain(): Promise<void> {
    let last = -1
    let lastProgress = performance.now()
    while (this.counters.sent * this.fanout > this.counters.received && this.#failure === undefined) {
      const now = performance.now()
      if (this.counters.received !== last) {
        last = this.counters.received
        lastProgress = now
      } else if (now - lastProgress > DRAIN_MS) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    this.#check()
  }

  async close(): Promise<void> {
    this.#mode = 'idle'
    clearInterval(this.#ackTimer)
    await Promise.all(this.#conns.map((c) => c.close()))
  }
}
