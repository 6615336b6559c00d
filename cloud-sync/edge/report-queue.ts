/**
 * Upstream reports that are the latest value of something (the node's status, its pods' statuses and events),
 * kept by key in the node database until the cloud acknowledges them — the device outbox's rules
 * for reports that are not twins:
 *
 * - `put(key, report)` writes the report (replacing an older one of the key) before it is sent,
 *   so a report made while the link is down, or before a crash, is sent after reconnecting;
 * - one message per key in flight, so a re-sent report never overtakes a newer one; a newer report
 *   put meanwhile is sent after the answer (coalesced: only the latest of a key is ever sent);
 * - `response` or a final refusal (an error re-sending cannot change) removes the key, unless a
 *   newer report replaced it; any other error keeps it and retries after `retryMs`; a closed link
 *   keeps it for the next session.
 */
import type { Logger } from 'pino'
import type { ErrorCode } from '../../schemas/errors.js'
import type { LevelStore } from '../../twin/store.js'
import { message, Operations, type Envelope } from '../messages.js'
import type { Session } from '../session.js'

export interface QueuedReport {
  source: string
  group: string
  /** default `update` (a pod's final `delete` is a report too) */
  operation?: string
  resource: string
  content: unknown
}

/** The `reports` space of the node database. */
export interface ReportSpaces extends Record<string, unknown> {
  reports: QueuedReport
}

export interface ReportQueueOptions {
  store: LevelStore<ReportSpaces>
  log: Logger
  /** wait after an error answer before the key is sent again (default 5000 ms) */
  retryMs?: number
}

interface Entry {
  report: QueuedReport
  seq: number
}

/** Error answers that re-sending the same report cannot change. */
const FINAL: ReadonlySet<string> = new Set<ErrorCode>(['CLOUD_NOT_OWNER', 'CLOUD_MESSAGE_INVALID', 'CLOUD_STATUS_WRITE_FAILED'])

export class ReportQueue {
  readonly #o: Required<Omit<ReportQueueOptions, 'log'>>
  readonly #log: Logger
  readonly #entries = new Map<string, Entry>()
  readonly #flying = new Set<string>()
  readonly #retries = new Map<string, NodeJS.Timeout>()
  #session: Session | undefined
  #seq = 0
  #stopped = false

  constructor(options: ReportQueueOptions) {
    this.#o = { retryMs: 5000, ...options }
    this.#log = options.log.child({ part: 'reports' })
  }

  /** Loads the reports not acknowledged by earlier runs. */
  async start(): Promise<void> {
    for (const { key, value } of await this.#o.store.loadAll('reports')) this.#entries.set(key, { report: value, seq: ++this.#seq })
  }

  /** Reports waiting to be acknowledged, or whose removal from the store is not written yet (for tests and metrics). */
  get size(): number {
    return this.#entries.size
  }

  /** Replaces the key's report (durably) and sends it when the link and the key allow. */
  async put(key: string, report: QueuedReport): Promise<void> {
    if (this.#stopped) return
    const entry = { report, seq: ++this.#seq }
    this.#entries.set(key, entry)
    await this.#o.store.write([{ space: 'reports', type: 'put', key, value: report }])
    this.#send(key)
  }

  attach(session: Session): void {
    if (this.#stopped || !session.open) return
    this.#session = session
    session.onClose(() => {
      if (this.#session === session) this.#session = undefined
    })
    for (const key of this.#entries.keys()) this.#send(key)
  }

  stop(): Promise<void> {
    this.#stopped = true
    for (const timer of this.#retries.values()) clearTimeout(timer)
    this.#retries.clear()
    return Promise.resolve()
  }

  #send(key: string): void {
    const session = this.#session
    const entry = this.#entries.get(key)
    if (this.#stopped || session?.open !== true || entry === undefined || this.#flying.has(key) || this.#retries.has(key)) return
    this.#flying.add(key)
    const { source, group, operation, resource, content } = entry.report
    void session
      .request(message({ source, group, operation: operation ?? Operations.update, resource }, content))
      .then(
        (answer) => this.#answered(key, entry, answer),
        () => undefined, // link closed: sent again on the next session
      )
      .catch((err: unknown) => this.#log.error({ err, key }, 'report answer handling failed'))
      .finally(() => {
        this.#flying.delete(key)
        this.#send(key)
      })
  }

  async #answered(key: string, entry: Entry, answer: Envelope): Promise<void> {
    const code = errorCode(answer)
    if (answer.route.operation !== Operations.response && (code === undefined || !FINAL.has(code))) {
      this.#log.warn({ key, answer: answer.content }, 'the cloud refused a report; retrying later')
      const timer = setTimeout(() => {
        this.#retries.delete(key)
        this.#send(key)
      }, this.#o.retryMs)
      timer.unref()
      this.#retries.set(key, timer)
      return
    }
    if (code !== undefined) this.#log.warn({ key, code, answer: answer.content }, 'the cloud refused the report for good; dropped')
    if (this.#entries.get(key) !== entry) return // a newer report is waiting: it goes next
    // a newer report put meanwhile is written after this delete, and stays
    await this.#o.store.write([{ space: 'reports', type: 'del', key }])
    if (this.#entries.get(key) === entry) this.#entries.delete(key)
  }
}

function errorCode(answer: Envelope): string | undefined {
  if (answer.route.operation !== Operations.error) return undefined
  const content = answer.content as { code?: unknown } | null
  return typeof content?.code === 'string' ? content.code : undefined
}
