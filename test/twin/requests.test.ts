/** Get, state update and membership payloads (kubeedge-compat §1.4, §1.5.4, §1.5.6-§1.5.8). */
import assert from 'node:assert/strict'
import { answerTwinGet } from '../../twin/get.js'
import { applyStateUpdate, rfc3339 } from '../../twin/state.js'
import { memberDevice, memberDeviceWithTwins, membershipGetResult, membershipUpdated } from '../../twin/membership.js'
import { admitRequest, decodeRequest, parseJson } from '../../twin/request.js'
import { errorResult } from '../../twin/outputs.js'
import { NOW, ids, rec, val } from './fixtures.js'

describe('twin get (§1.5.4)', () => {
  const twins = {
    a: rec({ expected: ['1', NOW - 5], actual: ['0', NOW - 4], ev: [2, 3], av: [0, 9] }),
    gone: rec({ ev: [0, 4], deleted: true }),
    b: rec({ actual: ['x', NOW - 3], av: [0, 1], optional: false, type: 'int' }),
  }

  it('§1.5.4 lists live twins without versions, hides tombstones, echoes event_id, stamps now', () => {
    const out = answerTwinGet({ twins, request: { event_id: 'g1', timestamp: 5 }, now: NOW })
    assert.ok(out.ok)
    assert.deepStrictEqual(out.result, {
      event_id: 'g1',
      timestamp: NOW,
      twin: {
        a: { expected: val('1', NOW - 5), actual: val('0', NOW - 4), optional: true, metadata: { type: 'string' } },
        b: { actual: val('x', NOW - 3), optional: false, metadata: { type: 'int' } },
      },
    })
  })

  it('§1.5.4 an empty payload is not JSON: a 400, as KubeEdge answers it', () => {
    const decoded = decodeRequest(Buffer.alloc(0))
    assert.deepStrictEqual(decoded.ok ? undefined : decoded.errorCode, 'TWIN_BAD_REQUEST')
    const out = answerTwinGet({ twins, request: undefined, now: NOW })
    assert.ok(!out.ok)
    assert.equal(out.result.code, 400)
  })

  for (const [what, request] of [['an array', []], ['a number', 3], ['null', null], ['event_id a number', { event_id: 7 }]] as const) {
    it(`§2.7 400 TWIN_BAD_REQUEST when the body is ${what}`, () => {
      const out = answerTwinGet({ twins, request, now: NOW })
      assert.ok(!out.ok)
      assert.equal(out.result.code, 400)
      assert.equal(out.result.errorCode, 'TWIN_BAD_REQUEST')
      assert.equal(out.result.event_id, '')
    })
  }
})

describe('device state update (§1.5.6, DESIGN §4.6)', () => {
  const base = { name: 'sensor-1', previous: {}, now: Date.UTC(2026, 0, 1, 0, 0, 0, 123) }

  it('§1.5.6 online: lastOnlineTime is RFC 3339 UTC without fraction; result has a fresh event id', () => {
    const out = applyStateUpdate({ ...base, request: { event_id: 'req', state: 'online' }, newEventId: ids() })
    assert.ok(out.ok)
    assert.deepStrictEqual(out.result, {
      event_id: 'uuid-1',
      timestamp: base.now,
      device: { name: 'sensor-1', state: 'online', lastOnlineTime: '2026-01-01T00:00:00Z' },
    })
    assert.deepStrictEqual(out.status, { state: 'online', lastOnline: '2026-01-01T00:00:00Z' })
    assert.equal(out.changed, true)
  })

  it('§1.5.6 states match case-insensitively and are kept as sent, as KubeEdge stores and echoes them; OK also sets lastOnlineTime', () => {
    const out = applyStateUpdate({ ...base, request: { state: 'OK' }, newEventId: ids() })
    assert.ok(out.ok)
    assert.equal(out.status.state, 'OK')
    assert.deepStrictEqual(out.result.device, { name: 'sensor-1', state: 'OK', lastOnlineTime: '2026-01-01T00:00:00Z' })
    const again = applyStateUpdate({ ...base, previous: out.status, request: { state: 'ok' }, newEventId: ids() })
    assert.ok(again.ok)
    assert.equal(again.status.state, 'ok')
    assert.equal(again.changed, true, 'what apps see changed')
  })

  it('§1.4 #8 DMI sends the key as "State": accepted', () => {
    const out = applyStateUpdate({ ...base, request: { State: 'Unhealthy' }, newEventId: ids() })
    assert.ok(out.ok)
    assert.equal(out.status.state, 'Unhealthy')
  })

  it('§8.16 offline keeps the last online time instead of wiping it', () => {
    const previous = { state: 'online' as const, lastOnline: '2025-12-31T23:00:00Z' }
    const out = applyStateUpdate({ ...base, previous, request: { state: 'offline' }, newEventId: ids() })
    assert.ok(out.ok)
    assert.deepStrictEqual(out.result.device, { name: 'sensor-1', state: 'offline', lastOnlineTime: '2025-12-31T23:00:00Z' })
    assert.deepStrictEqual(out.status, { state: 'offline', lastOnline: '2025-12-31T23:00:00Z' })
  })

  it('offline with no previous online time: lastOnlineTime is omitted (omitempty)', () => {
    const out = applyStateUpdate({ ...base, request: { state: 'unknown' }, newEventId: ids() })
    assert.ok(out.ok)
    assert.deepStrictEqual(out.result.device, { name: 'sensor-1', state: 'unknown' })
    assert.equal(out.changed, true)
  })

  it('a repeated offline report is unchanged', () => {
    const out = applyStateUpdate({ ...base, previous: { state: 'offline' }, request: { state: 'offline' }, newEventId: ids() })
    assert.ok(out.ok)
    assert.equal(out.changed, false)
  })

  for (const state of ['disconnected', 'ERROR', 'DISCONNECTED', '', 'online ']) {
    it(`DESIGN §4.6 unknown state ${JSON.stringify(state)} is refused with 400 DEVICE_STATE_UNKNOWN (KubeEdge ignores it, §8.16)`, () => {
      const out = applyStateUpdate({ ...base, request: { event_id: 'e', state }, newEventId: ids() })
      assert.ok(!out.ok)
      assert.equal(out.errorCode, 'DEVICE_STATE_UNKNOWN')
      assert.equal(out.result.code, 400)
      assert.equal(out.result.event_id, 'e')
    })
  }

  for (const [what, request] of [['state missing', {}], ['state a number', { state: 1 }], ['body an array', ['online']], ['body empty', undefined]] as const) {
    it(`DESIGN §4.4 ${what}: 400 TWIN_BAD_REQUEST`, () => {
      const out = applyStateUpdate({ ...base, request, newEventId: ids() })
      assert.ok(!out.ok)
      assert.equal(out.errorCode, 'TWIN_BAD_REQUEST')
    })
  }

  it('rfc3339 is Go time.RFC3339 for UTC', () => assert.equal(rfc3339(Date.UTC(2026, 6, 4, 13, 5, 9, 999)), '2026-07-04T13:05:09Z'))
})

describe('membership payloads (§1.5.7, §1.5.8)', () => {
  it('§1.5.7 get result lists devices without twin, omitting empty fields', () => {
    const stamp = { eventId: 'm1', now: NOW }
    assert.deepStrictEqual(
      membershipGetResult(stamp, [
        { id: 'default/fan-1', name: 'fan-1', description: 'a fan', state: 'online', lastOnline: '2026-01-01T00:00:00Z', attributes: {} },
        { id: 'default/x', name: 'x', description: '' },
      ]),
      {
        event_id: 'm1',
        timestamp: NOW,
        devices: [
          { id: 'default/fan-1', name: 'fan-1', description: 'a fan', state: 'online', last_online: '2026-01-01T00:00:00Z' },
          { id: 'default/x', name: 'x' },
        ],
      },
    )
    assert.deepStrictEqual(membershipGetResult(stamp, []).devices, [], '§1.4 #12 devices is [] not null')
  })

  it('§1.5.8 updated: one list set, the other null; twins without versions, tombstones null', () => {
    const device = memberDeviceWithTwins({ id: 'ns/d', name: 'd' }, { a: rec({ actual: ['1', NOW], av: [0, 1] }), b: rec({ deleted: true, av: [0, 2] }) })
    assert.deepStrictEqual(membershipUpdated({ eventId: 'u', now: NOW }, { added: [device] }), {
      event_id: 'u',
      timestamp: NOW,
      added_devices: [{ id: 'ns/d', name: 'd', twin: { a: { actual: val('1', NOW), optional: true, metadata: { type: 'string' } }, b: null } }],
      removed_devices: null,
    })
    assert.deepStrictEqual(membershipUpdated({ eventId: 'u', now: NOW }, { removed: [memberDevice({ id: 'ns/d', name: 'd' })] }).added_devices, null)
  })
})

describe('payload helpers', () => {
  it('parseJson: an empty (or blank) payload and bad JSON are TWIN_BAD_REQUEST with a reason, never a throw', () => {
    assert.deepStrictEqual(parseJson(' {"a":1} '), { ok: true, value: { a: 1 } })
    for (const text of ['', ' \n', '{"twin":']) {
      const bad = parseJson(text)
      assert.ok(!bad.ok)
      assert.equal(bad.errorCode, 'TWIN_BAD_REQUEST')
    }
  })

  it('config twin.maxRequestBytes: a larger payload is kept only as its size and refused without being decoded', () => {
    const at = admitRequest(Buffer.from('{"event_id":"x"}'), 16)
    assert.deepStrictEqual(decodeRequest(at), { ok: true, value: { event_id: 'x' } })
    const over = admitRequest(Buffer.from('{"event_id":"xy"}'), 16)
    assert.deepStrictEqual(over, { size: 17, limit: 16 })
    const refused = decodeRequest(over)
    assert.ok(!refused.ok)
    assert.equal(refused.errorCode, 'TWIN_REQUEST_TOO_LARGE')
  })

  it('§2.7 404 and 500 results carry code, reason and errorCode; success fields omitted (omitempty)', () => {
    assert.deepStrictEqual(errorResult({ eventId: 'e', now: NOW, code: 404, errorCode: 'TWIN_DEVICE_NOT_FOUND', reason: 'update rejected due to the device is not existed' }), {
      event_id: 'e',
      timestamp: NOW,
      code: 404,
      reason: 'update rejected due to the device is not existed',
      errorCode: 'TWIN_DEVICE_NOT_FOUND',
    })
  })
})
