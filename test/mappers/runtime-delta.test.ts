/**
 * Desired values end to end with the real DeviceTwin (DESIGN §5): `.../twin/update/delta` → the
 * mapper writes the device → reads back → reports actual → the twin converges (expected == actual,
 * no further delta). ReadOnly properties are refused, failing writes back off instead of being
 * repeated on every delta, and desired values pending at start are applied (twin/get).
 */
import assert from 'node:assert/strict'
import { deviceTopic } from '../../schemas/topics.js'
import { mapperHarness } from '../support/mapper-harness.js'
import { fakeDevice, prop } from './runtime-fixtures.js'

const speedDevice = (extra: Parameters<typeof prop>[1] = {}) =>
  fakeDevice('fan-1', [prop('speed', { collectCycle: 1000, maximum: '5000', ...extra }), prop('temperature', { type: 'FLOAT', accessMode: 'ReadOnly', collectCycle: 1000 })])

const setExpected = (value: string, event = 'app-1') => ({ event_id: event, timestamp: 0, twin: { speed: { expected: { value } } } })
const updateTopic = deviceTopic({ layout: 'name', name: 'fan-1' }, 'twin/update')
const deltaTopic = deviceTopic({ layout: 'name', name: 'fan-1' }, 'twin/update/delta')

describe('mapper runtime: desired values', () => {
  const start = mapperHarness()

  it('DESIGN §5 delta → write → read back → actual reported → twin converged, delta empty', async () => {
    const h = await start({ devices: [speedDevice()], mapper: { heartbeatMs: 0 } })
    const sim = h.protocol.device('fan-1')
    await h.until(() => h.actual('fan-1', 'speed') === '0', 'the first report')
    await h.publish(updateTopic, setExpected('1200'))
    await h.until(() => h.actual('fan-1', 'speed') === '1200', 'the written value reported')
    assert.equal(sim.registers.get('speed'), '1200')
    const writes = sim.callsOf('write')
    assert.deepEqual(writes.map((w) => [w.properties, w.value]), [[['speed'], '1200']])
    const write = writes[0]
    const readBack = sim.calls[sim.calls.indexOf(write as (typeof sim.calls)[number]) + 1]
    assert.deepEqual([readBack?.op, readBack?.properties], ['read', ['speed']], 'read back right after the write')
    assert.equal(h.expected('fan-1', 'speed'), '1200')
    const deltasBefore = h.on('fan-1', 'twin/update/delta').length
    await h.clock.advance(5000)
    assert.equal(h.on('fan-1', 'twin/update/delta').length, deltasBefore, 'no delta after convergence')
    assert.equal(sim.callsOf('write').length, 1, 'written once')
  })

  it('a desired value in the Device spec is written when the mapper starts (twin/get at start)', async () => {
    const device = speedDevice({ desired: '800' })
    const h = await start({ devices: [device] })
    await h.until(() => h.actual('fan-1', 'speed') === '800', 'the spec value written and reported')
    assert.equal(h.protocol.device('fan-1').callsOf('write').length, 1)
  })

  it('refuses a delta for a ReadOnly property with MAPPER_READ_ONLY, once, and never writes it', async () => {
    const h = await start({ devices: [speedDevice()] })
    const sim = h.protocol.device('fan-1')
    await h.until(() => sim.callsOf('read').length > 0, 'polling')
    const delta = { event_id: 'x', timestamp: 0, twin: {}, delta: { temperature: '30' } }
    await h.publish(deltaTopic, delta)
    await h.publish(deltaTopic, delta)
    await h.clock.advance(2000)
    assert.equal(sim.callsOf('write').length, 0)
    assert.equal(h.logged('MAPPER_READ_ONLY').length, 1)
  })

  it('a value invalid for the property type or range is not written (MAPPER_VALUE_INVALID)', async () => {
    const h = await start({ devices: [speedDevice()] })
    const sim = h.protocol.device('fan-1')
    await h.until(() => sim.callsOf('read').length > 0, 'polling')
    await h.publish(deltaTopic, { event_id: 'x', timestamp: 0, twin: {}, delta: { speed: 'fast' } })
    await h.publish(deltaTopic, { event_id: 'y', timestamp: 0, twin: {}, delta: { speed: '9000' } })
    await h.clock.advance(2000)
    assert.equal(sim.callsOf('write').length, 0)
    assert.equal(h.logged('MAPPER_VALUE_INVALID').length, 2)
  })

  it('a malformed delta is logged with MAPPER_BAD_MESSAGE and changes nothing', async () => {
    const h = await start({ devices: [speedDevice()] })
    await h.until(() => h.protocol.device('fan-1').callsOf('read').length > 0, 'polling')
    await h.bus.publish(deltaTopic, '{not json')
    await h.publish(deltaTopic, { delta: { speed: 12 } })
    await h.clock.advance(2000)
    assert.equal(h.logged('MAPPER_BAD_MESSAGE').length, 2)
    assert.equal(h.protocol.device('fan-1').callsOf('write').length, 0)
  })

  it('a failing write is retried with back-off, not on every repeated delta', async () => {
    const h = await start({ devices: [speedDevice()], mapper: { backoff: { initialMs: 1000, maxMs: 8000, multiplier: 2 }, random: () => 1 } })
    const sim = h.protocol.device('fan-1')
    await h.until(() => sim.callsOf('read').length > 0, 'polling')
    sim.failWrites = 'MAPPER_WRITE_FAILED'
    await h.publish(updateTopic, setExpected('1500'))
    await h.until(() => sim.callsOf('write').length === 1, 'the first write')
    // the twin repeats the delta after every deal: here, every temperature change the mapper reports
    for (let i = 0; i < 15; i++) {
      sim.registers.set('temperature', String(20 + i))
      await h.clock.advance(1000)
    }
    const times = sim.callsOf('write').map((w) => w.at)
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number))
    assert.deepEqual(gaps, [1000, 2000, 4000, 8000], 'capped exponential retries')
    assert.ok(h.on('fan-1', 'twin/update/delta').length >= 10, 'while the delta came again and again')
    assert.ok(h.logged('MAPPER_WRITE_FAILED').length >= 4)
    sim.failWrites = undefined
    await h.clock.advance(8000)
    await h.until(() => h.actual('fan-1', 'speed') === '1500', 'converged once the device accepts writes')
  })

  it('a device that clamps the written value: the read-back is reported, and the write is retried with back-off only', async () => {
    const h = await start({ devices: [speedDevice()], mapper: { backoff: { initialMs: 1000, maxMs: 4000, multiplier: 2 }, random: () => 1 } })
    const sim = h.protocol.device('fan-1')
    sim.clamp.set('speed', 3000)
    await h.until(() => sim.callsOf('read').length > 0, 'polling')
    await h.publish(updateTopic, setExpected('4000'))
    await h.until(() => h.actual('fan-1', 'speed') === '3000', 'the clamped read-back reported')
    for (let i = 0; i < 10; i++) {
      sim.registers.set('temperature', String(30 + i))
      await h.clock.advance(1000)
    }
    const writes = sim.callsOf('write').length
    assert.ok(writes >= 2 && writes <= 4, `re-written with back-off, not per delta (${writes} writes)`)
    assert.equal(h.expected('fan-1', 'speed'), '4000')
  })

  it('a new desired value replaces a pending retry at once', async () => {
    const h = await start({ devices: [speedDevice()], mapper: { backoff: { initialMs: 60_000, maxMs: 60_000 } } })
    const sim = h.protocol.device('fan-1')
    await h.until(() => sim.callsOf('read').length > 0, 'polling')
    sim.failWrites = 'MAPPER_WRITE_FAILED'
    await h.publish(updateTopic, setExpected('100'))
    await h.until(() => sim.callsOf('write').length === 1, 'the failed write')
    sim.failWrites = undefined
    await h.publish(updateTopic, setExpected('200', 'app-2'))
    await h.until(() => h.actual('fan-1', 'speed') === '200', 'the new value written without waiting out the back-off')
    assert.deepEqual(sim.callsOf('write').map((w) => w.value), ['100', '200'])
  })
})
