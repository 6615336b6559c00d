/**
 * Sets the expected value of one twin property the way any app does: a request on the device's
 * `twin/update`, answered by the twin on `twin/update/result`. Going over the bus keeps one path
 * for every write, so the page gets exactly the twin's validation (type, range, ReadOnly, size)
 * with its stable codes, and the write works the same with an external broker.
 */
import { randomUUID } from 'node:crypto'
import type { Bus } from '../broker/bus.js'
import { ErrorResult as errorResultCheck } from '../schemas/generated/validators/ErrorResult.js'
import { deviceTopic, type DeviceRef } from '../schemas/topics.js'
import type { TwinProblem } from '../schemas/twin.js'
import { validator } from '../schemas/validate.js'

export type SetOutcome =
  | { ok: true }
  | { ok: false; code: number; errorCode: string; reason: string; problems: TwinProblem[] }

const EVENT_PREFIX = 'tern-web-'
const MARK = Buffer.from(`"${EVENT_PREFIX}`)
const validateError = validator(errorResultCheck)

export class ExpectedWriter {
  readonly #bus: Bus
  readonly #timeoutMs: number
  readonly #pending = new Map<string, (outcome: SetOutcome) => void>()

  constructor(options: { bus: Bus; timeoutMs?: number }) {
    this.#bus = options.bus
    this.#timeoutMs = options.timeoutMs ?? 5000
  }

  async set(device: DeviceRef, property: string, value: string): Promise<SetOutcome> {
    const eventId = `${EVENT_PREFIX}${randomUUID()}`
    const answered = new Promise<SetOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(eventId)
        resolve({ ok: false, code: 504, errorCode: 'WEB_TWIN_TIMEOUT', reason: `the twin did not answer within ${this.#timeoutMs} ms`, problems: [] })
      }, this.#timeoutMs)
      this.#pending.set(eventId, (outcome) => {
        clearTimeout(timer)
        this.#pending.delete(eventId)
        resolve(outcome)
      })
    })
    const request = { event_id: eventId, timestamp: Date.now(), twin: { [property]: { expected: { value } } } }
    await this.#bus.publish(deviceTopic(device, 'twin/update'), JSON.stringify(request), { qos: 1 })
    return answered
  }

  /** Every `twin/update/result`; parsed only while a write waits and when it carries one of ours. */
  result(payload: Buffer): void {
    if (this.#pending.size === 0 || !payload.includes(MARK)) return
    let body: unknown
    try {
      body = JSON.parse(payload.toString('utf8'))
    } catch {
      return
    }
    const eventId = (body as { event_id?: unknown }).event_id
    const settle = typeof eventId === 'string' ? this.#pending.get(eventId) : undefined
    if (settle === undefined) return
    if ((body as { code?: unknown }).code === undefined) return settle({ ok: true })
    const checked = validateError(body)
    if (!checked.ok) return settle({ ok: false, code: 500, errorCode: 'INTERNAL_ERROR', reason: 'the twin answered with an error result of an unknown shape', problems: [] })
    const { code = 400, errorCode = 'TWIN_BAD_REQUEST', reason = '', problems = [] } = checked.value
    settle({ ok: false, code, errorCode, reason, problems })
  }
}
