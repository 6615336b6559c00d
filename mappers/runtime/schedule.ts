/**
 * When each property is due to be read. Every property runs on a grid from the moment the link came
 * up (`start + phase + k × collectCycle`), so properties whose cycles divide each other fall due at the
 * same instant and are read in one `driver.read` call; a round that ran late skips the missed
 * slots instead of catching up with a burst.
 */
import type { EdgeProperty } from '../../schemas/device.js'

/** KubeEdge's mapper framework reads a property every second when its collectCycle is absent or 0. */
export const DEFAULT_COLLECT_CYCLE_MS = 1000

export function collectCycleOf(property: EdgeProperty): number {
  const cycle = property.collectCycle
  return cycle === undefined || cycle <= 0 ? DEFAULT_COLLECT_CYCLE_MS : cycle
}

export class PollSchedule {
  readonly #properties: readonly EdgeProperty[]
  readonly #next = new Map<string, number>()
  /** where every property's grid starts: the link came up + the phase */
  #origin = 0

  constructor(properties: readonly EdgeProperty[]) {
    this.#properties = properties
  }

  /**
   * Every property is due at `now` (the link just came up); after that read each runs on its grid
   * from `now + phase × shortest cycle`, `phase` in [0, 1). Devices given different phases spread
   * their reads over the cycle instead of all falling due on a shared line at the same instant.
   */
  restart(now: number, phase = 0): void {
    const shortest = Math.min(...this.#properties.map(collectCycleOf))
    this.#origin = now + (Number.isFinite(shortest) ? Math.floor(Math.min(Math.max(phase, 0), 1) * shortest) : 0)
    for (const p of this.#properties) this.#next.set(p.name, now)
  }

  /** The properties due at `now`, in declaration order. */
  due(now: number): EdgeProperty[] {
    return this.#properties.filter((p) => (this.#next.get(p.name) ?? Infinity) <= now)
  }

  /** `read` were read at `now`: move each to its first grid slot after `now` (missed slots are skipped). */
  done(read: readonly EdgeProperty[], now: number): void {
    for (const p of read) {
      const cycle = collectCycleOf(p)
      this.#next.set(p.name, this.#origin + cycle * (Math.floor((now - this.#origin) / cycle) + 1))
    }
  }

  /** The earliest due time, or undefined before `restart`. */
  nextDue(): number | undefined {
    let earliest: number | undefined
    for (const t of this.#next.values()) if (earliest === undefined || t < earliest) earliest = t
    return earliest
  }
}
