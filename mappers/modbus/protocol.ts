/**
 * The Modbus protocol (`spec.protocol.protocolName: modbus`), TCP and RTU: config validation and
 * the driver factory. The protocol owns the links its drivers share (one per serial port path, one
 * per TCP host:port), the read plans of devices laid out alike, and the per-device counters of
 * requests and error codes.
 */
import { refusingDriver, type DeviceDriver, type DriverContext, type Protocol } from '../driver.js'
import type { EdgeDevice } from '../../schemas/device.js'
import type { Problem } from '../../schemas/validate.js'
import { ModbusDriver, SharedPlans } from './driver.js'
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
  /** how often a link that failed to open is tried again, ms (link.ts); default CONNECT_RETRY_MS */
  readonly connectRetryMs?: number
}

export function modbusProtocol(options: ModbusProtocolOptions = {}): ModbusProtocol {
  const links = new LinkRegistry(options.connectRetryMs !== undefined ? { connectRetryMs: options.connectRetryMs } : {})
  const counters = new ModbusCounters()
  const plans = new SharedPlans()
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
      if (!resolved.ok) return refusingDriver('MODBUS_CONFIG_INVALID', resolved.problems)
      return new ModbusDriver({
        device,
        settings: resolved.settings,
        points: resolved.points,
        links,
        plans,
        counters,
        log: context.log,
        ...(options.sleep !== undefined ? { sleep: options.sleep } : {}),
      })
    },
    close: () => links.closeAll(),
  }
}
