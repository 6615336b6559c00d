/**
 * The sending half of the edge outbox: while a cloud session is attached, every device with marks
 * (outbox-marks.ts) gets its current twins, then its state, reported — one message per device in
 * flight, so a re-sent report can never overtake a newer one, and at most `window` devices at
 * once, so ten thousand dirty devices do not flood the link after a long offline spell.
 *
 * Answers: `response` clears the marks the report was built from (unless changed meanwhile);
 * an `error` the cloud will always give for this report (unknown device, a report it cannot read, a
 * status the API server refuses for good) drops them, logged; any other error keeps them and
 * retries the device after `retryMs`; a closed link keeps them for the next session.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { Operations, type Envelope } from '../messages.js'
import type { Session } from '../session.js'
import type { DeviceTwin } from '../../twin/device-twin.js'
import type { OutboxMarks } from './outbox-marks.js'
import type { ErrorCode } from '../../schemas/errors.js'
import { nextReport, type Report } from './reports.js'

export interface OutboxOptions {
  marks: OutboxMarks
  /** reads a device's record in its request order */
  twin: Pick<DeviceTwin, 'readDevice'>
  log: Logger
  /** devices with a report in flight at once (default 256) */
  window?: number
  /** wait after an error answer before the device is tried again (default 5000 ms) */
  retryMs?: number
  now?: () => number
  newEventId?: () => string
}

export class Outbox {
  readonly #o: Required<Omit<OutboxOptions, 'log'>>
  readonly #log: Logger
  /** dirty devices waiting for a slot, in arrival order */
  readonly #ready = new Set<string>()
  readonly #flying = new Set<string>()
  readonly #backingOff = new Map<string, NodeJS.Timeout>()
  #session: Session | undefined
  #started = false
  #stopped = false

  constructor(options: OutboxOptions) {
    this.#o = { window: 256, retryMs: 5000, now: Date.now, newEventId: randomUUID, ...options }
    this.#log = options.log.child({ part: 'outbox' })
  }

  start(): void {
    if (this.#started) return
    this.#started = true
    this.#o.marks.onDirty((key) => this.#wake(key))
    for (const key of this.#o.marks.dirtyDevices()) this.#wake(key)
  }

  /** Reports go over `session` from now on (a newer session replaces an older one); everything dirty is sent. */
  attach(session: Session): void {
    if (this.#stopped || !session.open) return
    this.#session = session
    session.onClose(() => {
      if (this.#session === session) this.#session = undefined
    })
    for (const key of this.#o.marks.dirtyDevices()) this.#wake(key)
  }

  /** Devices with a report in flight (for tests and metrics). */
  get inFlight(): number {
    return this.#flying.size
  }

  /** Sends nothing more; reports in flight end with their session. Marks stay for the next start. */
  stop(): Promise<void> {
    this.#stopped = true
    for (const timer of this.#backingOff.values()) clearTimeout(timer)
    this.#backingOff.clear()
    this.#ready.clear()
    return Promise.resolve()
  }

  #wake(key: string): void {
    if (this.#stopped || this.#flying.has(key) || this.#backingOff.has(key)) return
    this.#ready.add(key)
    this.#pump()
  }

  #pump(): void {
    while (this.#linked() && this.#flying.size < this.#o.window && this.#ready.size > 0) {
      const key = this.#ready.values().next().value as string
      this.#ready.delete(key)
      this.#flying.add(key)
      void this.#flush(key)
        .catch((err: unknown) => {
          this.#log.error({ err, device: key }, 'outbox flush failed')
          this.#backOff(key)
        })
        .finally(() => {
          this.#flying.delete(key)
          // A change between the flush's last read and now found the device flying and did not queue it.
          if (!this.#stopped && !this.#backingOff.has(key) && this.#o.marks.isDirty(key)) this.#ready.add(key)
          this.#pump()
        })
    }
  }

  #linked(): boolean {
    return !this.#stopped && this.#session?.open === true
  }

  /** Sends the device's reports one after another until it is clean or the link is gone. */
  async #flush(key: string): Promise<void> {
    for (;;) {
      const session = this.#session
      if (session === undefined || !this.#linked()) {
        if (!this.#stopped && this.#o.marks.isDirty(key)) this.#ready.add(key) // for the next attach
        return
      }
      const report = await this.#o.twin.readDevice(key, (record): Report | 'gone' | undefined => {
        const marks = this.#o.marks.snapshot(key)
        if (marks === undefined) return undefined
        return record === undefined ? 'gone' : nextReport(record, marks, this.#o.now(), this.#o.newEventId)
      })
      if (report === undefined) return
      if (report === 'gone') {
        await this.#o.marks.settle(key, this.#o.marks.snapshot(key) ?? { twins: new Map(), state: undefined })
        return
      }
      if (report.message === undefined) {
        await this.#o.marks.settle(key, report.sent)
        continue
      }
      let answer: Envelope
      try {
        answer = await session.request(report.message)
      } catch {
        continue // link closed (or the request superseded): the loop looks at the session again
      }
      const code = errorCode(answer)
      if (answer.route.operation === Operations.response || (code !== undefined && FINAL_REFUSALS.has(code))) {
        if (code !== undefined) this.#log.warn({ code, device: key, answer: answer.content }, 'the cloud refused the report for good; dropped')
        await this.#o.marks.settle(key, report.sent)
        continue
      }
      this.#log.warn({ device: key, resource: report.message.route.resource, answer: answer.content }, 'the cloud refused a report; retrying later')
      this.#backOff(key)
      return
    }
  }

  #backOff(key: string): void {
    if (this.#stopped) return
    const timer = setTimeout(() => {
      this.#backingOff.delete(key)
      if (this.#o.marks.isDirty(key)) this.#wake(key)
    }, this.#o.retryMs)
    timer.unref()
    this.#backingOff.set(key, timer)
  }
}

/** Error answers that re-sending the same report cannot change. */
const FINAL_REFUSALS: ReadonlySet<string> = new Set<ErrorCode>(['CLOUD_DEVICE_UNKNOWN', 'CLOUD_NOT_OWNER', 'CLOUD_MESSAGE_INVALID', 'CLOUD_STATUS_WRITE_FAILED'])

function errorCode(answer: Envelope): string | undefined {
  if (answer.route.operation !== Operations.error) return undefined
  const content = answer.content
  return typeof content === 'object' && content !== null && typeof (content as { code?: unknown }).code === 'string' ? (content as { code: string }).code : undefined
}
