/**
 * The DeviceTwin inside a real `tern edge` process: devices follow the manifest directory while it
 * runs, bad payloads never stop a device, and a kill -9 in the middle of a QoS 1 update stream
 * loses no update whose result was published.
 */
import { strict as assert } from 'node:assert'
import { cp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { counterManifests, counterNames } from '../support/manifests.js'
import { clientPool } from '../support/mqtt.js'
import { scratchDir } from '../support/resources.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

const FIXTURES = join(import.meta.dirname, '../fixtures/devices')

describe('twin: inside tern edge', function () {
  this.timeout(60_000)
  let dir: string
  const undo: Array<() => Promise<void>> = []
  beforeEach(async () => {
    const scratch = await scratchDir()
    dir = scratch.path
    undo.push(() => scratch.remove())
  })
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  async function start(devicesDir: string): Promise<TernEdgeProcess> {
    const node = await startTernEdge(dir, { node: { name: 'edge-1' }, twin: { manifestsDir: devicesDir }, mqtt: { listeners: [{ port: 0 }] } })
    undo.push(() => node.stop())
    return node
  }

  it('§1.5.8 adds, updates and removes devices as the manifest directory changes', async () => {
    const devices = join(dir, 'devices')
    await cp(FIXTURES, devices, { recursive: true })
    const node = await start(devices)
    const url = `mqtt://127.0.0.1:${node.listeners[0]?.port}`
    const { client, inbox } = await pool.connect(url)
    await client.subscribeAsync(['$hw/events/node/edge-1/membership/updated', '$hw/events/device/fan-2/twin/update/delta'], { qos: 1 })

    const fan2 = (desired: string): string =>
      `apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: fan-2 }\nspec:\n  deviceModelRef: { name: fan-model }\n  properties: [ { name: speed, desired: { value: "${desired}" } } ]\n`
    await writeFile(join(devices, 'fan-2.yaml'), fan2('800'))
    const added = await inbox.waitFor((m) => m.topic.endsWith('membership/updated'), 'membership/updated for fan-2')
    const addedBody = JSON.parse(added.payload) as { added_devices: Array<{ id: string; twin: Record<string, { expected: { value: string } }> }>; removed_devices: null }
    assert.equal(addedBody.removed_devices, null)
    assert.equal(addedBody.added_devices[0]?.id, 'default/fan-2')
    assert.equal(addedBody.added_devices[0]?.twin.speed?.expected.value, '800')
    const firstDelta = await inbox.waitFor((m) => m.topic.endsWith('fan-2/twin/update/delta'), 'delta of fan-2')
    assert.deepEqual((JSON.parse(firstDelta.payload) as { delta: unknown }).delta, { speed: '800' })

    // A half-written file never removes a device: the last good version stays.
    await writeFile(join(devices, 'fan-2.yaml'), 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: [')
    await new Promise((resolve) => setTimeout(resolve, 600))
    assert.equal(inbox.messages.filter((m) => m.topic.endsWith('membership/updated')).length, 1)
    assert.match(node.output(), /MANIFEST_INVALID/)

    await writeFile(join(devices, 'fan-2.yaml'), fan2('950'))
    const updatedDelta = await inbox.waitFor((m) => m.topic.endsWith('fan-2/twin/update/delta') && m.payload.includes('"950"'), 'delta after the desired value changed')
    assert.deepEqual((JSON.parse(updatedDelta.payload) as { delta: unknown }).delta, { speed: '950' })

    await rm(join(devices, 'fan-2.yaml'))
    const removed = await inbox.waitFor((m) => m.topic.endsWith('membership/updated') && m.payload.includes('removed_devices":[{'), 'removal of fan-2')
    const removedBody = JSON.parse(removed.payload) as { added_devices: null; removed_devices: Array<{ id: string }> }
    assert.equal(removedBody.added_devices, null)
    assert.deepEqual(removedBody.removed_devices.map((d) => d.id), ['default/fan-2'])
  })

  it('§1.5.2 documents reach connected subscribers and are queued for an offline persistent session, whatever subscribes when', async () => {
    const devices = join(dir, 'devices')
    await cp(FIXTURES, devices, { recursive: true })
    const node = await start(devices)
    const url = `mqtt://127.0.0.1:${node.listeners[0]?.port}`
    const document = '$hw/events/device/fan-1/twin/update/document'
    const update = (id: string): string => `{"event_id":"${id}","twin":{"mode":{"actual":{"value":"${id}"}}}}`
    const app = await pool.connect(url)
    const results = await pool.connect(url)
    await results.client.subscribeAsync('$hw/events/device/fan-1/twin/update/result', { qos: 1 })
    const updated = (id: string) => results.inbox.waitFor((m) => m.payload.includes(`"event_id":"${id}"`), `result of ${id}`)

    // Nobody subscribes to documents: the update is still answered.
    await app.client.publishAsync('$hw/events/device/fan-1/twin/update', update('unobserved'), { qos: 1 })
    await updated('unobserved')

    // A persistent session subscribes, goes offline, and gets the document queued meanwhile.
    const offline = await pool.connect(url, { clientId: 'doc-reader', clean: false })
    await offline.client.subscribeAsync(document, { qos: 1 })
    await offline.client.endAsync()
    await app.client.publishAsync('$hw/events/device/fan-1/twin/update', update('while-offline'), { qos: 1 })
    await updated('while-offline')
    const back = await pool.connect(url, { clientId: 'doc-reader', clean: false })
    const queued = await back.inbox.waitFor((m) => m.topic === document && m.payload.includes('"while-offline"'), 'the queued document')
    assert.equal((JSON.parse(queued.payload) as { twin: { mode: { current: { actual: { value: string } } } } }).twin.mode.current.actual.value, 'while-offline')

    // A connected subscriber gets the next one; the document of the unobserved update was never queued.
    await app.client.publishAsync('$hw/events/device/fan-1/twin/update', update('connected'), { qos: 1 })
    await back.inbox.waitFor((m) => m.topic === document && m.payload.includes('"connected"'), 'the live document')
    assert.deepEqual(
      back.inbox.messages.filter((m) => m.topic === document).map((m) => (JSON.parse(m.payload) as { event_id: string }).event_id),
      ['while-offline', 'connected'],
    )
  })

  it('DESIGN §9 random and malformed payloads on every inbound topic get an answer and never stop the device', async () => {
    const devices = join(dir, 'devices')
    await cp(FIXTURES, devices, { recursive: true })
    const node = await start(devices)
    const { client, inbox } = await pool.connect(`mqtt://127.0.0.1:${node.listeners[0]?.port}`)
    await client.subscribeAsync('$hw/events/device/fan-1/#', { qos: 1 })
    const payloads = fc.sample(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc.anything().map((v) => JSON.stringify(v) ?? 'undefined'),
        fc.record({ event_id: fc.anything(), twin: fc.dictionary(fc.string(), fc.anything()) }).map((v) => JSON.stringify(v)),
        fc.record({ twin: fc.dictionary(fc.constantFrom('speed', 'mode', 'temperature'), fc.record({ expected: fc.anything(), actual: fc.anything(), metadata: fc.anything() }, { requiredKeys: [] })) }).map((v) => JSON.stringify(v)),
      ),
      { numRuns: 150, seed: 42 },
    )
    const requests = ['twin/update', 'twin/get', 'state/update'] as const
    let expectedAnswers = 0
    for (const [i, payload] of payloads.entries()) {
      const suffix = requests[i % requests.length] ?? 'twin/update'
      await client.publishAsync(`$hw/events/device/fan-1/${suffix}`, payload, { qos: 1 })
      expectedAnswers++
    }
    const answers = () => inbox.messages.filter((m) => /\/(twin\/update|twin\/get|state\/update)\/result$/.test(m.topic))
    await inbox.waitFor(() => answers().length >= expectedAnswers, `${expectedAnswers} answers`, 20_000)
    for (const answer of answers()) assert.doesNotThrow(() => JSON.parse(answer.payload), answer.payload)
    // The device still works afterwards.
    await client.publishAsync('$hw/events/device/fan-1/twin/update', '{"event_id":"after","twin":{"mode":{"actual":{"value":"still alive"}}}}', { qos: 1 })
    const after = await inbox.waitFor((m) => m.payload.includes('"event_id":"after"') && m.topic.endsWith('/result'), 'answer after the fuzzing')
    assert.equal((JSON.parse(after.payload) as { code?: number }).code, undefined)
    assert.ok(node.process.exitCode === null, 'the edge process is still running')
  })

  it('DESIGN §9 kill -9 during a QoS 1 update stream loses no update whose result was published', async () => {
    const devices = join(dir, 'devices')
    const DEVICES = 20
    await cp(FIXTURES, devices, { recursive: true })
    await writeFile(join(devices, 'counters.yaml'), counterManifests(counterNames(DEVICES)))
    let node = await start(devices)
    const url = `mqtt://127.0.0.1:${node.listeners[0]?.port}`
    const { client, inbox } = await pool.connect(url)
    await client.subscribeAsync('$hw/events/device/+/twin/update/result', { qos: 1 })

    // Each device's counter goes 1, 2, 3, ...; the highest acknowledged value must survive.
    const acknowledged = new Map<string, number>()
    client.on('message', (topic, payload) => {
      const device = topic.split('/')[3] ?? ''
      const body = JSON.parse(payload.toString()) as { event_id: string; code?: number }
      if (body.code === undefined) acknowledged.set(device, Math.max(acknowledged.get(device) ?? 0, Number(body.event_id)))
    })
    let killed = false
    const stream = (async () => {
      for (let seq = 1; !killed; seq++) {
        const sends = Array.from({ length: DEVICES }, (_, i) =>
          client.publishAsync(`$hw/events/device/c-${i}/twin/update`, JSON.stringify({ event_id: String(seq), timestamp: 0, twin: { counter: { actual: { value: String(seq) } } } }), { qos: 1 }).catch(() => undefined),
        )
        await Promise.all(sends)
      }
    })()
    await inbox.waitFor(() => inbox.messages.length >= 2000, '2000 results before the kill', 30_000)
    await node.kill9()
    killed = true
    // Publishes in flight at the kill never complete on a dead connection: drop them with the client.
    await client.endAsync(true)
    void stream
    assert.equal(acknowledged.size, DEVICES)

    node = await start(devices)
    const reader = await pool.connect(`mqtt://127.0.0.1:${node.listeners[0]?.port}`)
    await reader.client.subscribeAsync('$hw/events/device/+/twin/get/result', { qos: 1 })
    for (let i = 0; i < DEVICES; i++) await reader.client.publishAsync(`$hw/events/device/c-${i}/twin/get`, '{}', { qos: 1 })
    const results = await reader.inbox.waitForCount(DEVICES, 10_000)
    for (const result of results) {
      const device = result.topic.split('/')[3] ?? ''
      const stored = Number((JSON.parse(result.payload) as { twin: { counter: { actual: { value: string } } } }).twin.counter.actual.value)
      const acked = acknowledged.get(device) ?? 0
      assert.ok(stored >= acked, `${device}: stored ${stored}, but ${acked} was acknowledged`)
    }
  })
})
