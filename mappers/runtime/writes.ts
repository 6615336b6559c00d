/**
 * Desired values waiting to be written to a device, from `.../twin/update/delta`. The twin sends
 * the whole delta after every deal, so the same value arrives again and again while a device
 * lags; a value is written once, and written again only with back-off: after a failed write, or
 * when the device still reads something else after a successful one (it clamps or resets).
 * Every delta message is the complete set of unconverged properties, so a property missing from it
 * no longer needs writing.
 */
import { backoffDelay, type BackoffOptions } from './backoff.js'

interface WriteRecord {
  value: string
  /** pending: write at `notBefore`; failed: retry at `notBefore`; written: done unless the device disagrees */
  status: 'pending' | 'failed' | 'written'
  /** consecutive writes of this value that did not converge */
  attempt: number
  notBefore: number
}

const NONE: ReadonlyMap<string, WriteRecord> = new Map()

export class DesiredWrites {
  /** created by the first delta with something to write (most devices' properties are read-only) */
  #records: Map<string, WriteRecord> | undefined
  readonly #backoff: BackoffOptions
  readonly #random: () => number

  constructor(backoff: BackoffOptions, random: () => number) {
    this.#backoff = backoff
    this.#random = random
  }

  /**
   * A complete delta arrived at `now`: `desired` maps writable property names to values, `lastRead`
   * is what the device last read for a property.
   */
  offer(desired: ReadonlyMap<string, string>, lastRead: (name: string) => string | undefined, now: number): void {
    for (const name of [...(this.#records ?? NONE).keys()]) if (!desired.has(name)) this.#records?.delete(name)
    for (const [name, value] of desired) {
      const record = this.#records?.get(name)
      if (record === undefined || record.value !== value) {
        ;(this.#records ??= new Map()).set(name, { value, status: 'pending', attempt: 0, notBefore: now })
      } else if (record.status === 'written' && lastRead(name) !== value) {
        // The device accepted the write but reads something else: try again, later each time.
        record.status = 'pending'
      }
    }
  }

  /** Writes due at `now`; a retry whose value the device already reads is dropped as converged. */
  due(now: number, lastRead: (name: string) => string | undefined): Array<[name: string, value: string]> {
    const out: Array<[string, string]> = []
    for (const [name, record] of this.#records ?? NONE) {
      if (record.status === 'written' || record.notBefore > now) continue
      if (record.attempt > 0 && lastRead(name) === record.value) {
        record.status = 'written'
        record.attempt = 0
        continue
      }
      out.push([name, record.value])
    }
    return out
  }

  /** The earliest time a pending or failed write is due. */
  nextDue(): number | undefined {
    let earliest: number | undefined
    for (const r of (this.#records ?? NONE).values()) {
      if (r.status !== 'written' && (earliest === undefined || r.notBefore < earliest)) earliest = r.notBefore
    }
    return earliest
  }

  /** The write of `value` was accepted and the device read back `readBack` (undefined: could not read). */
  written(name: string, value: string, readBack: string | undefined, now: number): void {
    const record = this.#current(name, value)
    if (record === undefined) return
    record.status = 'written'
    if (readBack === value) record.attempt = 0
    else record.notBefore = now + backoffDelay(this.#backoff, record.attempt++, this.#random)
  }

  /** The write of `value` failed at `now`: retry with back-off. */
  failed(name: string, value: string, now: number): void {
    const record = this.#current(name, value)
    if (record === undefined) return
    record.status = 'failed'
    record.notBefore = now + backoffDelay(this.#backoff, record.attempt++, this.#random)
  }

  #current(name: string, value: string): WriteRecord | undefined {
    const record = this.#records?.get(name)
    return record?.value === value ? record : undefined
  }
}
