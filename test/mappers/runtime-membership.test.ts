/**
 * Membership while the mapper runs (README "The mapper contract"): devices added to the node start
 * their supervisor, changed ones restart with the new spec, removed ones stop and close their
 * driver; only devices of the mapper's protocol are served, and invalid ones are skipped with
 * MAPPER_DEVICE_INVALID.
 */
import assert from 'node:assert/strict'
import type { Bus } from '../../broker/bus.js'
import { Mapper } from '../../mappers/runtime/mapper.js'
import type { EdgeDevice } from '../../schemas/device.js'
import { nodeTopic, type DeviceTopicLayout } from '../../schemas/topics.js'
import { FakeProtocol } from '../support/fake-protocol.js'
import { mapperHarness, type Harness } from '../support/mapper-harness.js'
import { ManualClock, settle } from '../support/manual-clock.js'
import { clientPool } from '../support/mqtt.js'
import { startTwinOnBus } from '../support/twin-on-bus.js'
import { fakeDevice, prop } from './runtime-fixtures.js'

/** connects and closes of each fake device so far */
function links(h: Pick<Harness, 'protocol'>, ...names: string[]): Record<string, { connects: number; closes: number }> {
  return Object.fromEntries(names.map((n) => [n, { connects: h.protocol.device(n).callsOf('connect').length, closes: h.protocol.device(n).callsOf('close').length }]))
}

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

  const pool = clientPool()
  for (const layout of ['name', 'namespace/name'] as const satisfies readonly DeviceTopicLayout[]) {
    it(`an app's membership/get (another MQTT client, ${layout} layout) restarts nothing, after state and twin changes too, and logs nothing again`, async () => {
      const invalid = fakeDevice('bad-1', [prop('speed')], { protocol: { protocolName: 'fake', configData: { invalid: true } } })
      const devices = layout === 'name' ? [a, b, invalid] : [a, b, invalid].map((d) => ({ ...d, id: `default/${d.name}` }))
      const h = await start({ devices, layout })
      await h.until(() => h.protocol.device('a-1').openLinks === 1 && h.protocol.device('b-1').openLinks === 1, 'both connected')
      // the twin now holds other states and twins than the mapper's first answer listed
      await h.until(() => h.twin.devices.get('default/a-1')?.state === 'online' && h.twin.devices.get('default/b-1')?.state === 'online', 'both online in the twin')
      await h.until(() => h.actual('a-1', 'speed') !== undefined, 'a reported value in the twin')
      const { client, inbox } = await pool.connect(await h.listen())
      await client.subscribeAsync(nodeTopic('edge-1', 'membership/get/result'), { qos: 1 })
      for (const id of ['app-1', 'app-2']) {
        await client.publishAsync(nodeTopic('edge-1', 'membership/get'), JSON.stringify({ event_id: id }), { qos: 1 })
        const answer = await inbox.waitFor((m) => m.payload.includes(`"${id}"`), `the answer to ${id}`)
        assert.match(answer.payload, /"state":"online"/)
      }
      await settle()
      assert.deepEqual(links(h, 'a-1', 'b-1'), { 'a-1': { connects: 1, closes: 0 }, 'b-1': { connects: 1, closes: 0 } }, 'no device restarted')
      assert.equal(h.logs.filter((l) => l.msg === 'device restarted with its new spec' || l.msg === 'device stopped').length, 0)
      assert.equal(h.logged('MAPPER_DEVICE_INVALID').length, 1, 'the invalid device logged once, at start')
    })
  }

  it('a spec change restarts exactly that device', async () => {
    const h = await start({ devices: [a, b] })
    await h.until(() => h.protocol.device('a-1').openLinks === 1 && h.protocol.device('b-1').openLinks === 1, 'both connected')
    await h.twin.setMembers([a, fakeDevice('b-1', [prop('speed', { collectCycle: 2000 })])])
    await h.until(() => h.mapper.devices.get('default/b-1')?.properties[0]?.collectCycle === 2000, 'the new spec of b-1')
    await h.until(() => h.protocol.device('b-1').openLinks === 1, 'b-1 connected again')
    assert.deepEqual(links(h, 'a-1', 'b-1'), { 'a-1': { connects: 1, closes: 0 }, 'b-1': { connects: 2, closes: 1 } })
  })

  it("start-up: a device added while the mapper's own answer is on its way is not restarted by that answer", async () => {
    const undo: Array<() => Promise<void>> = []
    try {
      const clock = new ManualClock()
      const twinSide = await startTwinOnBus({ devices: [a], layout: 'name', now: () => clock.now(), undo })
      // the mapper's membership/get is held until the twin has announced a new device (a slow link)
      let release: () => void = () => {}
      const held = new Promise<void>((resolve) => (release = resolve))
      let asked = false
      const bus: Bus = {
        ...twinSide.bus,
        publish: async (topic, payload, options) => {
          if (topic === nodeTopic('edge-1', 'membership/get')) {
            asked = true
            await held
          }
          return twinSide.bus.publish(topic, payload, options)
        },
      }
      const protocol = new FakeProtocol(clock)
      const mapper = new Mapper({ bus, protocol, nodeName: 'edge-1', layout: 'name', log: twinSide.log, clock, dataDir: '/nonexistent', options: { random: () => 0.5, spreadPolls: false } })
      undo.push(() => mapper.stop())
      const started = mapper.start()
      const until = async (test: () => boolean, what: string): Promise<void> => {
        const deadline = Date.now() + 3000
        while (!test()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
          await settle(1)
        }
      }
      await until(() => asked, 'the mapper asked')
      // b-1 with a desired value: its membership/updated entry carries twins, the answer does not
      const withDesired: EdgeDevice = fakeDevice('b-1', [prop('speed', { collectCycle: 1000, desired: '5' })])
      await twinSide.twin.setMembers([a, withDesired])
      await until(() => protocol.device('b-1').openLinks === 1, 'b-1 started from membership/updated')
      await until(() => twinSide.twin.devices.get('default/b-1')?.state === 'online', 'b-1 online in the twin')
      release()
      await started
      await until(() => protocol.device('a-1').openLinks === 1, 'a-1 started from the answer')
      await settle()
      assert.deepEqual(links({ protocol }, 'a-1', 'b-1'), { 'a-1': { connects: 1, closes: 0 }, 'b-1': { connects: 1, closes: 0 } })
      assert.deepEqual([...mapper.devices.keys()].sort(), ['default/a-1', 'default/b-1'])
    } finally {
      for (const fn of undo.reverse()) await fn()
    }
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
