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

/**
 * A token bucket (client-go's `flowcontrol` limiter): `burst` tokens, refilled at `qps` per second.
 * `take()` takes a token and returns 0, or returns how many ms until one is available.
 */
export class TokenBucket {
  readonly #qps: number
  readonly #burst: number
  readonly #clock: Clock
  #tokens: number
  #at: number

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

  take(): number {
    const now = this.#clock.now()
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#qps) / 1000)
    this.#at = now
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return 0
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.#qps)
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
