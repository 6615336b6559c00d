/**
 * The twin's durable store: named key spaces (sublevels) of the node database, written together
 * in one atomic batch per request. Any abstract-level database works — classic-level (LevelDB) in
 * production, memory-level in unit tests. Writes arriving while a batch is being committed are
 * grouped into the next batch (group commit), so many devices' requests cost one LevelDB write;
 * each caller's promise resolves only after its own operations are written (durable before
 * acknowledged, DESIGN.md §4.3).
 */
import type { AbstractLevel, AbstractSublevel } from 'abstract-level'

export type AnyLevel = AbstractLevel<string | Buffer | Uint8Array, string, unknown>
type Space<V> = AbstractSublevel<AnyLevel, string | Buffer | Uint8Array, string, V>

/** One write in the space `space` of a store whose spaces hold the value types of `S`. */
export type StoreOp<S> = {
  [K in keyof S & string]: { space: K; type: 'put'; key: string; value: S[K] } | { space: K; type: 'del'; key: string }
}[keyof S & string]

/**
 * Writes go to the root database already encoded as the spaces read them (prefixed utf8 keys, JSON
 * values): abstract-level's own per-operation work (an options copy, encoding look-ups, sublevel
 * prefixing) was a sixth of the twin's CPU time under load.
 */
const RAW = { keyEncoding: 'utf8', valueEncoding: 'utf8' } as const

interface Pending<S> {
  ops: ReadonlyArray<StoreOp<S>>
  resolve(): void
  reject(err: unknown): void
}

export class LevelStore<S extends Record<string, unknown>> {
  readonly #spaces = new Map<keyof S, Space<unknown>>()
  /** each space's key prefix in the root database */
  readonly #prefixes = new Map<keyof S, string>()
  readonly #root: AnyLevel
  /** the root's implementation stores utf8 as is (classic-level; memory-level transcodes to buffers) */
  readonly #utf8Native: boolean
  readonly #sync: boolean
  #queue: Array<Pending<S>> = []
  #committing = false
  #idle: Promise<void> = Promise.resolve()
  #markIdle: () => void = () => {}
  readonly #onWrite: ((ms: number) => void) | undefined

  /**
   * @param db the node database (root or a sublevel)
   * @param spaces names of the key spaces; each becomes the sublevel `<prefix><name>`
   * @param options.sync fsync every batch (survives power loss, not only a process crash)
   * @param options.onWrite told how long each batch write took, ms (metrics)
   */
  constructor(db: AnyLevel, spaces: ReadonlyArray<keyof S & string>, options: { prefix?: string; sync?: boolean; onWrite?: (ms: number) => void } = {}) {
    let root = db
    for (const name of spaces) {
      const space = db.sublevel<string, unknown>(`${options.prefix ?? 'twin-'}${name}`, { valueEncoding: 'json' })
      this.#spaces.set(name, space)
      this.#prefixes.set(name, space.prefix)
      root = space.db
    }
    this.#root = root
    this.#utf8Native = root.keyEncoding('utf8').format === 'utf8' && root.valueEncoding('utf8').format === 'utf8'
    this.#sync = options.sync ?? false
    this.#onWrite = options.onWrite
  }

  /** Every record of a space, in key order; with `prefix`, only keys starting with it. */
  async loadAll<K extends keyof S & string>(space: K, prefix?: string): Promise<Array<{ key: string; value: S[K] }>> {
    const out: Array<{ key: string; value: S[K] }> = []
    const range = prefix === undefined ? {} : { gte: prefix, lt: `${prefix}\uffff` }
    for await (const [key, value] of this.#space(space).iterator(range)) out.push({ key, value: value as S[K] })
    return out
  }

  /** Writes the operations of one request atomically; resolves once they are written. */
  write(ops: ReadonlyArray<StoreOp<S>>): Promise<void> {
    if (ops.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.#queue.push({ ops, resolve, reject })
      if (!this.#committing) this.#commitLoop()
    })
  }

  /** Waits for writes in flight; the node database itself is closed by its owner. */
  async close(): Promise<void> {
    await this.#idle
  }

  #space(name: keyof S): Space<unknown> {
    const space = this.#spaces.get(name)
    if (space === undefined) throw new Error(`unknown store space ${String(name)}`)
    return space
  }

  #prefixOf(name: keyof S): string {
    const prefix = this.#prefixes.get(name)
    if (prefix === undefined) throw new Error(`unknown store space ${String(name)}`)
    return prefix
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
      const started = this.#onWrite === undefined ? 0 : performance.now()
      this.#writeGroup(group).then(
        () => {
          this.#onWrite?.(performance.now() - started)
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

  /**
   * One atomic write of every operation of `group`, as a chained batch (an array batch costs ~3x
   * per operation). Where the database takes utf8 natively (classic-level), the operations go
   * through the batch's implementation API (`_put`/`_del`/`_write`, what abstract-level itself
   * calls after encoding): its public put() spent ~5 µs per operation copying options and looking
   * up encodings, the largest single cost of a twin update. The store uses no prewrite hooks or
   * write events, the two things that layer adds.
   */
  async #writeGroup(group: ReadonlyArray<Pending<S>>): Promise<void> {
    const batch = this.#root.batch()
    const direct = this.#utf8Native && this.#root.status === 'open'
    const raw = batch as unknown as ImplementationBatch
    try {
      for (const p of group) {
        for (const op of p.ops) {
          const key = this.#prefixOf(op.space) + op.key
          if (op.type === 'put') {
            const value = JSON.stringify(op.value)
            if (typeof value !== 'string') throw new TypeError(`a ${String(op.space)} record has no JSON form`)
            if (direct) raw._put(key, value, RAW)
            else batch.put(key, value, RAW)
          } else if (direct) raw._del(key, RAW)
          else batch.del(key, RAW)
        }
      }
      // `sync` is classic-level's option; sublevel operations in a root batch are written atomically.
      if (direct) await raw._write({ sync: this.#sync })
      else await batch.write({ sync: this.#sync } as object)
    } finally {
      await batch.close() // after write() a no-op; otherwise it releases the native batch
    }
  }
}

/** abstract-level's implementation API of a chained batch (keys and values already in the given formats). */
interface ImplementationBatch {
  _put(key: string, value: string, options: typeof RAW): void
  _del(key: string, options: typeof RAW): void
  _write(options: object): Promise<void>
}
