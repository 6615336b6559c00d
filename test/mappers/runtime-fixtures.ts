/** EdgeDevices of the fake protocol for the mapper runtime tests. */
import type { EdgeDevice, EdgeProperty } from '../../schemas/device.js'
import { FAKE } from '../support/fake-protocol.js'

export function prop(name: string, extra: Partial<EdgeProperty> = {}): EdgeProperty {
  return { name, type: 'INT', accessMode: 'ReadWrite', visitors: { protocolName: FAKE, configData: { register: name } }, ...extra }
}

export function fakeDevice(name: string, properties: EdgeProperty[], extra: Partial<EdgeDevice> = {}): EdgeDevice {
  return { id: name, name, namespace: 'default', model: 'fake-model', protocol: { protocolName: FAKE, configData: {} }, properties, ...extra }
}
