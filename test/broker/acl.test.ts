import { strict as assert } from 'node:assert'
import { createAcl } from '../../broker/acl.js'
import type { AclRule } from '../../schemas/config.js'

const rules: AclRule[] = [
  { topic: '$hw/events/device/%u/#', access: 'readwrite' },
  { topic: 'public/#', access: 'read' },
  { topic: 'public/secret/#', access: 'deny' },
  { topic: 'ops/#', access: 'readwrite', users: ['operator'] },
  { topic: 'lobby/%c', access: 'write', users: ['$anonymous'] },
]
const acl = createAcl(rules)

describe('broker/acl', () => {
  it('without rules every client may do everything (Mosquitto without acl_file)', () => {
    const open = createAcl(undefined).forClient({ clientId: 'x', username: undefined })
    assert.ok(open.canPublish('anything/at/all'))
    assert.ok(open.canSubscribe('#'))
  })

  it('%u grants a device its own $hw topics and nothing of another device', () => {
    const meter = acl.forClient({ clientId: 'c1', username: 'meter-1' })
    assert.ok(meter.canPublish('$hw/events/device/meter-1/twin/update'))
    assert.ok(!meter.canPublish('$hw/events/device/meter-2/twin/update'))
    assert.ok(meter.canSubscribe('$hw/events/device/meter-1/twin/update/delta'))
    assert.ok(!meter.canSubscribe('$hw/events/device/+/twin/update/delta'))
  })

  it('deny wins over a wider grant, for receiving and subscribing', () => {
    const meter = acl.forClient({ clientId: 'c1', username: 'meter-1' })
    assert.ok(meter.canReceive('public/news'))
    assert.ok(!meter.canReceive('public/secret/key'))
    assert.ok(!meter.canSubscribe('public/secret/#'))
    // a subscription that only partly overlaps a deny is granted; delivery is filtered per message
    assert.ok(meter.canSubscribe('public/#'))
  })

  it('read grants do not allow publishing', () => {
    assert.ok(!acl.forClient({ clientId: 'c1', username: 'meter-1' }).canPublish('public/news'))
  })

  it('rules restricted to users apply only to them; $anonymous names clients without username', () => {
    assert.ok(acl.forClient({ clientId: 'o', username: 'operator' }).canPublish('ops/restart'))
    assert.ok(!acl.forClient({ clientId: 'o', username: 'meter-1' }).canPublish('ops/restart'))
    assert.ok(acl.forClient({ clientId: 'kiosk', username: undefined }).canPublish('lobby/kiosk'))
    assert.ok(!acl.forClient({ clientId: 'kiosk', username: 'operator' }).canPublish('lobby/kiosk'))
  })

  it('a username with a wildcard or separator cannot widen its own grant', () => {
    for (const username of ['#', '+', 'a/b', 'x/#']) {
      const evil = acl.forClient({ clientId: 'e', username })
      assert.ok(!evil.canPublish('$hw/events/device/other/twin/update'), username)
      assert.ok(!evil.canSubscribe('$hw/events/device/#'), username)
    }
  })

  it('a deny rule whose placeholder cannot be filled denies everything', () => {
    const strict = createAcl([
      { topic: 'open/#', access: 'readwrite' },
      { topic: 'private/%u/#', access: 'deny' },
    ])
    assert.ok(strict.forClient({ clientId: 'c', username: 'u' }).canPublish('open/x'))
    assert.ok(!strict.forClient({ clientId: 'c', username: undefined }).canPublish('open/x'))
  })

  it('anything not granted is denied once rules exist', () => {
    const anon = acl.forClient({ clientId: 'c', username: undefined })
    assert.ok(!anon.canPublish('random/topic'))
    assert.ok(!anon.canSubscribe('#'))
  })
})
