import { strict as assert } from 'node:assert'
import { createAcl } from '../../broker/acl.js'
import { parseEdgeConfig } from '../../cli/config.js'
import type { AclRule } from '../../schemas/config.js'
import type { TernError } from '../../schemas/errors.js'

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

  describe('device rules in both topic layouts (DESIGN §4: `<name>` and `<namespace>/<name>`)', () => {
    const twinUpdate = (id: string): string => `$hw/events/device/${id}/twin/update`

    it('%u: a user named like a namespace reaches its own `<name>` device, never the devices of that namespace', () => {
      const user = acl.forClient({ clientId: 'c', username: 'default' })
      assert.ok(user.canPublish(twinUpdate('default')))
      assert.ok(user.canReceive('$hw/events/device/default/twin/update/delta'))
      for (const topic of [twinUpdate('default/meter-2'), '$hw/events/device/default/meter-2/twin/update/delta', '$hw/events/device/default/meter-2/state/update']) {
        assert.ok(!user.canPublish(topic), topic)
        assert.ok(!user.canReceive(topic), topic)
        assert.ok(!user.canSubscribe(topic), topic)
      }
      // Granted, as a subscription inside its id; every delivery is checked again and none of namespace default's passes.
      assert.ok(user.canSubscribe('$hw/events/device/default/#'))
    })

    const byDevice = createAcl([{ topic: '$hw/events/device/%d/#', access: 'readwrite' }])

    it('%d: a `<namespace>/<name>` username reaches exactly that device in the namespaced layout', () => {
      const meter = byDevice.forClient({ clientId: 'c', username: 'default/meter-1' })
      assert.ok(meter.canPublish(twinUpdate('default/meter-1')))
      assert.ok(meter.canPublish('$hw/events/device/default/meter-1/state/update'))
      assert.ok(meter.canSubscribe('$hw/events/device/default/meter-1/twin/update/delta'))
      assert.ok(meter.canSubscribe('$hw/events/device/default/meter-1/#'))
      for (const topic of [twinUpdate('default/meter-2'), twinUpdate('other/meter-1'), twinUpdate('meter-1'), twinUpdate('default'), '$hw/events/device/default/meter-1/custom/topic']) {
        assert.ok(!meter.canPublish(topic), topic)
      }
      assert.ok(!meter.canSubscribe('$hw/events/device/default/+/twin/update/delta'))
      assert.ok(!meter.canSubscribe('$hw/events/device/default/meter-2/#'))
    })

    it('%d: a `<name>` username reaches that device in the flat layout only; a namespace-like name no namespace', () => {
      const meter = byDevice.forClient({ clientId: 'c', username: 'meter-1' })
      assert.ok(meter.canPublish(twinUpdate('meter-1')))
      assert.ok(!meter.canPublish(twinUpdate('default/meter-1')))
      const ns = byDevice.forClient({ clientId: 'c', username: 'default' })
      assert.ok(!ns.canPublish(twinUpdate('default/meter-2')))
      assert.ok(!ns.canReceive('$hw/events/device/default/meter-2/twin/update/result'))
    })

    it('%d: the rest of the rule is matched against the topic suffix', () => {
      const narrow = createAcl([{ topic: '$hw/events/device/%d/twin/update', access: 'write' }]).forClient({ clientId: 'c', username: 'default/meter-1' })
      assert.ok(narrow.canPublish(twinUpdate('default/meter-1')))
      assert.ok(!narrow.canPublish('$hw/events/device/default/meter-1/twin/get'))
      assert.ok(!narrow.canReceive(twinUpdate('default/meter-1')), 'write only')
    })

    it('%d: a username that is not a device id grants nothing; a deny rule with it denies everything', () => {
      for (const username of ['#', '+', 'a/#', 'a/b/c', 'a//b', '/a', undefined]) {
        const evil = byDevice.forClient({ clientId: 'e', username })
        assert.ok(!evil.canPublish(twinUpdate('a/b')), String(username))
        assert.ok(!evil.canSubscribe('$hw/events/device/#'), String(username))
      }
      const guarded = createAcl([
        { topic: '#', access: 'readwrite' },
        { topic: '$hw/events/device/%d/twin/cloud_updated', access: 'deny' },
      ])
      assert.ok(guarded.forClient({ clientId: 'c', username: 'default/meter-1' }).canPublish('other/topic'))
      assert.ok(!guarded.forClient({ clientId: 'c', username: 'default/meter-1' }).canPublish('$hw/events/device/default/meter-1/twin/cloud_updated'))
      assert.ok(!guarded.forClient({ clientId: 'c', username: 'a/b/c' }).canPublish('other/topic'))
    })

    it('config: `%d` anywhere but the device level of a device topic is refused with CONFIG_INVALID', () => {
      const config = (topic: string): unknown => ({ mqtt: { acl: [{ topic, access: 'read' }] } })
      assert.doesNotThrow(() => parseEdgeConfig(config('$hw/events/device/%d/#'), 't'))
      assert.doesNotThrow(() => parseEdgeConfig(config('$hw/events/device/%u/twin/+'), 't'))
      for (const topic of ['apps/%d/#', '$hw/events/device/%d', '$hw/events/device/x/%d/#', '$hw/events/device/%d/%d']) {
        assert.throws(() => parseEdgeConfig(config(topic), 't'), (err: TernError) => err.code === 'CONFIG_INVALID', topic)
      }
    })
  })

  it('anything not granted is denied once rules exist', () => {
    const anon = acl.forClient({ clientId: 'c', username: undefined })
    assert.ok(!anon.canPublish('random/topic'))
    assert.ok(!anon.canSubscribe('#'))
  })
})
