/**
 * The kubelet's EventCorrelator (client-go tools/record/events_cache.go) at the edge: repeats keep
 * their Event name and count up, similar events are combined after 10 in 10 minutes, and the
 * per-object spam filter (burst 25, one more every 5 minutes) keeps a crash-looping pod from
 * flooding the link.
 */
import { strict as assert } from 'node:assert'
import { EventCorrelator, type EventInput } from '../../cloud-sync/edge/event-correlator.js'

const about = (name = 'web', uid = 'u1'): EventInput['involvedObject'] => ({ kind: 'Pod', apiVersion: 'v1', namespace: 'default', name, uid })
const backOff = (message = 'Back-off restarting failed container app'): EventInput => ({ involvedObject: about(), type: 'Warning', reason: 'BackOff', message })

describe('edge EventCorrelator (client-go events_cache.go)', () => {
  it('a repeat keeps the name and first timestamp and raises count and lastTimestamp (EventLogger)', () => {
    let now = Date.parse('2026-01-01T00:00:00Z')
    const c = new EventCorrelator({ host: 'edge-1', now: () => now })
    const first = c.observe(backOff())
    now += 10_000
    const second = c.observe(backOff())
    assert.ok(first !== undefined && second !== undefined)
    assert.equal(second.name, first.name)
    assert.match(first.name, /^web\.[0-9a-f]+$/)
    assert.deepEqual([first.event.count, second.event.count], [1, 2])
    assert.equal(second.event.firstTimestamp, '2026-01-01T00:00:00Z')
    assert.equal(second.event.lastTimestamp, '2026-01-01T00:00:10Z')
    assert.deepEqual(second.event.source, { component: 'kubelet', host: 'edge-1' })
    const other = c.observe({ ...backOff(), involvedObject: about('db', 'u2') })
    assert.notEqual(other?.name, first.name, 'another object: another Event')
  })

  it('more than 10 similar events (same reason, different messages) within 10 minutes are combined into one (EventAggregator)', () => {
    let now = 0
    const c = new EventCorrelator({ host: 'edge-1', now: () => now })
    const names = new Set<string>()
    let last
    for (let i = 0; i < 15; i++) {
      now += 1000
      last = c.observe(backOff(`message ${i}`))
      if (last !== undefined) names.add(last.name)
    }
    assert.equal(names.size, 11, '10 distinct events, then one combined')
    assert.equal(last?.event.message, '(combined from similar events): message 14')
    assert.equal(last?.event.count, 5)
    now += 11 * 60_000
    assert.equal(c.observe(backOff('after the window'))?.event.message, 'after the window', 'a new window starts over')
  })

  it('the spam filter lets 25 events of an object through, then one per 5 minutes, carrying the count of those dropped', () => {
    let now = 0
    const c = new EventCorrelator({ host: 'edge-1', now: () => now })
    let passed = 0
    for (let i = 0; i < 100; i++) {
      now += 100
      if (c.observe(backOff()) !== undefined) passed++
    }
    assert.equal(passed, 25)
    now += 300_000
    const next = c.observe(backOff())
    assert.equal(next?.event.count, 101, 'the dropped repeats are counted')
    assert.equal(c.observe(backOff()), undefined)
    assert.ok(c.observe({ ...backOff(), involvedObject: about('db', 'u2') }) !== undefined, 'another object has its own bucket')
  })
})
