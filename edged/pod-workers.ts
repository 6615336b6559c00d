/**
 * One worker per pod (the kubelet's podWorkers): a pod's syncs run one at a time, different pods'
 * at once, so one pod's 30 s grace period does not hold up the others. A worker is offered each
 * relist's view of its pod; a view taken before the worker's last sync finished is dropped, since
 * it may not show what that sync just created (acting on it would start a second copy).
 */
export type PodWork<V> = (uid: string, view: V) => Promise<void>

interface Worker<V> {
  busy: Promise<void> | undefined
  /** relist sequence number current when the last sync finished */
  doneAt: number
  pending: { seq: number; view: V } | undefined
}

export class PodWorkers<V> {
  readonly #workers = new Map<string, Worker<V>>()
  readonly #work: PodWork<V>
  readonly #onError: (uid: string, err: unknown) => void
  readonly #seqNow: () => number

  /** @param seqNow the sequence number of the latest relist started (a later one is fresh for every worker idle now) */
  constructor(work: PodWork<V>, onError: (uid: string, err: unknown) => void, seqNow: () => number) {
    this.#work = work
    this.#onError = onError
    this.#seqNow = seqNow
  }

  /** Offers the view of relist `seq`; it runs now, after the sync in progress, or not at all when stale. */
  offer(uid: string, seq: number, view: V): void {
    let w = this.#workers.get(uid)
    if (w === undefined) this.#workers.set(uid, (w = { busy: undefined, doneAt: -1, pending: undefined }))
    w.pending = { seq, view }
    if (w.busy === undefined) this.#run(uid, w)
  }

  /** Forgets an idle worker (its pod is gone). */
  forget(uid: string): void {
    const w = this.#workers.get(uid)
    if (w !== undefined && w.busy === undefined) this.#workers.delete(uid)
  }

  get size(): number {
    return this.#workers.size
  }

  /** Resolves when every sync in progress has finished. */
  async idle(): Promise<void> {
    await Promise.all([...this.#workers.values()].flatMap((w) => (w.busy === undefined ? [] : [w.busy])))
  }

  #run(uid: string, w: Worker<V>): void {
    const next = w.pending
    w.pending = undefined
    if (next === undefined || next.seq <= w.doneAt) return
    w.busy = this.#work(uid, next.view)
      .catch((err: unknown) => this.#onError(uid, err))
      .finally(() => {
        w.doneAt = this.#seqNow()
        w.busy = undefined
        this.#run(uid, w)
      })
  }
}
