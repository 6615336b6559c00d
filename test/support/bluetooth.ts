/** Devices and peripherals for the Bluetooth tests: a thermometer (Health Thermometer service, 0x1809) with a writable setpoint and switch. */
import type { EdgeDevice, EdgeProperty } from '../../schemas/device.js'
import type { FakeBluez, FakePeripheral } from './fake-bluez.js'

export const uuid16 = (short: string): string => `0000${short}-0000-1000-8000-00805f9b34fb`
export const TEMPERATURE = uuid16('2a1c') // Temperature Measurement: indicate (+ read)
export const BATTERY = uuid16('2a19') // Battery Level: read only, polled
export const SETPOINT = uuid16('ffe1') // vendor: int16le setpoint ×0.1 °C, read/write
export const SWITCH = uuid16('ffe2') // vendor: one byte, written through dataWrite

/** Thermometer frame: flags 0x00 (Celsius) + IEEE-11073 FLOAT of value ×10 */
export function thermometerFrame(celsius: number): Buffer {
  const b = Buffer.alloc(5)
  b.writeUInt32LE(((0xff << 24) | (Math.round(celsius * 10) & 0xffffff)) >>> 0, 1)
  return b
}

/** `indicateOnly`: the temperature has no read flag (as many real thermometers): values come only by indication. */
export function thermometer(bluez: FakeBluez, address: string, extra: { known?: boolean; indicateOnly?: boolean } = {}): FakePeripheral {
  return bluez.peripheral({
    address,
    name: 'thermo',
    known: extra.known ?? false,
    characteristics: [
      { uuid: TEMPERATURE, service: uuid16('1809'), flags: extra.indicateOnly === true ? ['indicate'] : ['read', 'indicate'], value: thermometerFrame(21.5) },
      { uuid: BATTERY, service: uuid16('180f'), flags: ['read'], value: Buffer.from([87]) },
      { uuid: SETPOINT, service: uuid16('ffe0'), flags: ['read', 'write', 'notify'], value: Buffer.from([0xd7, 0x00]) },
      { uuid: SWITCH, service: uuid16('ffe0'), flags: ['read', 'write-without-response'], value: Buffer.from([0]) },
    ],
  })
}

function property(name: string, type: EdgeProperty['type'], accessMode: EdgeProperty['accessMode'], configData: Record<string, unknown>): EdgeProperty {
  return { name, type, accessMode, collectCycle: 1000, visitors: { protocolName: 'bluetooth', configData } }
}

export function thermometerDevice(id: string, address: string, protocolConfig: Record<string, unknown> = {}): EdgeDevice {
  return {
    id,
    name: id,
    namespace: 'default',
    model: 'thermometer',
    protocol: { protocolName: 'bluetooth', configData: { macAddress: address, scanTimeout: 1000, connectTimeout: 2000, ...protocolConfig } },
    properties: [
      property('temperature', 'FLOAT', 'ReadOnly', { characteristicUUID: '2A1C', dataType: 'float', dataConverter: { startIndex: 1 } }),
      // KubeEdge style: one byte joined, no dataType
      property('battery', 'INT', 'ReadOnly', { characteristicUUID: '2a19', dataConverter: { startIndex: 0, endIndex: 0 } }),
      property('setpoint', 'FLOAT', 'ReadWrite', { characteristicUUID: 'ffe1', dataType: 'int16le', dataConverter: { orderOfOperations: [{ operationType: 'Multiply', operationValue: 0.1 }] } }),
      property('switch', 'STRING', 'ReadWrite', {
        characteristicUUID: 'ffe2',
        dataWrite: { ON: 'AQ==', OFF: [0] },
        dataConverter: { startIndex: 0, endIndex: 0 },
        dataType: 'uint8',
      }),
    ],
  }
}
