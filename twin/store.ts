/**
 * The twin's durable store: one JSON record per device in a sublevel of the node database. Any
 * abstract-level database works — classic-level (LevelDB) in production, memory-level in unit
 * tests. Writes arriving while a batch is being committed are grouped into the next batch (group
 * commit), so many devices' requests cost one LevelDB write; each caller's promise resolves only
 * after its own records are written (durable before acknowledged, DESIGN.md §4.3).
 */
import type { AbstractLevel, AbstractSublevel } from 'abstract-level'

export type StoreOp<T> = { type: 'put'; id: string; value: T } | { type: 'del'; id: string }

export interface TwinStore<T> {
  /** Every record, in id order. */
  loadAll(): Promise<Array<{ id: string; value: T }>>
  /** Writes the operations of one request atomically; resolves once they are written. */
  write(ops: ReadonlyArray<StoreOp<T>>): Promise<void>
  close(): Promise<void>
}

type AnyLevel = AbstractLevel<string | Buffer | Uint8Array, string, unknown>

interface Pending<T> {
  ops: ReadonlyArray<StoreOp<T>>
  resolve(): void
  reject(err: unknown): void
}

export class LevelTwinStore<T> implements TwinStore<T> {
  readonly #db: AbstractSublevel<AnyLevel, string | Buffer | Uint8Array, string, T>
  readonly #sync: boolean
  #queue: Array<Pending<T>> = []
  #committing = false
  #idle: Promise<void> = Promise.resolve()
  #markIdle: () => void = () => {}

  /**
   * @param db the node database; the store keeps its records under the `twin` sublevel
   * @param options.sync fsync every batch (survives power loss, not only a process crash)
   */
  constructor(db: AnyLevel, options: { sublevel?: string; sync?: boolean } = {}) {
    this.#db = db.sublevel<string, T>(options.sublevel ?? 'twin', { valueEncoding: 'json' })
    this.#sync = options.sync ?? false
  }

  async loadAll(): Promise<Array<{ id: string; value: T }>> {
    const out: Array<{ id: string; value: T }> = []
    for await (const [id, value] of this.#db.iterator()) out.push({ id, value })
    return out
  }

  write(ops: ReadonlyArray<StoreOp<T>>): Promise<void> {
    if (ops.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.#queue.push({ ops, resolve, reject })
      if (!this.#committing) this.#commitLoop()
    })
  }

  /** Waits for writes in flight, then closes nothing else: the node database is closed by its owner. */
  async close(): Promise<void> {
    await this.#idle
  }

  #commitLoop(): void {
    this.#committing = true
    this.#idle = new Promise((resolve) => (this.#markIdle = resolve))
    const next = (): void => {
      const group = this.#queue
      this.#queue = []
      if (group.length === 0) {
        this.#committing = false
        this.#markIdle()
        return
      }
      const batch = group.flatMap((p) =>
        p.ops.map((op) => (op.type === 'put' ? { type: 'put' as const, key: op.id, value: op.value } : { type: 'del' as const, key: op.id })),
      )
      // `sync` is classic-level's option; sublevels pass options through to the parent database.
      this.#db.batch(batch, { sync: this.#sync } as object).then(
        () => {
          for (const p of group) p.resolve()
          next()
        },
        (err: unknown) => {
          for (const p of group) p.reject(err)
          next()
        },
      )
    }
    // Let the requests of this turn of the event loop join the first batch.
    setImmediate(next)
  }
}
