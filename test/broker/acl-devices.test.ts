/**
 * Per-device ACL rules against the built `tern edge` with real devices and real clients, in both
 * topic layouts: a user named like a namespace must not reach that namespace's devices through
 * `$hw/events/device/%u/#`, and `%d` gives a `<namespace>/<name>` credential its own device only.
 */
import { strict as assert } from 'node:assert'
import { hashPassword } from '../../broker/passwords.js'
import { counterManifests, scratchWithDevices } from '../support/manifests.js'
import { clientPool, subackCodes } from '../support/mqtt.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

describe('broker: per-device ACL rules in both topic layouts (tern edge)', function () {
  this.timeout(60_000)
  const undo: Array<() => Promise<void>> = []
  let node: TernEdgeProcess
  let url: string
  before(async () => {
    // namespace `default`: a user named `default` is named like it
    const { dir, devices } = await scratchWithDevices(counterManifests(['default', 'meter-1', 'meter-2']), undo)
    const users = ['default', 'default/meter-1', 'observer'].map((username) => ({ username, passwordHash: hashPassword('pw', 1000) }))
    node = await startTernEdge(dir, {
      node: { name: 'edge-1' },
      twin: { manifestsDir: devices },
      mqtt: {
        listeners: [{ port: 0, allowAnonymous: false }],
        users,
        acl: [
          { topic: '$hw/events/device/%u/#', access: 'readwrite' },
          { topic: '$hw/events/device/%d/#', access: 'readwrite' },
          { topic: '$hw/#', access: 'read', users: ['observer'] },
        ],
      },
    })
    undo.push(() => node.stop())
    url = `mqtt://127.0.0.1:${node.listeners[0]?.port}`
  })
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  const update = (event: string, value: string): string => JSON.stringify({ event_id: event, twin: { counter: { actual: { value } } } })

  it('a user named `default` reaches the device `default`, and nothing of the devices in namespace `default`', async () => {
    const observer = await pool.connect(url, { username: 'observer', password: 'pw' })
    await observer.client.subscribeAsync('$hw/events/device/#', { qos: 1 })
    const user = await pool.connect(url, { username: 'default', password: 'pw' })
    // Its own device, flat layout: answered.
    await user.client.subscribeAsync('$hw/events/device/default/twin/update/result', { qos: 1 })
    await user.client.publishAsync('$hw/events/device/default/twin/update', update('own', '1'), { qos: 1 })
    await user.inbox.waitFor((m) => m.payload.includes('"own"'), 'the result for its own device')

    // Another device of namespace `default`: the subscription is refused and the publish dropped.
    assert.deepEqual(await subackCodes(user.client, { '$hw/events/device/default/meter-2/twin/update/result': { qos: 1 } }), [0x80])
    await user.client.publishAsync('$hw/events/device/default/meter-2/twin/update', update('stolen', '666'), { qos: 1 })
    // A granted wildcard subscription inside its id delivers nothing of meter-2 either.
    await user.client.subscribeAsync('$hw/events/device/default/#', { qos: 1 })
    const probe = await pool.connect(url, { username: 'default/meter-1', password: 'pw' })
    await probe.client.publishAsync('$hw/events/device/default/meter-1/twin/update', update('marker', '5'), { qos: 1 })
    await observer.inbox.waitFor((m) => m.payload.includes('"marker"') && m.topic.endsWith('/result'), 'the marker result, published after the refused update')
    assert.ok(!observer.inbox.messages.some((m) => m.payload.includes('"stolen"') || m.payload.includes('666')), 'the refused update reached no one and changed nothing')
    assert.ok(!user.inbox.messages.some((m) => m.topic.includes('/meter-')), `delivered to default: ${JSON.stringify(user.inbox.topics())}`)
    assert.match(node.output(), /"code":"MQTT_NOT_AUTHORIZED".*"topic":"\$hw\/events\/device\/default\/meter-2\/twin\/update"/)
  })

  it('%d: the user `default/meter-1` updates its own device in the namespaced layout, and no other', async () => {
    const meter = await pool.connect(url, { username: 'default/meter-1', password: 'pw' })
    await meter.client.subscribeAsync('$hw/events/device/default/meter-1/twin/update/result', { qos: 1 })
    await meter.client.publishAsync('$hw/events/device/default/meter-1/twin/update', update('mine', '7'), { qos: 1 })
    const result = await meter.inbox.waitFor((m) => m.payload.includes('"mine"'), 'its own result')
    assert.equal((JSON.parse(result.payload) as { code?: number }).code, undefined)
    assert.deepEqual(
      await subackCodes(meter.client, { '$hw/events/device/default/meter-2/twin/update/result': { qos: 1 }, '$hw/events/device/meter-1/twin/update/result': { qos: 1 } }),
      [0x80, 0x80],
    )
  })
})
