/**
 * modbus-serial's errors → stable codes, and per-device counters of requests and outcomes that the
 * runtime can expose as metrics. modbus-serial reports: exceptions as `Modbus exception N: …` with
 * `modbusCode` N; timeouts with errno `ETIMEDOUT` ("Timed out"); `CRC error`; `Data length error` /
 * `Unexpected data error` for frames that do not fit the request; `Port Not Open` (errno
 * ECONNREFUSED) when the link is down; socket and serial errors with their own errno.
 */
import type { DriverError } from '../driver.js'
import type { ErrorCode } from '../../schemas/errors.js'

const EXCEPTIONS: Readonly<Record<number, ErrorCode>> = {
  1: 'MODBUS_ILLEGAL_FUNCTION',
  2: 'MODBUS_ILLEGAL_ADDRESS',
  3: 'MODBUS_ILLEGAL_VALUE',
  4: 'MODBUS_DEVICE_FAILURE',
  5: 'MODBUS_ACKNOWLEDGE',
  6: 'MODBUS_BUSY',
  7: 'MODBUS_NEGATIVE_ACKNOWLEDGE',
  8: 'MODBUS_MEMORY_PARITY',
  10: 'MODBUS_GATEWAY_PATH_UNAVAILABLE',
  11: 'MODBUS_GATEWAY_TARGET_FAILED',
}

const LINK_ERRNOS = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ENOTCONN', 'EIO', 'ENXIO', 'EBADF', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH'])

/** Thrown into a pending request when its link closes under it. */
export class LinkClosedError extends Error {
  constructor(message = 'the link closed') {
    super(message)
    this.name = 'LinkClosedError'
  }
}

/** The driver error for something modbus-serial (or the link) rejected with. `linkOpen` is the link's state afterwards. */
export function classify(err: unknown, linkOpen: boolean): DriverError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { message?: unknown; modbusCode?: unknown; errno?: unknown; code?: unknown; name?: unknown }
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err)
  if (typeof e.modbusCode === 'number') {
    return { code: EXCEPTIONS[e.modbusCode] ?? 'MODBUS_EXCEPTION', message, connectionLost: false }
  }
  if (!linkOpen || err instanceof LinkClosedError) return { code: 'MODBUS_CONNECTION_LOST', message, connectionLost: true }
  if (e.errno === 'ETIMEDOUT' || message === 'Timed out') return { code: 'MODBUS_TIMEOUT', message: 'no answer in time', connectionLost: false }
  if (message === 'CRC error') return { code: 'MODBUS_CRC', message, connectionLost: false }
  if (message.startsWith('Data length error') || message.startsWith('Unexpected data error')) {
    return { code: 'MODBUS_BAD_RESPONSE', message, connectionLost: false }
  }
  const errno = typeof e.code === 'string' ? e.code : typeof e.errno === 'string' ? e.errno : undefined
  if (message === 'Port Not Open' || (errno !== undefined && LINK_ERRNOS.has(errno))) {
    return { code: 'MODBUS_CONNECTION_LOST', message, connectionLost: true }
  }
  return { code: 'MODBUS_BAD_RESPONSE', message, connectionLost: false }
}

/** Counts per device: `requests` sent, `ok` answers, and one count per error code. */
export class ModbusCounters {
  readonly #devices = new Map<string, Map<string, number>>()

  request(device: string): void {
    this.#bump(device, 'requests')
  }

  outcome(device: string, code: ErrorCode | 'ok'): void {
    this.#bump(device, code)
  }

  /** A copy: `{ "<device id>": { requests: 12, ok: 11, MODBUS_TIMEOUT: 1 } }`. */
  snapshot(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {}
    for (const [device, counts] of this.#devices) out[device] = Object.fromEntries(counts)
    return out
  }

  forget(device: string): void {
    this.#devices.delete(device)
  }

  #bump(device: string, key: string): void {
    let counts = this.#devices.get(device)
    if (counts === undefined) this.#devices.set(device, (counts = new Map<string, number>()))
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
}
