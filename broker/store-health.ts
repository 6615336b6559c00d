/**
 * Whether the broker's session store can take writes, for what a full disk must not break:
 * clean sessions need no disk and keep connecting and working; a persistent session, which
 * cannot be kept, is refused with CONNACK 3 (server unavailable) instead of a connection closed
 * without a CONNACK. The failure is logged at error once per episode, and the recovery once, when
 * the store takes a write again (checked on the next persistent CONNECT and every RETRY_MS).
 */
import { statfs } from 'node:fs/promises'
import type { Logger } from 'pino'

/** below this much free space on the store's filesystem a persistent session is not accepted */
export const MIN_FREE_BYTES = 1024 * 1024
export const RETRY_MS = 5000

/** A write error that means the store's disk is full or not writable (not a bug in the caller). */
export function isStoreFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } } | null
  if (e === null || typeof e !== 'object') return false
  if (e.code === 'LEVEL_IO_ERROR' || e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'EROFS') return true
  return typeof e.message === 'string' && /No space left on device|Disk quota exceeded|Read-only file system/.test(e.message)
}

export class StoreHealth {
  readonly #log: Logger
  readonly #probe: () => Promise<void>
  readonly #location: string | undefined
  #failing = false
  #timer: NodeJS.Timeout | undefined

  /**
   * @param probe a small write to the store
   * @param location the store's directory, whose filesystem's free space is checked
   */
  constructor(log: Logger, probe: () => Promise<void>, location: string | undefined) {
    this.#log = log
    this.#probe = probe
    this.#location = location
  }

  get available(): boolean {
    return !this.#failing
  }

  /** A store write failed with `err`; returns whether that was a store failure (now recorded). */
  failed(err: unknown, what: string): boolean {
    if (!isStoreFailure(err)) return false
    if (!this.#failing) {
      this.#failing = true
      const message = err instanceof Error ? err.message : String(err)
      this.#log.error(
        { code: 'MQTT_STORE_UNAVAILABLE', err: message, what },
        'the session store cannot write (disk full?): persistent sessions are refused with CONNACK 3 until it can',
      )
      this.#timer = setInterval(() => void this.check(), RETRY_MS)
      this.#timer.unref()
    }
    return true
  }

  /** Whether the store can keep a persistent session now: room on its disk and a probe write taken. */
  async check(): Promise<boolean> {
    try {
      if (this.#location !== undefined) {
        const fs = await statfs(this.#location)
        if (fs.bavail * fs.bsize < MIN_FREE_BYTES) {
          const err = Object.assign(new Error(`No space left on device: ${fs.bavail * fs.bsize} bytes free in ${this.#location}`), { code: 'ENOSPC' })
          throw err
        }
      }
      await this.#probe()
    } catch (err) {
      if (this.failed(err, 'check')) return false
      throw err
    }
    this.#recovered()
    return true
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  #recovered(): void {
    if (!this.#failing) return
    this.#failing = false
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#log.info({ code: 'MQTT_STORE_UNAVAILABLE' }, 'the session store takes writes again: persistent sessions are accepted')
  }
}
