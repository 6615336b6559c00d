/** The two client roles of the load generator on their connections: publisher and (acks of a) subscriber. */
import { performance } from 'node:perf_hooks'
import type { Connection } from './connection.js'
import { pubacks, type PublishTemplate } from './mqtt-wire.js'

/**
 * Subscribers acknowledge QoS 1 deliveries every millisecond, or sooner once this many are due.
 * Acknowledging each received chunk cost the generator one system call per message against a
 * broker that sends a segment per message (Mosquitto), and saturated its core. Neither broker
 * limits unacknowledged deliveries in this bench, so the delay throttles nothing.
 */
export const ACK_BATCH = 64
export const ACK_EVERY_MS = 1

export interface PendingAcks {
  conn: Connection
  ids: number[]
}

export function flushAcks(ack: PendingAcks): void {
  if (ack.ids.length === 0 || ack.conn.failure !== undefined) return
  ack.conn.socket.write(pubacks(ack.ids))
  ack.ids = []
}

/** One publishing connection: PUBLISH packets from a template, at most `maxInflight` unacknowledged at QoS 1. */
export class Publisher {
  inflight = 0
  #writable = true
  #nextId = 1
  readonly #conn: Connection
  readonly #tpl: PublishTemplate
  readonly #maxInflight: number

  constructor(conn: Connection, tpl: PublishTemplate, maxInflight: number, onDrain: () => void) {
    this.#conn = conn
    this.#tpl = tpl
    this.#maxInflight = tpl.messageIdAt < 0 ? Infinity : maxInflight
    conn.socket.on('drain', () => {
      this.#writable = true
      onDrain()
    })
  }

  /** Writes up to `count` messages in one socket write, or none if fewer than `min` may go. */
  send(count: number, min = 1): number {
    if (!this.#writable) return 0
    const k = Math.min(count, this.#maxInflight - this.inflight)
    if (k < min || k <= 0) return 0
    const tpl = this.#tpl
    const len = tpl.bytes.length
    const out = Buffer.allocUnsafe(k * len)
    const now = performance.now()
    for (let i = 0; i < k; i++) {
      const at = i * len
      tpl.bytes.copy(out, at)
      if (tpl.messageIdAt >= 0) {
        out.writeUInt16BE(this.#nextId, at + tpl.messageIdAt)
        this.#nextId = this.#nextId === 0xffff ? 1 : this.#nextId + 1
      }
      out.writeDoubleLE(now, at + tpl.payloadAt)
    }
    if (tpl.messageIdAt >= 0) this.inflight += k
    this.#writable = this.#conn.socket.write(out)
    return k
  }
}
