/**
 * The broker's limits on what one connection may cost (DESIGN §3), and the counters of each
 * limit biting, which the broker exposes as `EdgeBroker.limits` for logs and metrics.
 * Per-client outgoing queues are in outgoing.ts, packet sizes in packet-size.ts.
 */
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'

export interface LimitCounters {
  /** QoS 0 messages not sent to a client because its connection was backed up */
  qos0Dropped: number
  /** QoS 1/2 messages dropped for a clean-session client whose queue was full (maxQueuedMessages/Bytes) */
  queueFullDropped: number
  /** QoS 1/2 messages for a persistent session whose queue was full, left in its store for its next connection */
  queueFullKept: number
  /** clients disconnected because their connection took nothing for the stall timeout */
  stalledDisconnects: number
  /** connections closed for announcing a packet over maxPacketSize */
  packetTooLarge: number
  /** connections closed for sending more than the CONNECT-phase limit before their CONNACK */
  connectPhaseTooLarge: number
  /** connections closed for sending no complete CONNECT in time */
  connectTimeouts: number
  /** connections closed at once because maxConnections were open */
  connectionsRefused: number
}

export function limitCounters(): LimitCounters {
  return {
    qos0Dropped: 0,
    queueFullDropped: 0,
    queueFullKept: 0,
    stalledDisconnects: 0,
    packetTooLarge: 0,
    connectPhaseTooLarge: 0,
    connectTimeouts: 0,
    connectionsRefused: 0,
  }
}

/**
 * `maxConnections` over every listener (0 = no limit): a connection past it is closed before the
 * broker reads a byte of it, as Mosquitto's `max_connections` does. Logged once each time the
 * limit is reached, not per refused connection.
 */
export class ConnectionLimit {
  readonly #max: number
  readonly #counters: LimitCounters
  readonly #log: Logger
  #open = 0
  #full = false

  constructor(max: number, counters: LimitCounters, log: Logger) {
    this.#max = max
    this.#counters = counters
    this.#log = log
  }

  get open(): number {
    return this.#open
  }

  /** Whether `stream` may go on; if not, it has been destroyed. */
  admit(stream: Duplex): boolean {
    if (this.#max > 0 && this.#open >= this.#max) {
      this.#counters.connectionsRefused++
      if (!this.#full) {
        this.#full = true
        this.#log.warn({ code: 'MQTT_CONNECTION_LIMIT', maxConnections: this.#max }, 'maxConnections reached: refusing further connections')
      }
      stream.destroy()
      return false
    }
    this.#open++
    stream.once('close', () => {
      this.#open--
      this.#full = false
    })
    return true
  }
}
