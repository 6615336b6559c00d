/**
 * Writes what edge nodes report to the API server one object at a time, coalesced and within a
 * budget (DESIGN.md §6 "status patches are coalesced … and rate-limited"), answering each edge
 * message only once its content is written:
 *
 * - `submit` folds a report into the object's pending value (`fold`: the newest wins, or a merge);
 *   reports of an object that wait together are written as one request;
 * - a pump starts at most `workers` writes at once, never two for one object, each taking a token
 *   of `bucket` (shared with other writers: one API budget, taken in turn by each writer's `lane`);
 * - `write` resolving with nothing acknowledges every report folded in; with a refusal answers
 *   them with its code (re-sending cannot help); throwing puts the value back behind newer
 *   reports (`merge`) and retries it with back-off, unanswered (the edge keeps re-sending);
 * - a re-send of a report already waiting is recognised by its msg_id and answered once, on the
 *   newest session; one that crossed its answer is answered again, not written again.
 */
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../../mappers/runtime/clock.js'
import type { ErrorCode } from '../../schemas/errors.js'
import { errorResponse, response, Sources, type Envelope } from '../messages.js'
import type { Session } from '../session.js'
import { Backoff, type BackoffOptions, type TokenBucket } from './timing.js'

/** How many acknowledged report ids are remembered (a re-send crosses an answer within seconds). */
const ACKED_REMEMBERED = 10_000

export interface Refusal {
  code: ErrorCode
  reason: string
}

export interface KeyedWriterOptions<S> {
  bucket: TokenBucket
  /** this writer's lane of `bucket`: writers sharing a bucket take its tokens in turn (timing.ts) */
  lane?: string
  clock: Clock
  log: Logger
  /** writes in flight at once (never two for one key) */
  workers: number
  /** back-off of a key whose write failed */
  retry: BackoffOptions
  /** writes `value`; resolves with a refusal the edge must not retry, throws to retry */
  write(key: string, value: S): Promise<Refusal | undefined>
  /** `older` (a failed write) under `newer` (reports that came meanwhile) */
  merge(older: S, newer: S | undefined): S
}

export interface KeyedWriterMetrics {
  written: number
  failures: number
  coalesced: number
  acked: number
  refused: number
}

interface Batch<S> {
  value: S
  reports: Map<string, { session: Session; message: Envelope }>
  notBefore: number
  backoff: Backoff | undefined
}

export class KeyedWriter<S> {
  readonly #o: KeyedWriterOptions<S>
  readonly #pending = new Map<string, Batch<S>>()
  readonly #writing = new Map<string, Batch<S>>()
  readonly #writes = new Set<Promise<void>>()
  readonly #acked = new Set<string>()
  readonly #metrics: KeyedWriterMetrics = { written: 0, failures: 0, coalesced: 0, acked: 0, refused: 0 }
  #timer: { handle: TimerHandle; at: number } | undefined
  #running = false

  constructor(options: KeyedWriterOptions<S>) {
    this.#o = options
  }

  metrics(): KeyedWriterMetrics & { pending: number; writing: number } {
    return { ...this.#metrics, pending: this.#pending.size, writing: this.#writing.size }
  }

  start(): void {
    this.#running = true
    this.#pump()
  }

  /** Stops writing; waits for writes in flight. Reports not written stay unanswered (the edge re-sends). */
  async stop(): Promise<void> {
    this.#running = false
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer.handle)
    this.#timer = undefined
    await Promise.all([...this.#writes])
    this.#pending.clear()
  }

  /** Whether `message` is a report already taken (then it has been answered or will be); call before checking it. */
  known(session: Session, message: Envelope, key: string): boolean {
    const id = message.header.msg_id
    if (this.#acked.has(id)) {
      session.send(response(message, Sources.cloud))
      return true
    }
    for (const queued of [this.#pending.get(key)?.reports, this.#writing.get(key)?.reports]) {
      if (queued?.has(id) !== true) continue
      queued.set(id, { session, message }) // answer it on the newest session
      return true
    }
    return false
  }

  /** Folds an accepted report into its key's pending value; answered once that is written. */
  submit(session: Session, message: Envelope, key: string, fold: (previous: S | undefined) => S): void {
    if (!this.#running) return // unanswered: the edge re-sends to whoever serves it next
    this.#fold(key, fold).reports.set(message.header.msg_id, { session, message })
    this.#pump()
  }

  /**
   * Folds a value of the cloud's own (no report to answer) into its key's pending value; taken
   * before `start()` too, and written once started.
   */
  put(key: string, fold: (previous: S | undefined) => S): void {
    this.#fold(key, fold)
    this.#pump()
  }

  #fold(key: string, fold: (previous: S | undefined) => S): Batch<S> {
    let batch = this.#pending.get(key)
    if (batch === undefined) {
      batch = { value: fold(undefined), reports: new Map(), notBefore: 0, backoff: undefined }
      this.#pending.set(key, batch)
    } else {
      this.#metrics.coalesced++
      batch.value = fold(batch.value)
    }
    return batch
  }

  #pump(): void {
    if (!this.#running) return
    const now = this.#o.clock.now()
    while (this.#writing.size < this.#o.workers) {
      let next: [string, Batch<S>] | undefined
      let earliest = Infinity
      for (const entry of this.#pending) {
        if (this.#writing.has(entry[0])) continue
        if (entry[1].notBefore <= now) {
          next = entry
          break
        }
        earliest = Math.min(earliest, entry[1].notBefore)
      }
      if (next === undefined) {
        if (earliest !== Infinity) this.#wakeAt(earliest)
        return
      }
      const wait = this.#o.bucket.take(this.#o.lane)
      if (wait > 0) {
        this.#wakeAt(now + wait)
        return
      }
      const [key, batch] = next
      this.#pending.delete(key)
      this.#writing.set(key, batch)
      const write = this.#write(key, batch)
      this.#writes.add(write)
      void write.finally(() => {
        this.#writes.delete(write)
        this.#writing.delete(key)
        this.#pump()
      })
    }
  }

  #wakeAt(at: number): void {
    if (this.#timer !== undefined && this.#timer.at <= at) return
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer.handle)
    const handle = this.#o.clock.setTimeout(() => {
      this.#timer = undefined
      this.#pump()
    }, at - this.#o.clock.now())
    this.#timer = { handle, at }
  }

  async #write(key: string, batch: Batch<S>): Promise<void> {
    try {
      const refusal = await this.#o.write(key, batch.value)
      if (refusal === undefined) this.#metrics.written++
      this.#answer(batch, refusal)
    } catch (err) {
      this.#metrics.failures++
      const backoff = batch.backoff ?? new Backoff(this.#o.retry)
      const wait = backoff.next()
      const status = (err as { status?: unknown }).status
      this.#o.log.warn({ key, code: 'CLOUD_STATUS_WRITE_FAILED', status, err: (err as Error).message, retryMs: wait }, 'write failed; retrying')
      const newer = this.#pending.get(key)
      this.#pending.delete(key)
      this.#pending.set(key, {
        value: this.#o.merge(batch.value, newer?.value),
        reports: new Map([...batch.reports, ...(newer?.reports ?? [])]),
        notBefore: this.#o.clock.now() + wait,
        backoff,
      })
    }
  }

  #answer(batch: Batch<S>, refusal: Refusal | undefined): void {
    for (const { session, message } of batch.reports.values()) {
      if (refusal === undefined) {
        this.#metrics.acked++
        this.#remember(message.header.msg_id)
        session.send(response(message, Sources.cloud))
      } else {
        this.#metrics.refused++
        session.send(errorResponse(message, Sources.cloud, refusal))
      }
    }
  }

  #remember(id: string): void {
    this.#acked.add(id)
    if (this.#acked.size <= ACKED_REMEMBERED) return
    for (const old of this.#acked) {
      this.#acked.delete(old)
      if (this.#acked.size <= ACKED_REMEMBERED) break
    }
  }
}
