/**
 * The driver contract: what one protocol must provide. Everything else a mapper does — learning
 * devices over MQTT, polling on each property's collectCycle, reporting, applying deltas, state,
 * reconnect with back-off — lives once in the mapper runtime (mappers/runtime/). A driver never
 * throws for a device problem: timeouts, exceptions and lost links are values (Outcome), which
 * the runtime records, reports and backs off on. A throw is a bug.
 */
import type { Logger } from 'pino'
import type { EdgeDevice, EdgeProperty } from '../schemas/device.js'
import type { ErrorCode } from '../schemas/errors.js'
import type { Problem } from '../schemas/validate.js'

export interface DriverError {
  /** stable code from schemas/errors.ts, e.g. MODBUS_TIMEOUT, MODBUS_ILLEGAL_ADDRESS */
  code: ErrorCode
  message: string
  /** the connection is gone: the runtime closes the driver and reconnects with back-off */
  connectionLost: boolean
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: DriverError }

export const ok = <T>(value: T): Outcome<T> => ({ ok: true, value })
export const fail = <T = never>(code: ErrorCode, message: string, connectionLost = false): Outcome<T> => ({
  ok: false,
  error: { code, message, connectionLost },
})

/** A connected device. The runtime calls one method at a time per driver. */
export interface DeviceDriver {
  /** Opens the link to the device (idempotent while connected). */
  connect(): Promise<Outcome<void>>
  /**
   * Reads the given properties, as few requests as the protocol allows. Returns one outcome per
   * property name; values are twin strings in the property's model type (e.g. "21.5", "true").
   */
  read(properties: readonly EdgeProperty[]): Promise<Map<string, Outcome<string>>>
  /** Writes a twin-string value to a property (already checked writable and well-typed by the runtime). */
  write(property: EdgeProperty, value: string): Promise<Outcome<void>>
  /** A cheap liveness probe for devices with nothing to poll. */
  health(): Promise<Outcome<void>>
  /** Releases the link. Idempotent; safe after a failed connect. */
  close(): Promise<void>
}

/** What a driver is given when the runtime creates it. */
export interface DriverContext {
  log: Logger
  /** the node's data directory (certificates, trust lists) */
  dataDir: string
}

/** One protocol: validation of its config and visitors, and a driver factory. */
export interface Protocol {
  /** `spec.protocol.protocolName` of the devices it serves, e.g. `modbus` */
  readonly name: string
  /** Problems of a device's protocol configData and property visitors (paths as in the manifest). */
  validate(device: EdgeDevice): Problem[]
  createDriver(device: EdgeDevice, context: DriverContext): DeviceDriver
  /** Releases resources shared by the protocol's drivers (e.g. serial lines). */
  close?(): Promise<void>
  /** Counters per device id (requests, outcomes by error code), published by the runtime as metrics. */
  metrics?(): Record<string, Record<string, number>>
}

/**
 * The driver of a device whose configuration the protocol refused: every call answers `code` with
 * the problems, nothing throws, so the runtime reports the device and keeps serving the others.
 */
export function refusingDriver(code: ErrorCode, problems: readonly Problem[]): DeviceDriver {
  const refused = fail(code, problems.map((p) => `${p.path}: ${p.message}`).join('; '))
  return {
    connect: () => Promise.resolve(refused),
    read: (properties) => Promise.resolve(new Map(properties.map((p) => [p.name, refused] as const))),
    write: () => Promise.resolve(refused),
    health: () => Promise.resolve(refused),
    close: () => Promise.resolve(),
  }
}
