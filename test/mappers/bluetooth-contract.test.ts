/**
 * The driver contract suite (test/mappers/driver-contract.ts) for Bluetooth LE: node-ble's real
 * code over a private dbus-daemon against the fake BlueZ (test/support/fake-bluez.ts).
 */
import { bluetoothProtocol } from '../../mappers/bluetooth/protocol.js'
import { thermometer, thermometerDevice } from '../support/bluetooth.js'
import { startFakeBluez } from '../support/fake-bluez.js'
import { driverContract } from './driver-contract.js'

driverContract('bluetooth (node-ble → fake BlueZ on a private D-Bus)', async () => {
  const fake = await startFakeBluez()
  thermometer(fake.bluez, 'A4:C1:38:00:11:22')
  return {
    protocol: bluetoothProtocol({ busAddress: fake.address }),
    device: thermometerDevice('thermo-1', 'A4:C1:38:00:11:22'),
    writable: { property: 'setpoint', values: ['-12.5', '23'] },
    // never advertises: discovery runs out
    unreachable: thermometerDevice('gone', 'A4:C1:38:00:99:99', { scanTimeout: 300 }),
    teardown: () => fake.stop(),
  }
})
