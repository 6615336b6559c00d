/**
 * Driver calls as the runtime makes them: a throw, a call that never settles, or a return value
 * that is not an outcome becomes a failed outcome with a MAPPER_* code and `connectionLost`, so
 * nothing a driver does can end a poll loop (DESIGN.md §9, Devices: a device that throws keeps its
 * loop alive).
 * Read values are checked against the property's type and range before they can reach the twin,
 * which would refuse the whole report for one bad value.
 */
import type { EdgeProperty } from '../../schemas/device.js'
import { checkValue } from '../../twin/values.js'
import { fail, ok, type DeviceDriver, type Outcome } from '../driver.js'
import type { Clock } from './clock.js'

export function isOutcome(value: unknown): value is Outcome<unknown> {
  if (typeof value !== 'object' || value === null) return false
  const v = value as { ok?: unknown; error?: unknown }
  if (v.ok === true) return 'value' in v
  if (v.ok !== false || typeof v.error !== 'object' || v.error === null) return false
  const e = v.error as { code?: unknown; message?: unknown; connectionLost?: unknown }
  return typeof e.code === 'string' && typeof e.connectionLost === 'boolean'
}

/**
 * Cuts short the driver calls in flight when their owner stops. A device's supervisor holds one
 * (not an AbortController: its EventTarget, listener records and hidden class cost ~0.7 KiB for
 * each of 1,000 devices, and each call added and removed a listener).
 */
export class StopSignal {
  #stopped = false
  /** the calls in flight (a supervisor makes one at a time) */
  readonly #calls: Array<() => void> = []

  get stopped(): boolean {
    return this.#stopped
  }

  stop(): void {
    this.#stopped = true
    for (const cut of this.#calls.splice(0)) cut()
  }

  /** how many calls in flight it would cut short now */
  get watching(): number {
    return this.#calls.length
  }

  watch(cut: () => void): void {
    this.#calls.push(cut)
  }

  unwatch(cut: () => void): void {
    const i = this.#calls.indexOf(cut)
    if (i >= 0) this.#calls.splice(i, 1)
  }
}

/** How long a driver call may take, and a signal that cuts every call short (the supervisor stops). */
export interface CallLimits {
  clock: Clock
  timeoutMs: number
  stop?: StopSignal | undefined
}

/** Runs `call`, bounded by the limits; a throw, a timeout or a stop is a lost connection. */
export function guarded(limits: CallLimits, what: string, call: () => Promise<unknown>): Promise<Outcome<unknown>> {
  const { clock, timeoutMs, stop } = limits
  const threw = (err: unknown): Outcome<unknown> => fail('MAPPER_DRIVER_THREW', `driver ${what} threw: ${err instanceof Error ? err.message : String(err)}`, true)
  // One promise settled by whichever comes first. The stop watch is removed when the call
  // settles: one left on the long-lived signal would keep the call's closure, and with it the
  // driver, alive until the device stopped.
  return new Promise((resolve) => {
    let settled = false
    const settle = (outcome: Outcome<unknown>): void => {
      if (settled) return
      settled = true
      clock.clearTimeout(timer)
      stop?.unwatch(onStop)
      resolve(outcome)
    }
    const onStop = (): void => settle(fail('MAPPER_LINK_LOST', `driver ${what} abandoned: the device is being stopped`, true))
    const timer = clock.setTimeout(() => settle(fail('MAPPER_TIMEOUT', `driver ${what} did not settle within ${timeoutMs} ms`, true)), timeoutMs)
    if (stop?.stopped === true) return onStop()
    stop?.watch(onStop)
    let running: unknown
    try {
      running = call()
    } catch (err) {
      return settle(threw(err))
    }
    Promise.resolve(running).then(
      (value) => settle(ok(value)),
      (err: unknown) => settle(threw(err)),
    )
  })
}

/** `driver.connect()` / `write()` / `health()`: the outcome the driver returned, or why there is none. */
export async function guardedVoid(limits: CallLimits, what: string, call: () => Promise<unknown>): Promise<Outcome<void>> {
  const out = await guarded(limits, what, call)
  if (!out.ok) return out
  if (!isOutcome(out.value)) return fail('MAPPER_DRIVER_BAD_OUTCOME', `driver ${what} returned ${describe(out.value)} instead of an outcome`, true)
  return out.value.ok ? ok(undefined) : out.value
}

export type ReadResult = { ok: true; outcomes: Map<string, Outcome<string>> } | { ok: false; error: Extract<Outcome<unknown>, { ok: false }>['error'] }

/** `driver.read(properties)`: one checked outcome per property, or a lost connection. */
export async function guardedRead(limits: CallLimits, driver: DeviceDriver, properties: readonly EdgeProperty[]): Promise<ReadResult> {
  const out = await guarded(limits, 'read', () => driver.read(properties))
  if (!out.ok) return { ok: false, error: out.error }
  if (!(out.value instanceof Map)) {
    return { ok: false, error: { code: 'MAPPER_DRIVER_BAD_OUTCOME', message: `driver read returned ${describe(out.value)} instead of a Map`, connectionLost: true } }
  }
  const returned = out.value as Map<unknown, unknown>
  const outcomes = new Map<string, Outcome<string>>()
  for (const property of properties) outcomes.set(property.name, checkRead(property, returned.get(property.name)))
  return { ok: true, outcomes }
}

function checkRead(property: EdgeProperty, outcome: unknown): Outcome<string> {
  if (!isOutcome(outcome)) return fail('MAPPER_DRIVER_BAD_OUTCOME', `driver read gave ${describe(outcome)} for ${property.name}`)
  if (!outcome.ok) return outcome
  if (typeof outcome.value !== 'string') return fail('MAPPER_DRIVER_BAD_OUTCOME', `driver read gave a ${typeof outcome.value} for ${property.name}, not a string`)
  const problem = checkValue(outcome.value, property.type, property)
  if (problem !== undefined) return fail('MAPPER_VALUE_INVALID', `${property.name}: read ${JSON.stringify(outcome.value.slice(0, 64))}: ${problem.reason}`)
  return ok(outcome.value)
}

/** A value to write, checked as the twin checks expected values. */
export function checkWritable(property: EdgeProperty, value: string): Outcome<void> {
  if (property.accessMode === 'ReadOnly') return fail('MAPPER_READ_ONLY', `${property.name} is ReadOnly`)
  const problem = checkValue(value, property.type, property)
  return problem === undefined ? ok(undefined) : fail('MAPPER_VALUE_INVALID', `${property.name}: ${problem.reason}`)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value instanceof Map) return 'a Map'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
