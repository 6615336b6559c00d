/**
 * Back-off, rate limit and an abortable sleep for the cloud controllers, all on an injected
 * {@link Clock} so tests can move time instead of sleeping.
 */
import { backoffCeiling, type BackoffOptions as RuntimeBackoffOptions } from '../../mappers/runtime/backoff.js'
import type { Clock } from '../../mappers/runtime/clock.js'

export interface BackoffOptions {
  /** first delay, ms */
  initialMs: number
  /** cap, ms */
  maxMs: number
}

/**
 * Exponential back-off without jitter (the controllers' retries are per object, not a herd of
 * clients): initial, ×2 each failure, capped; `reset()` after a success. The mapper runtime's
 * capped-exponential formula, at its ceiling.
 */
export class Backoff {
  readonly #o: RuntimeBackoffOptions
  #attempt = 0

  constructor(options: BackoffOptions) {
    this.#o = { ...options, multiplier: 2, resetAfterMs: 0 }
  }

  next(): number {
    return backoffCeiling(this.#o, this.#attempt++)
  }

  reset(): void {
    this.#attempt = 0
  }
}

/** How long past the wait it was given a refused lane keeps its turn (its timer may fire late on a busy machine). */
const TURN_GRACE_MS = 1000

/**
 * A token bucket (client-go's `flowcontrol` limiter): `burst` tokens, refilled at `qps` per second.
 * `take(lane)` takes a token and returns 0, or returns how many ms until one is available.
 *
 * Writers that share one bucket (Device status and pod status share the API server budget) each
 * take under a lane of their own, and tokens go to the lanes in turn: a lane refused for want of a
 * token is next, ahead of a lane that took one meanwhile, so two lanes with work waiting get half
 * the rate each, and one alone gets all of it. Without turns the lane whose timer happened to
 * fire first took every token as it came: 10,000 pod statuses after 1,000 nodes reconnected held
 * Device status back for the 200 s they took. A lane keeps its turn until it comes back, or for
 * {@link TURN_GRACE_MS} past the wait it was given (a writer that stopped asking).
 */
export class TokenBucket {
  readonly #qps: number
  readonly #burst: number
  readonly #clock: Clock
  #tokens: number
  #at: number
  /** refused lanes in the order they were first refused, and until when each keeps its turn */
  readonly #waiting = new Map<string, number>()

  constructor(options: { qps: number; burst: number; clock: Clock }) {
    if (!(options.qps > 0) || !(options.burst >= 1)) throw new RangeError('qps must be > 0 and burst ≥ 1')
    this.#qps = options.qps
    this.#burst = options.burst
    this.#clock = options.clock
    this.#tokens = options.burst
    this.#at = options.clock.now()
  }

  /** Tokens there are now (at most `burst`); one is taken per request. */
  get available(): number {
    return Math.min(this.#burst, this.#tokens + ((this.#clock.now() - this.#at) * this.#qps) / 1000)
  }

  get burst(): number {
    return this.#burst
  }

  take(lane = ''): number {
    const now = this.#clock.now()
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#qps) / 1000)
    this.#at = now
    const turn = this.#turn(now)
    if (this.#tokens >= 1 && (turn === undefined || turn === lane)) {
      this.#tokens -= 1
      this.#waiting.delete(lane)
      return 0
    }
    // the token there is belongs to the lane whose turn it is: wait for the one after it
    const short = turn === undefined || turn === lane ? 1 - this.#tokens : 2 - this.#tokens
    const wait = Math.max(1, Math.ceil((short * 1000) / this.#qps))
    // a lane refused again keeps its place (Map order); a new one queues behind those refused before it
    this.#waiting.set(lane, now + wait + TURN_GRACE_MS)
    return wait
  }

  /** The lane refused longest ago that still keeps its turn. */
  #turn(now: number): string | undefined {
    for (const [lane, keeps] of this.#waiting) {
      if (keeps >= now) return lane
      this.#waiting.delete(lane)
    }
    return undefined
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function delay(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      clock.clearTimeout(handle)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const handle = clock.setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
