/**
 * Membership while the mapper runs (README "The mapper contract"): devices added to the node start
 * their supervisor, changed ones restart with the new spec, removed ones stop and close their
 * driver; only devices of the mapper's protocol are served, and invalid ones are skipped with
 * MAPPER_DEVICE_INVALID.
 */
import assert from 'node:assert/strict'
import { mapperHarness } from '../support/mapper-harness.js'
import { fakeDevice, prop } from './runtime-fixtures.js'

describe('mapper runtime: membership', () => {
  const start = mapperHarness()
  const a = fakeDevice('a-1', [prop('speed', { collectCycle: 1000 })])
  const b = fakeDevice('b-1', [prop('speed', { collectCycle: 1000 })])

  it('starts added devices and stops removed ones while running', async () => {
    const h = await start({ devices: [a] })
    assert.deepEqual([...h.mapper.devices.keys()], ['default/a-1'])
    await h.twin.setMembers([a, b])
    await h.until(() => h.mapper.devices.has('default/b-1'), 'b-1 served')
    await h.until(() => h.protocol.device('b-1').callsOf('read').length > 0, 'b-1 polled')
    await h.until(() => h.on('b-1', 'state/update').length === 1, 'b-1 online')

    await h.twin.setMembers([b])
    await h.until(() => !h.mapper.devices.has('default/a-1'), 'a-1 stopped')
    const simA = h.protocol.device('a-1')
    assert.equal(simA.openLinks, 0, 'its driver is closed')
    const readsA = simA.callsOf('read').length
    await h.clock.advance(5000)
    assert.equal(simA.callsOf('read').length, readsA, 'no more reads of a removed device')
    assert.ok(h.protocol.device('b-1').callsOf('read').length >= 6)
  })

  it('restarts a device whose spec changed (new collectCycle applies)', async () => {
    const h = await start({ devices: [a] })
    const sim = h.protocol.device('a-1')
    await h.until(() => sim.callsOf('read').length === 1, 'first read')
    await h.twin.setMembers([fakeDevice('a-1', [prop('speed', { collectCycle: 5000 })])])
    await h.until(() => h.mapper.devices.get('default/a-1')?.properties[0]?.collectCycle === 5000, 'the new spec')
    await h.until(() => sim.openLinks === 1 && sim.callsOf('close').length === 1, 'the old driver closed, a new one open')
    const before = sim.callsOf('read').length
    await h.clock.advance(10_000)
    assert.equal(sim.callsOf('read').length - before, 2)
  })

  it('serves only devices of its protocol, and skips invalid ones with MAPPER_DEVICE_INVALID', async () => {
    const other = fakeDevice('modbus-1', [prop('speed')], { protocol: { protocolName: 'modbus', configData: {} } })
    const invalid = fakeDevice('bad-1', [prop('speed')], { protocol: { protocolName: 'fake', configData: { invalid: true } } })
    const h = await start({ devices: [a, other, invalid] })
    assert.deepEqual([...h.mapper.devices.keys()], ['default/a-1'])
    assert.equal(h.protocol.devices.has('modbus-1'), false)
    assert.equal(h.protocol.devices.has('bad-1'), false)
    const logged = h.logged('MAPPER_DEVICE_INVALID')
    assert.equal(logged.length, 1)
    assert.equal(logged[0]?.device, 'default/bad-1')

    // fixed while running: served from then on
    await h.twin.setMembers([a, other, fakeDevice('bad-1', [prop('speed')])])
    await h.until(() => h.mapper.devices.has('default/bad-1'), 'the fixed device served')
  })

  it('stop is idempotent, closes every driver, and reports the devices offline', async () => {
    const h = await start({ devices: [a, b] })
    await h.until(() => h.on('a-1', 'state/update').length === 1 && h.on('b-1', 'state/update').length === 1, 'both online')
    await h.mapper.stop()
    await h.mapper.stop()
    assert.equal(h.protocol.device('a-1').openLinks + h.protocol.device('b-1').openLinks, 0)
    assert.equal(h.protocol.closed, 1, 'the protocol closed once')
    await h.until(() => h.on('a-1', 'state/update').at(-1)?.body.state === 'offline', 'a-1 offline')
    assert.equal(h.on('b-1', 'state/update').at(-1)?.body.state, 'offline')
  })

  it('namespace/name layout: topics carry the namespace and deltas still reach the device', async () => {
    const h = await start({ devices: [{ ...a, id: 'default/a-1' }], layout: 'namespace/name' })
    await h.until(() => h.published.some((p) => p.topic === '$hw/events/device/default/a-1/state/update'), 'state on the namespaced topic')
    await h.publish('$hw/events/device/default/a-1/twin/update', { event_id: 'e', timestamp: 0, twin: { speed: { expected: { value: '42' } } } })
    await h.until(() => h.actual('a-1', 'speed') === '42', 'the desired value written')
  })
})
