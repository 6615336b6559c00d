/** The driver contract suite against the fake protocol of the runtime tests (it must hold what it fakes). */
import { realClock } from '../../mappers/runtime/clock.js'
import { FakeProtocol } from '../support/fake-protocol.js'
import { driverContract } from './driver-contract.js'
import { fakeDevice, prop } from './runtime-fixtures.js'

driverContract('fake', () => {
  const protocol = new FakeProtocol(realClock)
  const device = fakeDevice('meter-1', [prop('speed'), prop('temperature', { type: 'FLOAT', accessMode: 'ReadOnly' }), prop('mode', { type: 'STRING' })])
  const unreachable = fakeDevice('gone-1', [prop('speed')])
  protocol.device('gone-1').reachable = false
  return Promise.resolve({ protocol, device, unreachable, writable: { property: 'speed', values: ['1200', '-7'] as const } })
})
