/**
 * Capped exponential back-off with jitter, as a pure calculation. Attempt n (from 0) waits a random
 * time in [initialMs, min(maxMs, initialMs × multiplier^n)]: "full jitter" above a floor, so
 * devices that failed together do not retry together, and no retry ever comes sooner than
 * `initialMs`. The attempt count starts again after a link has stayed up for `resetAfterMs`.
 */

export interface BackoffOptions {
  /** first delay and the floor of every delay, ms */
  initialMs: number
  /** cap of every delay, ms */
  maxMs: number
  /** growth of the ceiling per failed attempt */
  multiplier: number
  /** a link that stayed up this long starts the next failure sequence from `initialMs` again */
  resetAfterMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60_000, multiplier: 2, resetAfterMs: 30_000 }

/** The ceiling of attempt `attempt` (0-based): min(maxMs, initialMs × multiplier^attempt), whole ms. */
export function backoffCeiling(options: BackoffOptions, attempt: number): number {
  const floor = Math.min(options.initialMs, options.maxMs)
  const grown = floor * Math.pow(Math.max(1, options.multiplier), attempt)
  return Math.min(options.maxMs, Number.isFinite(grown) ? Math.max(floor, Math.round(grown)) : options.maxMs)
}

/** The delay before retry `attempt`, with `random()` in [0, 1). */
export function backoffDelay(options: BackoffOptions, attempt: number, random: () => number): number {
  const floor = Math.min(options.initialMs, options.maxMs)
  const ceiling = backoffCeiling(options, attempt)
  const r = Math.min(Math.max(random(), 0), 1)
  return Math.min(ceiling, Math.round(floor + r * (ceiling - floor)))
}

/** One failure sequence: call `next()` after each failure, `succeeded(now)` when the link is up. */
export class Backoff {
  readonly #options: BackoffOptions
  readonly #random: () => number
  #attempt = 0
  #upSince: number | undefined

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.#options = options
    this.#random = random
  }

  /** failures since the sequence last started */
  get attempt(): number {
    return this.#attempt
  }

  /** The link is up (again) at `now`. */
  succeeded(now: number): void {
    this.#upSince = now
  }

  /** A failure at `now`: the delay before the next attempt. */
  next(now: number): number {
    if (this.#upSince !== undefined && now - this.#upSince >= this.#options.resetAfterMs) this.#attempt = 0
    this.#upSince = undefined
    return backoffDelay(this.#options, this.#attempt++, this.#random)
  }

  reset(): void {
    this.#attempt = 0
    this.#upSince = undefined
  }
}
