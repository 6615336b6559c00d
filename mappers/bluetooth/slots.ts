/**
 * The connection slots of each adapter: a BLE controller holds only so many connections at once
 * (`maxConnections`), so devices beyond it wait, first come first served, for one to free up. The
 * slots live in the protocol object: they outlive the drivers, which the runtime replaces after
 * every lost link. A device whose connect fails gives its slot back at once.
 */

export type Release = () => void

interface Pool {
  limit: number
  used: number
  waiting: Array<(release: Release) => void>
}

export class AdapterSlots {
  readonly #pools = new Map<string, Pool>()

  /** A slot of `adapter`, or undefined when none came free within `timeoutMs`. `limit`: the smallest asked for wins. */
  acquire(adapter: string, limit: number, timeoutMs: number): Promise<Release | undefined> {
    let pool = this.#pools.get(adapter)
    if (pool === undefined) this.#pools.set(adapter, (pool = { limit, used: 0, waiting: [] }))
    pool.limit = Math.min(pool.limit, limit)
    const p = pool
    if (p.used < p.limit) return Promise.resolve(this.#take(p))
    return new Promise((resolve) => {
      const grant = (release: Release): void => {
        clearTimeout(timer)
        resolve(release)
      }
      const timer = setTimeout(() => {
        p.waiting = p.waiting.filter((g) => g !== grant)
        resolve(undefined)
      }, timeoutMs)
      p.waiting.push(grant)
    })
  }

  /** slots in use per adapter, for tests and metrics */
  inUse(adapter: string): number {
    return this.#pools.get(adapter)?.used ?? 0
  }

  #take(pool: Pool): Release {
    pool.used++
    let released = false
    return () => {
      if (released) return
      released = true
      pool.used--
      if (pool.used >= pool.limit) return
      const next = pool.waiting.shift()
      if (next !== undefined) next(this.#take(pool))
    }
  }
}
