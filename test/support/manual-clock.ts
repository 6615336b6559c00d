/**
 * A Clock that moves only when a test says so. `advance(ms)` fires due timers in time order and lets
 * the promise chains they start run to their next timer before going on, so a mapper's poll loop,
 * back-off and heartbeat play out in virtual time without sleeping.
 */
import type { Clock, TimerHandle } from '../../mappers/runtime/clock.js'

interface Timer {
  id: number
  at: number
  fn: () => void
}

export class ManualClock implements Clock {
  #now: number
  #seq = 0
  readonly #timers = new Map<number, Timer>()
  /** every delay ever asked for, in order (to assert back-off and polling delays) */
  readonly requested: number[] = []

  constructor(start = 1_767_225_600_000) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq
    this.requested.push(ms)
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn })
    return id as unknown as TimerHandle
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as unknown as number)
  }

  /** Timers not yet fired, as delays from now. */
  pending(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b)
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms
    await settle()
    for (;;) {
      const next = [...this.#timers.values()].filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0]
      if (next === undefined) break
      this.#timers.delete(next.id)
      this.#now = Math.max(this.#now, next.at)
      next.fn()
      await settle()
    }
    this.#now = until
    await settle()
  }
}

/** Lets pending promise callbacks, nextTicks and immediates run (several rounds: chains are deep). */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
