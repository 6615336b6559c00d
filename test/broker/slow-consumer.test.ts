/**
 * A subscriber that stops reading costs only itself. A raw connection subscribes
 * at QoS 1 and never reads again, so the kernel's buffers and then the broker's fill up; another
 * client's QoS 1 messages, round trips and a twin request through a real `tern edge` must go on,
 * and the stalled client's queue must stay within maxQueuedMessages, in order, with every drop
 * counted. Bounds are generous (a loaded machine); the figure itself is measured in bench/broker.ts.
 */
import { strict as assert } from 'node:assert'
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MqttClient } from 'mqtt'
import { startEdgeBroker, until, within } from '../support/edge-broker.js'
import { clientPool, type Inbox } from '../support/mqtt.js'
import { scratchDir } from '../support/resources.js'
import { stalledSubscriber } from '../support/stalled-subscriber.js'
import { startTernEdge } from '../support/tern.js'

/** 64 KiB messages: 600 of them (37.5 MiB) are far more than loopback's kernel buffers hold. */
const PAYLOAD = 64 * 1024
const LOAD = 600
/** A round trip on an idle loopback broker takes ~1 ms; a stalled shared path took 30 s. */
const ROUND_TRIP_BOUND_MS = 3000

const numbered = (i: number): Buffer => {
  const payload = Buffer.alloc(PAYLOAD, 0x61)
  payload.writeUInt32BE(i, 0)
  return payload
}


/** Publishes LOAD numbered QoS 1 messages; resolves when the broker acknowledged all, or fails after `ms`. */
async function publishLoad(client: MqttClient, topic: string, ms: number): Promise<void> {
  const all = Promise.all(Array.from({ length: LOAD }, (_, i) => client.publishAsync(topic, numbered(i), { qos: 1 })))
  const timeout = sleep(ms).then(() => assert.fail(`the broker did not acknowledge ${LOAD} QoS 1 messages of another client within ${ms} ms`))
  await Promise.race([all, timeout])
}

/** `count` QoS 1 round trips through the broker (publish, receive own message); each must stay under the bound. */
async function roundTrips(client: MqttClient, inbox: Inbox, topic: string, count: number): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    await client.publishAsync(topic, `rt-${i}`, { qos: 1 })
    await inbox.waitFor((m) => m.topic === topic && m.payload === `rt-${i}`, `round trip ${i}`, ROUND_TRIP_BOUND_MS)
    times.push(performance.now() - started)
  }
  return times
}


describe('broker: a subscriber that stops reading costs only itself', function () {
  this.timeout(90_000)
  const pool = clientPool()

  it('other clients go on; QoS 0 is dropped, QoS 1 queued up to maxQueuedMessages, counted, and the rest arrives in order', async () => {
    const { broker, port, url } = await startEdgeBroker(pool, { maxQueuedMessages: 100 })
    const stalled = await stalledSubscriber(pool, port, 'stalled', 'load/#', 1)
    const { client: publisher } = await pool.connect(url)
    const { client: probe, inbox } = await pool.connect(url)
    await probe.subscribeAsync('probe/#', { qos: 1 })

    await publishLoad(publisher, 'load/a', 20_000)
    const times = await roundTrips(probe, inbox, 'probe/x', 20)
    assert.ok(Math.max(...times) < ROUND_TRIP_BOUND_MS)

    const limits = broker.limits
    assert.ok(limits.queueFullDropped > 0, 'the stalled client got more than its queue holds')
    assert.equal(limits.qos0Dropped, 0)
    await Promise.all(Array.from({ length: 50 }, (_, i) => publisher.publishAsync('load/b', `q0-${i}`, { qos: 0 })))
    await until('the QoS 0 messages to be dropped', () => broker.limits.qos0Dropped === 50)

    // Reading again, the client gets everything that was not dropped, in the order published.
    const received = stalled.resume()
    const expected = LOAD - limits.queueFullDropped
    await until(`${expected} messages`, () => received.length >= expected)
    await sleep(200)
    const numbers = received.map((p) => Buffer.from(p.payload).readUInt32BE(0))
    assert.equal(received.length, expected, 'no dropped message arrives, no kept one is lost')
    assert.ok(received.every((p) => p.topic === 'load/a'), 'QoS 0 messages for a backed-up client are dropped')
    assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), 'in the order published')
    assert.equal(numbers[0], 0)
    assert.equal(broker.limits.stalledDisconnects, 0)

    // Reading again ends the episode: new messages are delivered as usual.
    await publisher.publishAsync('load/c', 'after', { qos: 1 })
    await until('a message after the backlog', () => received.some((p) => p.topic === 'load/c'))
  })

  it('a client that takes nothing for mqtt.stallTimeoutMs is disconnected, and counted', async () => {
    const stallTimeoutMs = 1000
    const { broker, port, url } = await startEdgeBroker(pool, { stallTimeoutMs })
    const stalled = await stalledSubscriber(pool, port, 'stalled', 'load/#', 1)
    const { client: publisher } = await pool.connect(url)
    const started = performance.now()
    await publishLoad(publisher, 'load/a', 20_000)
    // at the configured value, long before the 30 s default would close it
    await until('the stalled client to be disconnected', () => broker.limits.stalledDisconnects === 1, 20_000)
    const elapsed = performance.now() - started
    assert.ok(elapsed >= stallTimeoutMs - 50, `disconnected after ${Math.round(elapsed)} ms, before the stall timeout`)
    // The client sees the end once it reads what its kernel had already received.
    stalled.resume()
    await within(stalled.closed, 15_000, 'the connection is closed')
    assert.equal(broker.limits.stalledDisconnects, 1)
  })
})

describe('tern edge: a stalled subscriber does not hold up the twin', function () {
  this.timeout(90_000)
  const pool = clientPool()

  it('twin/get is answered and other clients round-trip while a QoS 1 subscriber to # reads nothing', async () => {
    const dir = await scratchDir()
    pool.defer(() => dir.remove())
    await cp(join(import.meta.dirname, '../fixtures/devices'), join(dir.path, 'devices'), { recursive: true })
    const node = await startTernEdge(dir.path, { node: { name: 'edge-1' }, twin: { manifestsDir: join(dir.path, 'devices') }, mqtt: { listeners: [{ port: 0 }], maxQueuedMessages: 100 } })
    pool.defer(() => node.stop())
    const port = node.listeners[0]?.port ?? 0
    const url = `mqtt://127.0.0.1:${port}`
    await stalledSubscriber(pool, port, 'stalled', '#', 1)
    const { client: publisher } = await pool.connect(url)
    const { client: app, inbox } = await pool.connect(url)
    const device = '$hw/events/device/fan-1'
    await app.subscribeAsync(`${device}/twin/get/result`, { qos: 1 })

    await publishLoad(publisher, 'load/a', 20_000)
    for (let i = 0; i < 5; i++) {
      await app.publishAsync(`${device}/twin/get`, JSON.stringify({ event_id: `get-${i}` }), { qos: 1 })
      const answer = await inbox.waitFor((m) => m.payload.includes(`"get-${i}"`), `twin/get/result ${i}`, ROUND_TRIP_BOUND_MS)
      assert.equal(answer.topic, `${device}/twin/get/result`)
    }
    assert.match(node.output(), /"code":"MQTT_CLIENT_BACKED_UP"/)
  })
})
