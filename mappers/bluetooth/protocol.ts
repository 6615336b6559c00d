/**
 * The Bluetooth LE protocol (`spec.protocol.protocolName: bluetooth`): config validation and the
 * driver factory. The protocol owns what must outlive a driver (the runtime makes a fresh driver
 * after every lost link): the D-Bus transport shared by all devices, and the adapters' connection
 * slots, so devices beyond an adapter's `maxConnections` queue across reconnects.
 */
import { refusingDriver, type DeviceDriver, type DriverContext, type Protocol } from '../driver.js'
import type { EdgeDevice } from '../../schemas/device.js'
import type { Problem } from '../../schemas/validate.js'
import { BluetoothDriver } from './driver.js'
import { NodeBleTransport } from './node-ble.js'
import { resolveDevice } from './points.js'
import { AdapterSlots } from './slots.js'
import type { BleTransport } from './transport.js'

export const BLUETOOTH = 'bluetooth'

export interface BluetoothProtocol extends Protocol {
  readonly slots: AdapterSlots
}

export interface BluetoothProtocolOptions {
  /** default: BlueZ over D-Bus (node-ble) on the system bus, or on `busAddress` */
  readonly transport?: (context: DriverContext) => BleTransport
  /** a D-Bus address for the default transport instead of the system bus (tests: a private bus) */
  readonly busAddress?: string
}

export function bluetoothProtocol(options: BluetoothProtocolOptions = {}): BluetoothProtocol {
  const slots = new AdapterSlots()
  let transport: BleTransport | undefined
  const transportFor = (context: DriverContext): BleTransport =>
    (transport ??=
      options.transport?.(context) ??
      new NodeBleTransport({ log: context.log.child({ part: 'bluez' }), ...(options.busAddress !== undefined ? { busAddress: options.busAddress } : {}) }))
  return {
    name: BLUETOOTH,
    slots,
    validate(device: EdgeDevice): Problem[] {
      const resolved = resolveDevice(device)
      return resolved.ok ? [] : resolved.problems
    },
    createDriver(device: EdgeDevice, context: DriverContext): DeviceDriver {
      const resolved = resolveDevice(device)
      if (!resolved.ok) return refusingDriver('BLUETOOTH_CONFIG_INVALID', resolved.problems)
      return new BluetoothDriver({ id: device.id, settings: resolved.settings, points: resolved.points, transport: transportFor(context), slots, log: context.log })
    },
    async close() {
      const t = transport
      transport = undefined
      await t?.close()
    },
  }
}
