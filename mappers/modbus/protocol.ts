/**
 * The Modbus protocol (`spec.protocol.protocolName: modbus`), TCP and RTU: config validation and
 * the driver factory. The protocol owns the links its drivers share (one per serial port path, one
 * per TCP host:port) and the per-device counters of requests and error codes.
 */
import { fail, type DeviceDriver, type DriverContext, type Protocol } from '../driver.js'
import type { EdgeDevice } from '../../schemas/device.js'
import type { Problem } from '../../schemas/validate.js'
import { ModbusDriver } from './driver.js'
import { ModbusCounters } from './faults.js'
import { LinkRegistry } from './link.js'
import { resolveDevice } from './points.js'

export const MODBUS = 'modbus'

export interface ModbusProtocol extends Protocol {
  /** requests, answers and error codes per device id, for metrics */
  readonly counters: ModbusCounters
}

export interface ModbusProtocolOptions {
  /** injectable for tests (inter-frame delays); default: real timers */
  readonly sleep?: (ms: number) => Promise<void>
}

export function modbusProtocol(options: ModbusProtocolOptions = {}): ModbusProtocol {
  const links = new LinkRegistry()
  const counters = new ModbusCounters()
  return {
    name: MODBUS,
    counters,
    metrics: () => counters.snapshot(),
    validate(device: EdgeDevice): Problem[] {
      const resolved = resolveDevice(device)
      return resolved.ok ? [] : resolved.problems
    },
    createDriver(device: EdgeDevice, context: DriverContext): DeviceDriver {
      const resolved = resolveDevice(device)
      if (!resolved.ok) return invalidDriver(resolved.problems)
      return new ModbusDriver({
        device,
        settings: resolved.settings,
        points: resolved.points,
        links,
        counters,
        log: context.log,
        ...(options.sleep !== undefined ? { sleep: options.sleep } : {}),
      })
    },
    close: () => links.closeAll(),
  }
}

/** A device that failed validation still gets a driver: its outcomes say why, nothing throws. */
function invalidDriver(problems: readonly Problem[]): DeviceDriver {
  const message = problems.map((p) => `${p.path}: ${p.message}`).join('; ')
  const refused = fail('MODBUS_CONFIG_INVALID', message)
  return {
    connect: () => Promise.resolve(refused),
    read: (properties) => Promise.resolve(new Map(properties.map((p) => [p.name, refused] as const))),
    write: () => Promise.resolve(refused),
    health: () => Promise.resolve(refused),
    close: () => Promise.resolve(),
  }
}
