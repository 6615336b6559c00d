/**
 * Device faults the runtime must survive: a device that restarts is reconnected, a poll loop outlives
 * an exception, back-off settings are obeyed (DESIGN §9 Devices: a device that
 * disappears, returns garbage, times out or throws keeps its loop alive and reconnects with capped
 * back-off).
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ok } from '../../mappers/driver.js'
import { Backoff, backoffCeiling, backoffDelay, type BackoffOptions } from '../../mappers/runtime/backoff.js'
import { guarded, StopSignal } from '../../mappers/runtime/guard.js'
import { ManualClock } from '../support/manual-clock.js'
import { mapperHarness } from '../support/mapper-harness.js'
import { fakeDevice, prop } from './runtime-fixtures.js'

const gaps = (times: number[]): number[] => times.slice(1).map((t, i) => t - (times[i] as number))

describe('mapper runtime: back-off (pure)', () => {
  const options: BackoffOptions = { initialMs: 1000, maxMs: 8000, multiplier: 2, resetAfterMs: 30_000 }

  it('ceilings grow by the multiplier from initialMs and stop at maxMs', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 10, 2000].map((n) => backoffCeiling(options, n)), [1000, 2000, 4000, 8000, 8000, 8000, 8000])
  })

  it('every delay lies in [initialMs, ceiling] whatever the random draw (jitter never retries sooner than initialMs)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 1, max: 10, noNaN: true }), fc.nat(60), fc.double({ min: 0, max: 1, noNaN: true }), (initialMs, maxMs, multiplier, attempt, r) => {
        const o = { initialMs, maxMs, multiplier, resetAfterMs: 0 }
        const d = backoffDelay(o, attempt, () => r)
        return d >= Math.min(initialMs, maxMs) && d <= backoffCeiling(o, attempt) && d <= maxMs
      }),
    )
  })

  it('starts over after the link stayed up resetAfterMs, not after a short-lived link', () => {
    const b = new Backoff(options, () => 1)
    assert.deepEqual([b.next(0), b.next(0), b.next(0)], [1000, 2000, 4000])
    b.succeeded(100)
    assert.equal(b.next(5000), 8000, 'up for 4.9 s: still escalating')
    b.succeeded(10_000)
    assert.equal(b.next(40_000), 1000, 'up for 30 s: a fresh sequence')
  })
})

describe('mapper runtime: faults', () => {
  const start = mapperHarness()

  it('reconnect back-off is capped exponential with jitter, and the configured values are used', async () => {
    const draws = [0, 1, 0.5, 1, 1, 0.25]
    let i = 0
    const h = await start({
      devices: [fakeDevice('meter-1', [prop('speed')])],
      mapper: { backoff: { initialMs: 200, maxMs: 1600, multiplier: 3 }, random: () => draws[i++ % draws.length] as number },
      prepare: (p) => (p.device('meter-1').reachable = false),
    })
    const sim = h.protocol.device('meter-1')
    await h.clock.advance(20_000)
    const delays = gaps(sim.callsOf('connect').map((c) => c.at)).slice(0, 6)
    // ceilings 200, 600, 1600 (cap; 1800 without it), 1600, ...; delay = 200 + draw × (ceiling − 200)
    assert.deepEqual(delays, [200, 600, 900, 1600, 1600, 550])
    assert.deepEqual(h.on('meter-1', 'state/update').map((m) => m.body.state), ['offline'], 'offline once, not per attempt')
    assert.equal(sim.openLinks, 0)
  })

  it('a device that stays down is one warning per outage and cause; the retries log at debug', async () => {
    const h = await start({
      devices: [fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 })])],
      mapper: { backoff: { initialMs: 200, maxMs: 400, multiplier: 2 } },
      prepare: (p) => (p.device('meter-1').reachable = false),
    })
    const sim = h.protocol.device('meter-1')
    await h.clock.advance(5000)
    const down = (level: number): number => h.logs.filter((l) => l.msg === 'device link down: fake device unreachable' && l.level === level).length
    assert.ok(sim.callsOf('connect').length >= 10, `retried (${sim.callsOf('connect').length} connects)`)
    assert.equal(down(40), 1, 'one warning')
    assert.equal(down(20), sim.callsOf('connect').length - 1, 'every other failed attempt at debug')
    sim.reachable = true
    await h.clock.advance(1000)
    await h.until(() => h.on('meter-1', 'state/update').at(-1)?.body.state === 'online', 'online again')
    sim.reachable = false
    await h.clock.advance(2000)
    await h.until(() => down(40) === 2, 'a new outage warns again')
  })

  it('reconnects after the device restarts and reports its values again', async () => {
    const h = await start({ devices: [fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 })])], mapper: { backoff: { initialMs: 1000, maxMs: 4000 } } })
    const sim = h.protocol.device('meter-1')
    await h.until(() => h.actual('meter-1', 'speed') === '0', 'the first report')
    sim.reachable = false
    await h.clock.advance(10_000)
    const attempts = sim.callsOf('connect').length
    assert.ok(attempts >= 3, `retried (${attempts} connects)`)
    sim.reachable = true
    sim.registers.set('speed', '77')
    await h.clock.advance(4000)
    await h.until(() => h.actual('meter-1', 'speed') === '77', 'the value after the restart')
    assert.equal(sim.openLinks, 1, 'one link, the old ones closed')
    assert.equal(h.on('meter-1', 'state/update').at(-1)?.body.state, 'online')
  })

  for (const op of ['connect', 'read', 'close'] as const) {
    it(`a driver whose ${op} throws does not end the loop: logged as MAPPER_DRIVER_THREW, treated as a lost link`, async () => {
      const h = await start({ devices: [fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 })])], mapper: { backoff: { initialMs: 1000, maxMs: 1000 } } })
      const sim = h.protocol.device('meter-1')
      await h.until(() => sim.callsOf('read').length === 1, 'the first read')
      sim.throwOn.add(op)
      if (op !== 'read') sim.reachable = false // connect and close happen only when the link is lost
      await h.clock.advance(5000)
      assert.ok(h.logged('MAPPER_DRIVER_THREW').length > 0)
      assert.ok(sim.callsOf(op).length > 1, `${op} was called again after it threw`)
      sim.throwOn.clear()
      sim.reachable = true
      sim.registers.set('speed', '5')
      await h.clock.advance(3000)
      await h.until(() => h.actual('meter-1', 'speed') === '5', 'reads resumed')
      assert.equal(h.on('meter-1', 'state/update').at(-1)?.body.state, 'online')
    })
  }

  it('createDriver throwing is survived too', async () => {
    const h = await start({ devices: [fakeDevice('meter-1', [prop('speed')])], mapper: { backoff: { initialMs: 1000, maxMs: 1000 } } })
    await h.until(() => h.protocol.device('meter-1').callsOf('read').length > 0, 'a read')
    const create = h.protocol.createDriver.bind(h.protocol)
    let throws = true
    h.protocol.createDriver = (device, context) => {
      if (throws) throw new Error('boom')
      return create(device, context)
    }
    h.protocol.device('meter-1').reachable = false
    await h.clock.advance(3000)
    assert.ok(h.logged('MAPPER_DRIVER_THREW').length > 0)
    throws = false
    h.protocol.device('meter-1').reachable = true
    h.protocol.device('meter-1').registers.set('speed', '9')
    await h.clock.advance(2000)
    await h.until(() => h.actual('meter-1', 'speed') === '9', 'reads resumed')
  })

  it('garbage from read: not a Map is a lost link; wrong types, missing outcomes and invalid values make the device unhealthy and are never reported', async () => {
    const h = await start({ devices: [fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 })])], mapper: { backoff: { initialMs: 1000, maxMs: 1000 }, heartbeatMs: 0 } })
    const sim = h.protocol.device('meter-1')
    await h.until(() => h.actual('meter-1', 'speed') === '0', 'the first report')
    const states = (): unknown[] => h.on('meter-1', 'state/update').map((m) => m.body.state)

    sim.garbage = 'not-a-map'
    await h.clock.advance(1000)
    await h.until(() => states().includes('offline'), 'offline')
    assert.ok(h.logs.some((l) => l.code === 'MAPPER_DRIVER_BAD_OUTCOME'))

    for (const garbage of ['numbers', 'missing', 'invalid-value'] as const) {
      sim.garbage = garbage
      await h.clock.advance(3000)
      assert.equal(states().at(-1), 'unhealthy', garbage)
      sim.garbage = undefined
      await h.clock.advance(1000)
      await h.until(() => states().at(-1) === 'online', `online after ${garbage}`)
    }
    assert.ok(h.logged('MAPPER_VALUE_INVALID').length > 0, 'an invalid value is logged with its code')
    assert.equal(h.actual('meter-1', 'speed'), '0', 'no garbage reached the twin')
    assert.equal(h.on('meter-1', 'twin/update').length, 1)
    assert.equal(h.on('meter-1', 'twin/update/result').filter((r) => r.body.code !== undefined).length, 0, 'the twin refused nothing')
  })

  it('a call that never settles counts as a lost link after callTimeoutMs', async () => {
    const h = await start({ devices: [fakeDevice('meter-1', [prop('speed', { collectCycle: 1000 })])], mapper: { callTimeoutMs: 3000, backoff: { initialMs: 1000, maxMs: 1000 } } })
    const sim = h.protocol.device('meter-1')
    await h.until(() => sim.callsOf('read').length === 1, 'the first read')
    sim.hangOn.add('read')
    await h.clock.advance(1000)
    await h.clock.advance(2999)
    assert.equal(h.on('meter-1', 'state/update').length, 1, 'still online before the timeout')
    await h.clock.advance(1)
    await h.until(() => h.on('meter-1', 'state/update').at(-1)?.body.state === 'offline', 'offline after the timeout')
    assert.ok(h.logged('MAPPER_TIMEOUT').length > 0)
    sim.hangOn.clear()
    sim.registers.set('speed', '3')
    await h.clock.advance(2000)
    await h.until(() => h.actual('meter-1', 'speed') === '3', 'reads resumed with a fresh driver')
  })

  it('a slow device delays its own rounds only; the schedule skips missed slots instead of bursting', async () => {
    const h = await start({ devices: [fakeDevice('slow-1', [prop('speed', { collectCycle: 1000 })]), fakeDevice('fast-1', [prop('speed', { collectCycle: 1000 })])] })
    const slow = h.protocol.device('slow-1')
    const fast = h.protocol.device('fast-1')
    await h.until(() => fast.callsOf('read').length === 1 && slow.callsOf('read').length === 1, 'first reads')
    slow.delayMs = 2500
    await h.clock.advance(10_000)
    assert.equal(fast.callsOf('read').length, 11, 'the fast device kept its cycle')
    const slowGaps = gaps(slow.callsOf('read').map((c) => c.at))
    assert.ok(slowGaps.every((g) => g >= 1000), `no burst: ${JSON.stringify(slowGaps)}`)
    assert.ok(slow.callsOf('read').length <= 5)
    slow.delayMs = 0 // so the close at stop is not delayed on the manual clock
  })
})

describe('mapper runtime: guarded driver calls', () => {
  it('a settled call leaves nothing on the stop signal (a reaction per call kept every driver alive until stop)', async () => {
    const clock = new ManualClock()
    const stop = new StopSignal()
    for (let i = 0; i < 100; i++) assert.deepEqual(await guarded({ clock, timeoutMs: 1000, stop }, 'read', () => Promise.resolve(i)), ok(i))
    assert.equal(stop.watching, 0)
    assert.equal(clock.pending().length, 0, 'no call timer left either')
  })

  it('a stop cuts the calls in flight short, and a call after the stop is abandoned at once', async () => {
    const clock = new ManualClock()
    const stop = new StopSignal()
    const limits = { clock, timeoutMs: 1000, stop }
    const hanging = guarded(limits, 'connect', () => new Promise(() => {}))
    const other = guarded(limits, 'read', () => new Promise(() => {}))
    stop.stop()
    const second = await other
    assert.equal(second.ok === false && second.error.code, 'MAPPER_LINK_LOST')
    const cut = await hanging
    assert.equal(cut.ok === false && cut.error.code, 'MAPPER_LINK_LOST')
    const late = await guarded(limits, 'close', () => new Promise(() => {}))
    assert.equal(late.ok === false && late.error.code, 'MAPPER_LINK_LOST')
  })
})
