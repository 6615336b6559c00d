/** The driver contract suite (test/mappers/driver-contract.ts) for Modbus TCP against pymodbus. */
import { modbusProtocol } from '../../mappers/modbus/protocol.js'
import type { EdgeDevice } from '../../schemas/device.js'
import { startPymodbus } from '../support/modbus.js'
import { freePort } from '../support/resources.js'
import { driverContract } from './driver-contract.js'

function modbusDevice(id: string, port: number): EdgeDevice {
  return {
    id,
    name: id,
    namespace: 'default',
    model: 'fan-model',
    protocol: { protocolName: 'modbus', configData: { ip: '127.0.0.1', port, slaveID: 1, timeout: 500 } },
    properties: [
      { name: 'speed', type: 'INT', accessMode: 'ReadWrite', visitors: { configData: { register: 'HoldingRegister', offset: 0, limit: 1 } } },
      { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly', visitors: { configData: { register: 'InputRegister', offset: 0, limit: 1, scale: 0.1 } } },
      { name: 'power', type: 'DOUBLE', accessMode: 'ReadWrite', visitors: { configData: { register: 'HoldingRegister', offset: 2, dataType: 'float64' } } },
      { name: 'running', type: 'BOOLEAN', accessMode: 'ReadWrite', visitors: { configData: { register: 'CoilRegister', offset: 0 } } },
    ],
  }
}

driverContract('modbus tcp (pymodbus)', async () => {
  const peer = await startPymodbus({ mode: 'tcp' })
  await peer.set(1, 'ir', 0, [215])
  return {
    protocol: modbusProtocol(),
    device: modbusDevice('fan-1', peer.port),
    writable: { property: 'power', values: ['-12.75', '1500.5'] },
    unreachable: modbusDevice('gone', await freePort()),
    teardown: () => peer.stop(),
  }
})
