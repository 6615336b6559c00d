import { strict as assert } from 'node:assert'
import { createAcl } from '../../broker/acl.js'
import { parseEdgeConfig } from '../../cli/config.js'
import type { AclRule } from '../../schemas/config.js'
import type { TernError } from '../../schemas/tern-error.js'

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

  describe('a placeholder at the device level, in both topic layouts (DESIGN §4: `<name>` and `<namespace>/<name>`)', () => {
    const twin = (id: string, suffix = 'twin/update'): string => `$hw/events/device/${id}/${suffix}`

    it('%u: a user named like a namespace reaches its own `<name>` device, never the twin topics of that namespace', () => {
      const user = acl.forClient({ clientId: 'c', username: 'default' })
      assert.ok(user.canPublish(twin('default')))
      assert.ok(user.canReceive(twin('default', 'twin/update/delta')))
      assert.ok(user.canSubscribe(twin('default', 'twin/update/delta')))
      for (const suffix of ['twin/update', 'twin/get', 'state/update', 'twin/update/delta', 'twin/update/result', 'twin/get/result', 'updated']) {
        const topic = twin('default/meter-2', suffix)
        assert.ok(!user.canPublish(topic), topic)
        assert.ok(!user.canReceive(topic), topic)
        assert.ok(!user.canSubscribe(topic), topic)
      }
      // A wildcard inside its own text grant is granted; each delivery is checked and stops at its device.
      assert.ok(user.canSubscribe('$hw/events/device/default/#'))
      assert.ok(user.canSubscribe('$hw/events/device/default/+/twin/update/delta'))
    })

    it('%u: everything else under the prefix means what it means to Mosquitto (text match)', () => {
      const user = acl.forClient({ clientId: 'c', username: 'dev1' })
      for (const topic of ['$hw/events/device/dev1/marker-7', '$hw/events/device/dev1/data/probe-3', '$hw/events/device/dev1/a/b/c', twin('dev1', 'twin/update/document')]) {
        assert.ok(user.canPublish(topic), topic)
        assert.ok(user.canReceive(topic), topic)
        assert.ok(user.canSubscribe(topic), topic)
      }
      assert.ok(!user.canPublish('$hw/events/device/dev2/marker-7'))
      assert.ok(!user.canPublish(twin('dev2')))
    })

    it('a deny with a device-level placeholder keeps its wider text meaning', () => {
      const guarded = createAcl([
        { topic: '#', access: 'readwrite' },
        { topic: '$hw/#', access: 'readwrite' },
        { topic: '$hw/events/device/%u/#', access: 'deny' },
      ]).forClient({ clientId: 'c', username: 'default' })
      assert.ok(!guarded.canPublish(twin('default')))
      assert.ok(!guarded.canPublish(twin('default/meter-2')))
      assert.ok(guarded.canPublish(twin('meter-2')))
    })

    it('%c and a placeholder inside the level (`meter-%u`) stop at their device too', () => {
      const rules = createAcl([
        { topic: '$hw/events/device/%c/#', access: 'readwrite' },
        { topic: '$hw/events/device/meter-%u/#', access: 'read' },
      ]).forClient({ clientId: 'prod', username: 'a' })
      assert.ok(rules.canPublish(twin('prod')))
      assert.ok(!rules.canPublish(twin('prod/meter-2')))
      assert.ok(rules.canReceive(twin('meter-a', 'twin/update/delta')))
      assert.ok(!rules.canReceive(twin('meter-a/x', 'twin/update/delta')))
      assert.ok(rules.canReceive('$hw/events/device/meter-a/x/custom'))
    })

    const byDevice = createAcl([{ topic: '$hw/events/device/%d/#', access: 'readwrite' }])

    it('%d: a `<namespace>/<name>` username reaches exactly that device in the namespaced layout', () => {
      const meter = byDevice.forClient({ clientId: 'c', username: 'default/meter-1' })
      assert.ok(meter.canPublish(twin('default/meter-1')))
      assert.ok(meter.canPublish(twin('default/meter-1', 'state/update')))
      assert.ok(meter.canSubscribe(twin('default/meter-1', 'twin/update/delta')))
      assert.ok(meter.canSubscribe('$hw/events/device/default/meter-1/#'))
      assert.ok(meter.canPublish('$hw/events/device/default/meter-1/custom/topic'))
      for (const topic of [twin('default/meter-2'), twin('other/meter-1'), twin('meter-1'), twin('default')]) {
        assert.ok(!meter.canPublish(topic), topic)
      }
      assert.ok(!meter.canSubscribe('$hw/events/device/default/+/twin/update/delta'))
      assert.ok(!meter.canSubscribe('$hw/events/device/default/meter-2/#'))
    })

    it('%d: a `<name>` username is a flat-layout device; named like a namespace it reaches no device of it', () => {
      const meter = byDevice.forClient({ clientId: 'c', username: 'meter-1' })
      assert.ok(meter.canPublish(twin('meter-1')))
      assert.ok(!meter.canPublish(twin('default/meter-1')))
      const ns = byDevice.forClient({ clientId: 'c', username: 'default' })
      assert.ok(ns.canPublish(twin('default')))
      assert.ok(!ns.canPublish(twin('default/meter-2')))
      assert.ok(!ns.canReceive(twin('default/meter-2', 'twin/update/result')))
    })

    it('%d: a username that is not a device id grants nothing; a deny rule with it denies everything', () => {
      for (const username of ['#', '+', 'a/#', 'a/b/c', 'a//b', '/a', '', undefined]) {
        const evil = byDevice.forClient({ clientId: 'e', username })
        assert.ok(!evil.canPublish(twin('a/b')), String(username))
        assert.ok(!evil.canSubscribe('$hw/events/device/#'), String(username))
      }
      const guarded = createAcl([
        { topic: 'other/#', access: 'readwrite' },
        { topic: '$hw/events/device/%d/twin/cloud_updated', access: 'deny' },
      ])
      assert.ok(guarded.forClient({ clientId: 'c', username: 'default/meter-1' }).canPublish('other/topic'))
      assert.ok(!guarded.forClient({ clientId: 'c', username: 'a/b/c' }).canPublish('other/topic'))
    })

    it('config: `%d` anywhere but the whole device level of a device topic is refused with CONFIG_INVALID', () => {
      const config = (topic: string): unknown => ({ mqtt: { acl: [{ topic, access: 'read' }] } })
      for (const topic of ['$hw/events/device/%d/#', '$hw/events/device/%d/twin/+', '$hw/events/device/%u/#', 'apps/%u/%c']) {
        assert.doesNotThrow(() => parseEdgeConfig(config(topic), 't'), topic)
      }
      for (const topic of ['apps/%d/#', '$hw/events/device/%d', '$hw/events/device/x/%d/#', '$hw/events/device/%d/%d', '$hw/events/device/x%d/#']) {
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
