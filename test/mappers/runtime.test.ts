/**
 * The mapper runtime against the real DeviceTwin (in-process aedes bus, memory-level store) with the
 * fake protocol and a manual clock: polling per collectCycle, one report per round with only what
 * changed, heartbeat, device state (DESIGN §9 Devices).
 */
import assert from 'node:assert/strict'
import { mapperHarness } from '../support/mapper-harness.js'
import { fakeDevice, prop } from './runtime-fixtures.js'

describe('mapper runtime: polling and reporting', () => {
  const start = mapperHarness()

  it('reads each property on its collectCycle; properties due together are read in one driver.read', async () => {
    const device = fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 }), prop('temperature', { type: 'FLOAT', accessMode: 'ReadOnly', collectCycle: 2000 }), prop('mode', { type: 'STRING', collectCycle: 5000 })])
    const h = await start({ devices: [device] })
    const sim = h.protocol.device('meter-1')
    await h.until(() => sim.callsOf('read').length === 1, 'the first read round')
    const t0 = h.clock.now()
    await h.clock.advance(6000)
    const rounds = sim.callsOf('read').map((c) => [c.at - t0, c.properties])
    assert.deepEqual(rounds, [
      [0, ['speed', 'temperature', 'mode']],
      [1000, ['speed']],
      [2000, ['speed', 'temperature']],
      [3000, ['speed']],
      [4000, ['speed', 'temperature']],
      [5000, ['speed', 'mode']],
      [6000, ['speed', 'temperature']],
    ])
  })

  it('spreadPolls: the first round at connect, then on a grid at the drawn phase of the shortest cycle', async () => {
    const device = fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 }), prop('temperature', { type: 'FLOAT', accessMode: 'ReadOnly', collectCycle: 2000 })])
    const h = await start({ devices: [device], mapper: { spreadPolls: true, random: () => 0.25 } })
    const sim = h.protocol.device('meter-1')
    await h.until(() => sim.callsOf('read').length === 1, 'the first read round')
    const t0 = h.clock.now()
    await h.clock.advance(3000)
    assert.deepEqual(
      sim.callsOf('read').map((c) => [c.at - t0, c.properties]),
      [
        [0, ['speed', 'temperature']],
        [250, ['speed', 'temperature']],
        [1250, ['speed']],
        [2250, ['speed', 'temperature']],
      ],
    )
  })

  it('a property without collectCycle is read every second (KubeEdge mapper-framework default)', async () => {
    const h = await start({ devices: [fakeDevice('meter-1', [prop('speed')])] })
    const sim = h.protocol.device('meter-1')
    await h.until(() => sim.callsOf('read').length === 1, 'the first read round')
    await h.clock.advance(3000)
    assert.equal(sim.callsOf('read').length, 4)
  })

  it('a report carries the KubeEdge twin type of each model type (DOUBLE → double, BYTES → bytes), and the twin keeps it in result and document', async () => {
    const device = fakeDevice('meter-1', [prop('power', { type: 'DOUBLE', accessMode: 'ReadOnly' }), prop('raw', { type: 'BYTES', accessMode: 'ReadOnly' })])
    const h = await start({
      devices: [device],
      mapper: { heartbeatMs: 0 },
      prepare: (p) => {
        p.device('meter-1').registers.set('power', '1234.5')
        p.device('meter-1').registers.set('raw', 'AQI=')
      },
    })
    await h.until(() => h.actual('meter-1', 'raw') === 'AQI=' && h.on('meter-1', 'twin/update/document').length > 0, 'the first report in the twin')
    assert.deepEqual(h.on('meter-1', 'twin/update')[0]?.body.twin, { power: { actual: { value: '1234.5' }, metadata: { type: 'double' } }, raw: { actual: { value: 'AQI=' }, metadata: { type: 'bytes' } } })
    const twins = h.twin.devices.get('default/meter-1')?.twins
    assert.deepEqual([twins?.power?.type, twins?.raw?.type], ['double', 'bytes'])
    type Twins = Record<string, { metadata?: { type?: string }; current?: { metadata?: { type?: string } } }>
    const result = h.on('meter-1', 'twin/update/result')[0]?.body as { twin: Twins }
    assert.deepEqual([result.twin.power?.metadata?.type, result.twin.raw?.metadata?.type], ['double', 'bytes'])
    const document = h.on('meter-1', 'twin/update/document')[0]?.body as { twin: Twins }
    assert.deepEqual([document.twin.power?.current?.metadata?.type, document.twin.raw?.current?.metadata?.type], ['double', 'bytes'])
  })

  it('reports actual values once per round with every changed property, then only changes', async () => {
    const device = fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 }), prop('temperature', { type: 'FLOAT', accessMode: 'ReadOnly', collectCycle: 1000 })])
    const h = await start({
      devices: [device],
      mapper: { heartbeatMs: 0 },
      prepare: (p) => {
        p.device('meter-1').registers.set('speed', '900')
        p.device('meter-1').registers.set('temperature', '21.5')
      },
    })
    await h.until(() => h.actual('meter-1', 'temperature') === '21.5', 'the first report in the twin')
    const updates = h.on('meter-1', 'twin/update')
    assert.equal(updates.length, 1)
    assert.deepEqual(updates[0]?.body.twin, { speed: { actual: { value: '900' }, metadata: { type: 'int' } }, temperature: { actual: { value: '21.5' }, metadata: { type: 'float' } } })
    assert.equal(updates[0]?.body.event_id, '')
    assert.equal(h.twin.devices.get('default/meter-1')?.twins.temperature?.type, 'float', 'a new twin gets the model type')

    await h.clock.advance(5000)
    assert.equal(h.on('meter-1', 'twin/update').length, 1, 'unchanged values are not reported again')

    h.protocol.device('meter-1').registers.set('speed', '950')
    await h.clock.advance(1000)
    await h.until(() => h.actual('meter-1', 'speed') === '950', 'the changed speed in the twin')
    const changed = h.on('meter-1', 'twin/update')
    assert.equal(changed.length, 2)
    assert.deepEqual(changed[1]?.body.twin, { speed: { actual: { value: '950' }, metadata: { type: 'int' } } })

    h.protocol.device('meter-1').registers.set('speed', '1000')
    h.protocol.device('meter-1').registers.set('temperature', '22')
    await h.clock.advance(1000)
    await h.until(() => h.on('meter-1', 'twin/update').length === 3, 'the third report')
    assert.deepEqual(Object.keys(h.on('meter-1', 'twin/update')[2]?.body.twin as object).sort(), ['speed', 'temperature'], 'both changes in one message')
  })

  it('re-reports unchanged values every heartbeat interval', async () => {
    const h = await start({ devices: [fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 })])], mapper: { heartbeatMs: 10_000 } })
    const sim = h.protocol.device('meter-1')
    await h.until(() => h.on('meter-1', 'twin/update').length === 1, 'the first report')
    const t0 = h.clock.now()
    await h.clock.advance(9000)
    assert.equal(h.on('meter-1', 'twin/update').length, 1)
    await h.clock.advance(1000)
    await h.until(() => h.on('meter-1', 'twin/update').length === 2, 'the heartbeat report')
    await h.clock.advance(10_000)
    await h.until(() => h.on('meter-1', 'twin/update').length === 3, 'the second heartbeat')
    assert.deepEqual(
      h.on('meter-1', 'twin/update').map((u) => u.at - t0),
      [0, 10_000, 20_000],
    )
    assert.equal(sim.callsOf('read').length, 21, 'polling went on every second in between')
  })

  it('state: online after connect, unhealthy while a read fails with the link up, offline when the link is lost; published only on change', async () => {
    const h = await start({
      devices: [fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 }), prop('power', { collectCycle: 1000 })])],
      mapper: { backoff: { initialMs: 1000, maxMs: 1000 } },
    })
    const sim = h.protocol.device('meter-1')
    const states = (): unknown[] => h.on('meter-1', 'state/update').map((m) => m.body.state)
    await h.until(() => states().length === 1, 'the first state')
    assert.deepEqual(states(), ['online'])
    await h.until(() => h.twin.devices.get('default/meter-1')?.state === 'online', 'the twin to store online')

    sim.failReads.set('power', 'MAPPER_READ_FAILED')
    await h.clock.advance(3000)
    await h.until(() => states().length === 2, 'unhealthy')
    assert.deepEqual(states(), ['online', 'unhealthy'])
    assert.equal(h.logged('MAPPER_READ_FAILED').length, 1, 'a failing read is logged once, not every cycle')
    assert.ok(h.on('meter-1', 'twin/update').length >= 1, 'the readable property is still reported')

    sim.failReads.clear()
    await h.clock.advance(1000)
    await h.until(() => states().length === 3, 'online again')

    sim.reachable = false
    await h.clock.advance(5000)
    await h.until(() => states().length === 4, 'offline')
    assert.deepEqual(states(), ['online', 'unhealthy', 'online', 'offline'])
    await h.until(() => h.twin.devices.get('default/meter-1')?.state === 'offline', 'the twin to store offline')

    sim.reachable = true
    await h.clock.advance(1000)
    await h.until(() => states().length === 5, 'online after reconnecting')
    assert.deepEqual(states(), ['online', 'unhealthy', 'online', 'offline', 'online'])
  })

  it('a device with no properties is kept current by health probes', async () => {
    const h = await start({ devices: [fakeDevice('bare-1', [])], mapper: { backoff: { initialMs: 500, maxMs: 500 } } })
    const sim = h.protocol.device('bare-1')
    await h.clock.advance(3000)
    assert.ok(sim.callsOf('health').length >= 3)
    sim.reachable = false
    await h.clock.advance(1000)
    await h.until(() => h.on('bare-1', 'state/update').length === 2, 'offline')
    assert.deepEqual(h.on('bare-1', 'state/update').map((m) => m.body.state), ['online', 'offline'])
  })
})
