/**
 * The pure parts of the cloud controllers: the status patch (kubeedge-compat.md §4.2 — merge patch
 * replaces arrays, so the whole twin list is sent; only declared properties), folding of reports,
 * the change order of downstream messages, and the token bucket (client-go flowcontrol semantics).
 */
import assert from 'node:assert/strict'
import { orderChanges, type Change } from '../../cloud-sync/cloud/node-set.js'
import { emptyPending, foldStateReport, foldTwinReport, mergePending, statusPatch } from '../../cloud-sync/cloud/status-patch.js'
import { Backoff, TokenBucket } from '../../cloud-sync/cloud/timing.js'
import { ManualClock } from '../support/manual-clock.js'

const declared = ['speed', 'running']
const noType = (): undefined => undefined

describe('cloud status patch (pure)', () => {
  it('folds newer over older per side; undeclared twins are not taken; the report timestamp stands in for a missing value timestamp', () => {
    const p = emptyPending()
    assert.equal(foldTwinReport(p, { event_id: 'a', timestamp: 5, twin: { speed: { actual: { value: '1', metadata: { timestamp: 1 } } }, other: { actual: { value: 'x' } } } }, new Set(declared), noType), 1)
    foldTwinReport(p, { event_id: 'b', timestamp: 9, twin: { speed: { expected: { value: '2' } } } }, new Set(declared), () => 'int')
    assert.deepEqual(p.twins.get('speed'), { reported: { value: '1', metadata: { timestamp: '1' } }, observedDesired: { value: '2', metadata: { timestamp: '9', type: 'int' } } })
    assert.equal(p.twins.has('other'), false)
  })

  it('builds the whole declared twin list in spec order; current undeclared twins are dropped; no twins key without twin changes', () => {
    const current = { twins: [{ propertyName: 'running', reported: { value: 'true' } }, { propertyName: 'old', reported: { value: '1' } }], state: 'online' }
    const p = emptyPending()
    foldTwinReport(p, { event_id: 'a', timestamp: 1, twin: { speed: { actual: { value: '3', metadata: { timestamp: 2 } }, metadata: { type: 'int' } } } }, new Set(declared), noType)
    assert.deepEqual(statusPatch(current, declared, p), {
      status: { twins: [{ propertyName: 'speed', reported: { value: '3', metadata: { timestamp: '2', type: 'int' } } }, { propertyName: 'running', reported: { value: 'true' } }] },
    })
    const s = emptyPending()
    foldStateReport(s, { state: 'offline', lastOnline: '' })
    assert.deepEqual(statusPatch(current, declared, s), { status: { state: 'offline' } })
    assert.equal(statusPatch(current, declared, emptyPending()), undefined)
  })

  it('a deleted twin is removed; mergePending keeps newer values over a failed older batch', () => {
    const older = emptyPending()
    foldTwinReport(older, { event_id: 'a', timestamp: 1, twin: { speed: { actual: { value: '1' } }, running: { actual: { value: 'true' } } } }, new Set(declared), noType)
    foldStateReport(older, { state: 'online', lastOnline: 't1' })
    const newer = emptyPending()
    foldTwinReport(newer, { event_id: 'b', timestamp: 2, twin: { speed: { actual: { value: '2' } }, running: { metadata: { type: 'deleted' } } } }, new Set(declared), noType)
    foldStateReport(newer, { state: 'offline' })
    const merged = mergePending(older, newer)
    assert.deepEqual(statusPatch({ twins: [{ propertyName: 'running', reported: { value: 'false' } }] }, declared, merged), {
      status: { twins: [{ propertyName: 'speed', reported: { value: '2', metadata: { timestamp: '2' } } }], state: 'offline', lastOnlineTime: 't1' },
    })
  })

  it('changes go out models first, then devices; deletes devices first, then models', () => {
    const u = (kind: 'device' | 'devicemodel', name: string): Change => ({ op: 'update', resource: `ns/${kind}/${name}`, object: {} as never })
    const d = (kind: 'device' | 'devicemodel', name: string): Change => ({ op: 'delete', resource: `ns/${kind}/${name}` })
    const order = orderChanges([d('devicemodel', 'a'), u('device', 'x'), d('device', 'y'), u('devicemodel', 'b')]).map((c) => `${c.op} ${c.resource}`)
    assert.deepEqual(order, ['update ns/devicemodel/b', 'update ns/device/x', 'delete ns/device/y', 'delete ns/devicemodel/a'])
  })

  it('token bucket: burst at once, then qps per second; back-off doubles to its cap', async () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket({ qps: 2, burst: 3, clock })
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0])
    assert.equal(bucket.take(), 500)
    await clock.advance(500)
    assert.equal(bucket.take(), 0)
    assert.equal(bucket.take(), 500)
    const b = new Backoff({ initialMs: 100, maxMs: 350 })
    assert.deepEqual([b.next(), b.next(), b.next(), b.next()], [100, 200, 350, 350])
    b.reset()
    assert.equal(b.next(), 100)
  })
})
