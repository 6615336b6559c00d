/**
 * The mapper runtime's only source of time. Polling cycles, heartbeats and back-off all read it, so
 * tests advance a manual clock (test/support/manual-clock.ts) instead of sleeping (STYLE: time is
 * injected; MQTT.js's injected Timer in KeepaliveManager.ts).
 */

/** An opaque timer handle from `Clock.setTimeout`. */
export interface TimerHandle {
  readonly __timer: unique symbol
}

export interface Clock {
  /** milliseconds since the Unix epoch */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)) as unknown as TimerHandle,
  clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
}

/**
 * A sleep that something else can cut short: resolves after `ms`, or at once when `wake()` is
 * called (a delta arrived, the supervisor is stopping). At most one sleep at a time.
 */
export class Alarm {
  readonly #clock: Clock
  #pending: { handle: TimerHandle; resolve: () => void } | undefined
  #woken = false

  constructor(clock: Clock) {
    this.#clock = clock
  }

  sleep(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const handle = this.#clock.setTimeout(() => {
        this.#pending = undefined
        resolve()
      }, ms)
      this.#pending = { handle, resolve }
    })
  }

  /** Forgets a wake-up that came while nobody slept (a back-off wait must not be cut short by it). */
  reset(): void {
    this.#woken = false
  }

  /** Ends the current sleep, or makes the next one return at once. */
  wake(): void {
    const pending = this.#pending
    if (pending === undefined) {
      this.#woken = true
      return
    }
    this.#pending = undefined
    this.#clock.clearTimeout(pending.handle)
    pending.resolve()
  }
}
