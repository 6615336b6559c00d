/**
 * Per-device ACL rules against the built `tern edge`, its twin serving real devices, and real
 * clients, with the node in each topic layout (DESIGN §4). A user named like a namespace
 * (`default`) must not reach that namespace's devices through `$hw/events/device/%u/#` (the text
 * match covers `$hw/events/device/default/meter-2/…`), and a device credential still reaches its
 * own device: `%u` with a `<name>`, `%d` with a `<namespace>/<name>`.
 */
import { strict as assert } from 'node:assert'
import { hashPassword } from '../../broker/passwords.js'
import { counterManifests, scratchWithDevices } from '../support/manifests.js'
import { clientPool, subackCodes, type Connected } from '../support/mqtt.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

const WAIT_MS = 15_000 // a loaded machine; the assertions are about what arrives, not when
const update = (event: string, side: 'actual' | 'expected', value: string): string => JSON.stringify({ event_id: event, twin: { counter: { [side]: { value } } } })

for (const layout of ['name', 'namespace/name'] as const) {
  describe(`broker: per-device ACL rules, node topic layout ${layout} (tern edge)`, function () {
    this.timeout(60_000)
    const undo: Array<() => Promise<void>> = []
    let node: TernEdgeProcess
    let url: string
    before(async () => {
      // All in namespace `default`; the device `default` is named like it.
      const { dir, devices } = await scratchWithDevices(counterManifests(['default', 'meter-1', 'meter-2']), undo)
      const users = ['default', 'meter-1', 'default/meter-1', 'observer'].map((username) => ({ username, passwordHash: hashPassword('pw', 1000) }))
      node = await startTernEdge(dir, {
        node: { name: 'edge-1' },
        twin: { manifestsDir: devices, topicLayout: layout },
        mqtt: {
          listeners: [{ port: 0, allowAnonymous: false }],
          users,
          acl: [
            { topic: '$hw/events/device/%u/#', access: 'readwrite' },
            { topic: '$hw/events/device/%d/#', access: 'readwrite' },
            { topic: '$hw/#', access: 'readwrite', users: ['observer'] },
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
    const as = (username: string): Promise<Connected> => pool.connect(url, { username, password: 'pw' })
    /** Publishes a twin request as `who` and waits for its result on `who`'s own subscription. */
    const request = async (who: Connected, id: string, event: string, side: 'actual' | 'expected', value: string): Promise<void> => {
      await who.client.publishAsync(`$hw/events/device/${id}/twin/update`, update(event, side, value), { qos: 1 })
      await who.inbox.waitFor((m) => m.topic === `$hw/events/device/${id}/twin/update/result` && m.payload.includes(`"${event}"`), `the result of ${event}`, WAIT_MS)
    }

    it('a user named `default` keeps its own device `default` and reaches nothing of the devices of namespace `default`', async () => {
      const observer = await as('observer')
      await observer.client.subscribeAsync('$hw/events/device/#', { qos: 1 })
      const user = await as('default')
      // Granted as Mosquitto grants it (inside `default/#`); each delivery is checked.
      await user.client.subscribeAsync('$hw/events/device/default/#', { qos: 1 })
      await request(user, 'default', 'own-1', 'actual', '1')

      // Another device of namespace `default`, by name: the publish is dropped.
      await user.client.publishAsync('$hw/events/device/default/meter-2/twin/update', update('stolen', 'actual', '666'), { qos: 1 })
      // The owner side sets a desired value on meter-2: result, document and delta go out on
      // `default/meter-2/…` (the delta in the namespaced node layout), all inside `default/#`.
      await request(observer, 'default/meter-2', 'desired', 'expected', '42')
      await observer.inbox.waitFor((m) => m.topic.endsWith('/meter-2/twin/update/delta'), 'the delta of meter-2', WAIT_MS)
      // A later answer of its own fences everything the twin published before it.
      await request(user, 'default', 'own-2', 'actual', '2')

      const leaked = user.inbox.topics().filter((t) => t.includes('meter-'))
      assert.deepEqual(leaked, [], 'delivered to the user `default`')
      assert.ok(!observer.inbox.messages.some((m) => m.payload.includes('"stolen"')), 'the refused update reached no one')
      await observer.client.publishAsync('$hw/events/device/default/meter-2/twin/get', JSON.stringify({ event_id: 'get-2' }), { qos: 1 })
      const twin = await observer.inbox.waitFor((m) => m.topic.endsWith('meter-2/twin/get/result') && m.payload.includes('"get-2"'), 'the twin of meter-2', WAIT_MS)
      assert.doesNotMatch(twin.payload, /666/, 'meter-2 is unchanged')
      assert.match(node.output(), /"code":"MQTT_NOT_AUTHORIZED".*"topic":"\$hw\/events\/device\/default\/meter-2\/twin\/update"/)
      // and a subscription naming one of its twin topics is refused.
      assert.deepEqual(await subackCodes(user.client, { '$hw/events/device/default/meter-2/twin/update/delta': { qos: 1 } }), [0x80])
    })

    const own = layout === 'name' ? { username: 'meter-1', id: 'meter-1' } : { username: 'default/meter-1', id: 'default/meter-1' }
    it(`a device credential (${own.username}) gets its own delta in this layout, may use any topic under its prefix, and is refused meter-2`, async () => {
      const observer = await as('observer')
      await observer.client.subscribeAsync('$hw/events/device/#', { qos: 1 })
      const meter = await as(own.username)
      await meter.client.subscribeAsync(`$hw/events/device/${own.id}/#`, { qos: 1 })
      await request(meter, own.id, 'report', 'actual', '7')
      await request(observer, own.id, 'set', 'expected', '8')
      const delta = await meter.inbox.waitFor((m) => m.topic === `$hw/events/device/${own.id}/twin/update/delta`, 'its own delta', WAIT_MS)
      assert.match(delta.payload, /"counter":"8"/)
      // Not a twin topic: as with Mosquitto, the text of the rule decides.
      await meter.client.publishAsync(`$hw/events/device/${own.id}/data/probe`, 'mine', { qos: 1 })
      await observer.inbox.waitFor((m) => m.payload === 'mine', 'its non-twin message', WAIT_MS)

      const other = own.id.replace('meter-1', 'meter-2')
      assert.deepEqual(await subackCodes(meter.client, { [`$hw/events/device/${other}/#`]: { qos: 1 }, [`$hw/events/device/${other}/twin/update/delta`]: { qos: 1 } }), [0x80, 0x80])
      await meter.client.publishAsync(`$hw/events/device/${other}/twin/update`, update('forged', 'actual', '999'), { qos: 1 })
      await request(meter, own.id, 'fence', 'actual', '9')
      assert.ok(!observer.inbox.messages.some((m) => m.payload.includes('"forged"')), 'the forged update reached no one')
    })
  })
}
