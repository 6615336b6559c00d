/**
 * The kubelet's crash back-off (client-go flowcontrol.Backoff as the kubelet uses it): the first
 * restart after a crash is immediate, the next waits 10 s, then 20 s, 40 s ... up to 5 min; a
 * container that ran for twice the cap (10 min) before it died starts over. The wait is counted
 * from when the container finished, so time spent while edged was not looking still counts.
 * Time comes from an injected clock so tests advance it instead of waiting minutes.
 */
import type { Clock } from '../mappers/runtime/clock.js'

export const CRASH_BACKOFF_INITIAL_MS = 10_000
export const CRASH_BACKOFF_MAX_MS = 300_000

interface Entry {
  backoffMs: number
  /** when the last restart was allowed (clock time) */
  lastUpdate: number
}

export class Backoff {
  readonly #entries = new Map<string, Entry>()
  readonly #clock: Pick<Clock, 'now'>
  readonly #initialMs: number
  readonly #maxMs: number

  constructor(options: { clock: Pick<Clock, 'now'>; initialMs?: number; maxMs?: number }) {
    this.#clock = options.clock
    this.#initialMs = options.initialMs ?? CRASH_BACKOFF_INITIAL_MS
    this.#maxMs = options.maxMs ?? CRASH_BACKOFF_MAX_MS
  }

  /** True while `key` must wait after an event (a container's finish) at `eventTime`, ms. */
  isInBackOffSince(key: string, eventTime: number): boolean {
    const entry = this.#entries.get(key)
    if (entry === undefined || this.#expired(eventTime, entry)) return false
    return this.#clock.now() - eventTime < entry.backoffMs
  }

  /** Records a restart allowed after an event at `eventTime`: the next wait doubles, or starts over. */
  next(key: string, eventTime: number): void {
    const entry = this.#entries.get(key)
    const backoffMs = entry === undefined || this.#expired(eventTime, entry) ? this.#initialMs : Math.min(entry.backoffMs * 2, this.#maxMs)
    this.#entries.set(key, { backoffMs, lastUpdate: this.#clock.now() })
  }

  /** The current wait of `key`, ms (0 when it has none). */
  get(key: string): number {
    return this.#entries.get(key)?.backoffMs ?? 0
  }

  /** Forgets the keys `keep` rejects (containers of pods that are gone). */
  prune(keep: (key: string) => boolean): void {
    for (const key of this.#entries.keys()) if (!keep(key)) this.#entries.delete(key)
  }

  /** A run that lasted twice the cap since the last restart counts as stable: the back-off starts over. */
  #expired(eventTime: number, entry: Entry): boolean {
    return eventTime - entry.lastUpdate > this.#maxMs * 2
  }
}
