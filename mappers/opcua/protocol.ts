/**
 * The OPC-UA protocol (`spec.protocol.protocolName: opcua`): config validation and the driver
 * factory. The protocol owns what must outlive a driver (shared.ts): node-opcua, loaded on first
 * connect, the PKI under `<dataDir>/opcua/pki`, and the data type and browse path caches.
 */
import { refusingDriver, type DeviceDriver, type DriverContext, type Protocol } from '../driver.js'
import type { EdgeDevice } from '../../schemas/device.js'
import type { Problem } from '../../schemas/validate.js'
import { OpcuaDriver } from './driver.js'
import { resolveDevice } from './settings.js'
import { OpcuaShared } from './shared.js'

export const OPCUA = 'opcua'

export interface OpcuaProtocolOptions {
  /** the node's data directory; the PKI is `<dataDir>/opcua/pki`. Default: the driver context's dataDir */
  readonly dataDir?: string
}

export function opcuaProtocol(options: OpcuaProtocolOptions = {}): Protocol {
  const shared = new OpcuaShared()
  return {
    name: OPCUA,
    validate(device: EdgeDevice): Problem[] {
      const resolved = resolveDevice(device)
      return resolved.ok ? [] : resolved.problems
    },
    createDriver(device: EdgeDevice, context: DriverContext): DeviceDriver {
      const resolved = resolveDevice(device)
      if (!resolved.ok) return refusingDriver('OPCUA_CONFIG_INVALID', resolved.problems)
      return new OpcuaDriver({ device, settings: resolved.settings, points: resolved.points, shared, dataDir: options.dataDir ?? context.dataDir, log: context.log })
    },
    close: () => shared.close(),
  }
}
