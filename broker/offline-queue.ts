/**
 * Limits on what the session store keeps for a persistent session whose client is offline, with
 * Mosquitto's names and rule (`max_queued_messages`, `max_queued_bytes`): once a session holds
 * `maxQueuedMessages` QoS 1/2 messages (or `maxQueuedBytes` of payload), further ones for it are
 * dropped, so it keeps the oldest; 0 means no limit. Without a limit 50,000 messages queued for
 * one session and its redelivery took 320 MB. Messages for connected clients are not limited
 * here (the broker's per-client outgoing limits cover them) but are counted, since aedes keeps
 * every QoS 1/2 message of a persistent session in the store until it is acknowledged.
 *
 * What a session holds is counted from the store the first time it is needed after a start, then
 * kept up to date as messages are stored and cleared. Drops are counted in `stats` and logged at
 * warn once per session per episode (until the session holds less than its limit again).
 */
import type { Logger } from 'pino'

export interface QueueLimits {
  maxQueuedMessages: number
  maxQueuedBytes: number
}

/** Counters the broker can report. */
export interface OfflineQueueStats {
  /** messages dropped because an offline session held its limit */
  droppedOverLimit: number
  droppedOverLimitBytes: number
  /** messages dropped because the store could not write them (disk full) */
  droppedStoreUnavailable: number
}

interface Held {
  messages: number
  bytes: number
  dropping: boolean
}

/** How many messages, and payload bytes, the store holds for a session (one pass over its queue). */
export type CountHeld = (clientId: string) => Promise<{ messages: number; bytes: number }>

export class OfflineQueues {
  readonly stats: OfflineQueueStats = { droppedOverLimit: 0, droppedOverLimitBytes: 0, droppedStoreUnavailable: 0 }
  readonly #limits: QueueLimits
  readonly #log: Logger
  readonly #count: CountHeld
  readonly #held = new Map<string, Promise<Held>>()
  /** the same, once counted */
  readonly #counted = new Map<string, Held>()

  constructor(limits: QueueLimits, log: Logger, count: CountHeld) {
    this.#limits = limits
    this.#log = log
    this.#count = count
  }

  /**
   * Whether a message of `bytes` payload may be stored for `clientId` (offline unless `online`);
   * if so it is counted as held, else counted as dropped.
   */
  async admit(clientId: string, bytes: number, online: boolean): Promise<boolean> {
    const held = await this.#of(clientId)
    const { maxQueuedMessages, maxQueuedBytes } = this.#limits
    const full = (maxQueuedMessages > 0 && held.messages >= maxQueuedMessages) || (maxQueuedBytes > 0 && held.bytes + bytes > maxQueuedBytes)
    if (online || !full) {
      held.messages++
      held.bytes += bytes
      return true
    }
    this.stats.droppedOverLimit++
    this.stats.droppedOverLimitBytes += bytes
    if (!held.dropping) {
      held.dropping = true
      this.#log.warn(
        { code: 'MQTT_OFFLINE_QUEUE_FULL', clientId, queued: held.messages, queuedBytes: held.bytes, maxQueuedMessages, maxQueuedBytes },
        'an offline session holds its limit of queued messages: newer ones for it are dropped',
      )
    }
    return false
  }

  /**
   * The store no longer holds (or did not store after all) a message of `bytes` payload for
   * `clientId`; with `messages` 0, only its payload (a QoS 2 message replaced by its PUBREL).
   */
  async released(clientId: string, bytes: number, messages = 1): Promise<void> {
    const held = await this.#of(clientId)
    held.messages = Math.max(0, held.messages - messages)
    held.bytes = Math.max(0, held.bytes - bytes)
    const { maxQueuedMessages, maxQueuedBytes } = this.#limits
    if (held.dropping && (maxQueuedMessages === 0 || held.messages < maxQueuedMessages) && (maxQueuedBytes === 0 || held.bytes < maxQueuedBytes)) held.dropping = false
  }

  /** Whether messages for `clientId` are being dropped (its session holds its limit). */
  dropping(clientId: string): boolean {
    return this.#counted.get(clientId)?.dropping ?? false
  }

  /** A message for `clientId` could not be stored because the store cannot write. */
  droppedUnavailable(): void {
    this.stats.droppedStoreUnavailable++
  }

  #of(clientId: string): Promise<Held> {
    let held = this.#held.get(clientId)
    if (held === undefined) {
      held = this.#count(clientId).then(({ messages, bytes }) => {
        const counted = { messages, bytes, dropping: false }
        this.#counted.set(clientId, counted)
        return counted
      })
      this.#held.set(clientId, held)
      held.catch(() => this.#held.delete(clientId)) // counted again next time
    }
    return held
  }
}
