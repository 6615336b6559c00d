/**
 * The kubelet's EventCorrelator (client-go tools/record/events_cache.go), as pure logic over an
 * injected clock, so a crash-looping pod cannot flood the link or the API server:
 *
 * - **aggregation**: events alike but for their message (same object, type, reason) seen more
 *   than `maxSimilar` (10) times within `similarWindowMs` (10 min) become one event whose message
 *   is "(combined from similar events): <latest message>";
 * - **deduplication**: a repeat of an event (same object, type, reason, message) keeps its name and
 *   first timestamp, raises `count` and moves `lastTimestamp` (the cloud patches the Event);
 * - **spam filter**: per object a token bucket of `burst` (25) events refilled at one per
 *   `refillMs` (5 min); an event past it is dropped, its count still kept for the next one that
 *   passes.
 *
 * The caches hold at most `maxEntries` (4096) keys each, the oldest dropped first.
 */
import type { EventReport } from '../../schemas/pod-link.js'

export interface EventInput {
  involvedObject: EventReport['involvedObject']
  type: EventReport['type']
  reason: string
  message: string
}

export interface CorrelatorOptions {
  host: string
  now?: () => number
  maxSimilar?: number
  similarWindowMs?: number
  burst?: number
  refillMs?: number
  maxEntries?: number
}

/** An event to send: its Event name (stable across repeats) and content. */
export interface CorrelatedEvent {
  name: string
  event: EventReport
}

interface Seen {
  name: string
  count: number
  firstTimestamp: string
}

const COMBINED = '(combined from similar events): '
const MESSAGE_MAX = 1024

export class EventCorrelator {
  readonly #o: Required<CorrelatorOptions>
  /** aggregate key → messages seen in the window and when the window started */
  readonly #similar = new Map<string, { messages: Set<string>; since: number }>()
  /** event key → the Event it became */
  readonly #seen = new Map<string, Seen>()
  /** object key → spam-filter bucket */
  readonly #buckets = new Map<string, { tokens: number; at: number }>()

  constructor(options: CorrelatorOptions) {
    this.#o = { now: Date.now, maxSimilar: 10, similarWindowMs: 600_000, burst: 25, refillMs: 300_000, maxEntries: 4096, ...options }
  }

  /** The Event to send for `input`, or undefined when the spam filter drops it. */
  observe(input: EventInput): CorrelatedEvent | undefined {
    const now = this.#o.now()
    const object = objectKey(input.involvedObject)
    const aggregate = `${object}\u0000${input.type}\u0000${input.reason}`
    let message = input.message.slice(0, MESSAGE_MAX)
    let key = `${aggregate}\u0000${message}`
    const similar = this.#similar.get(aggregate)
    if (similar === undefined || now - similar.since > this.#o.similarWindowMs) {
      remember(this.#similar, aggregate, { messages: new Set([message]), since: now }, this.#o.maxEntries)
    } else {
      similar.messages.add(message)
      if (similar.messages.size > this.#o.maxSimilar) {
        message = `${COMBINED}${message}`.slice(0, MESSAGE_MAX)
        key = aggregate
      }
    }
    const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const before = this.#seen.get(key)
    const seen: Seen = before === undefined ? { name: eventName(input.involvedObject.name, now), count: 1, firstTimestamp: at } : { ...before, count: before.count + 1 }
    remember(this.#seen, key, seen, this.#o.maxEntries)
    if (!this.#take(object, now)) return undefined
    return {
      name: seen.name,
      event: {
        involvedObject: input.involvedObject,
        reason: input.reason,
        message,
        type: input.type,
        count: seen.count,
        firstTimestamp: seen.firstTimestamp,
        lastTimestamp: at,
        source: { component: 'kubelet', host: this.#o.host },
      },
    }
  }

  #take(object: string, now: number): boolean {
    const bucket = this.#buckets.get(object) ?? { tokens: this.#o.burst, at: now }
    bucket.tokens = Math.min(this.#o.burst, bucket.tokens + (now - bucket.at) / this.#o.refillMs)
    bucket.at = now
    const allowed = bucket.tokens >= 1
    if (allowed) bucket.tokens -= 1
    remember(this.#buckets, object, bucket, this.#o.maxEntries)
    return allowed
  }
}

function objectKey(o: EventReport['involvedObject']): string {
  return `${o.kind}\u0000${o.namespace}\u0000${o.name}\u0000${o.uid}\u0000${o.fieldPath ?? ''}`
}

/** The kubelet's Event names: `<object name>.<nanoseconds since the epoch, hex>`. */
function eventName(object: string, nowMs: number): string {
  return `${object}.${(BigInt(nowMs) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000))).toString(16)}`
}

/** Sets `key` as the newest entry of an insertion-ordered map, dropping the oldest past `max`. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > max) map.delete(map.keys().next().value as string)
}
