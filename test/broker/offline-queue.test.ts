/**
 * What a persistent session keeps while its client is offline, against tern's embedded broker
 * (the built `tern edge` process) and a real Mosquitto 2.0 with the same limits
 * (`max_queued_messages`, `max_queued_bytes`): the oldest messages up to the limit, delivered in
 * order on reconnect; the rest dropped. In process: the drops are counted and logged once.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Level } from 'level'
import type { MqttClient } from 'mqtt'
import { pino } from 'pino'
import { EdgeBroker } from '../../broker/broker.js'
import { parseEdgeConfig } from '../../cli/config.js'
import { brokerTargets, type BrokerSetup, type RunningBroker } from '../support/brokers.js'
import { clientPool, type Connected } from '../support/mqtt.js'
import { scratchDir } from '../support/resources.js'

const PUBLISHED = 5000

/** Publishes `count` QoS 1 messages `m-0`, `m-1`, ... of `size` bytes each (padded), 100 in flight at a time. */
async function publishMany(client: MqttClient, topic: string, count: number, size = 0): Promise<void> {
  for (let start = 0; start < count; start += 100) {
    const batch = Array.from({ length: Math.min(100, count - start) }, (_, i) => `m-${start + i}`.padEnd(size, '.'))
    await Promise.all(batch.map((payload) => client.publishAsync(topic, payload, { qos: 1 })))
  }
}

/** Waits until `count` messages arrived and then no more for a while; returns their payloads (padding removed). */
async function received(session: Connected, count: number): Promise<string[]> {
  await session.inbox.waitForCount(count, 60_000)
  await new Promise((resolve) => setTimeout(resolve, 1500)) // nothing beyond the limit follows
  return session.inbox.messages.map((m) => m.payload.replace(/\.+$/, ''))
}

const firstOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `m-${i}`)

for (const target of brokerTargets) {
  describe(`offline persistent session queue limits: ${target.name}`, function () {
    this.timeout(120_000)
    const pool = clientPool()
    const started: Array<RunningBroker<'plain'>> = []
    after(async () => {
      for (const broker of started) await broker.stop()
    })
    const start = async (limits: Pick<BrokerSetup<'plain'>, 'maxQueuedMessages' | 'maxQueuedBytes'>): Promise<RunningBroker<'plain'>> => {
      const broker = await target.start({ allowAnonymous: true, listeners: { plain: { protocol: 'mqtt' } }, ...limits })
      started.push(broker)
      return broker
    }

    /** A session subscribed to `topic`, offline while `publish` runs, then back: what it gets. */
    async function offlineWhile(broker: RunningBroker<'plain'>, topic: string, publish: (client: MqttClient) => Promise<void>, expected: number): Promise<string[]> {
      const url = broker.url('plain')
      const first = await pool.connect(url, { clientId: `away-${topic}`, clean: false })
      await first.client.subscribeAsync(topic, { qos: 1 })
      await first.client.endAsync()
      await new Promise((resolve) => setTimeout(resolve, 300)) // the broker has seen it go
      const publisher = await pool.connect(url)
      await publish(publisher.client)
      await new Promise((resolve) => setTimeout(resolve, 500)) // Mosquitto saves from its main loop
      const back = await pool.connect(url, { clientId: `away-${topic}`, clean: false })
      assert.equal(back.connack.sessionPresent, true)
      return received(back, expected)
    }

    it(`maxQueuedMessages 1000 (the default): of ${PUBLISHED} QoS 1 messages the first 1000 are delivered, in order`, async () => {
      const broker = await start({ maxQueuedMessages: 1000 })
      const got = await offlineWhile(broker, 'limit/messages', (c) => publishMany(c, 'limit/messages', PUBLISHED), 1000)
      assert.deepEqual(got, firstOf(1000), broker.log().slice(-2000))
      if (target.name === 'tern') {
        const warnings = broker.log().split('\n').filter((l) => l.includes('"code":"MQTT_OFFLINE_QUEUE_FULL"'))
        assert.equal(warnings.length, 1, 'logged once for the episode')
        assert.match(warnings[0] ?? '', /"clientId":"away-limit\/messages"/)
      }
    })

    it('maxQueuedBytes: a session keeps messages while their payloads fit', async () => {
      // 100-byte payloads, 10,000 bytes: 100 messages
      const broker = await start({ maxQueuedMessages: 0, maxQueuedBytes: 10_000 })
      const got = await offlineWhile(broker, 'limit/bytes', (c) => publishMany(c, 'limit/bytes', 500, 100), 100)
      assert.deepEqual(got, firstOf(100))
    })

    it('maxQueuedBytes: QoS 2 messages delivered while the client was online are not held against it later', async () => {
      const broker = await start({ maxQueuedMessages: 0, maxQueuedBytes: 1000 })
      const url = broker.url('plain')
      const online = await pool.connect(url, { clientId: 'qos2', clean: false })
      await online.client.subscribeAsync('limit/qos2', { qos: 2 })
      const publisher = await pool.connect(url)
      const send = (from: number, count: number): Promise<unknown> =>
        Promise.all(Array.from({ length: count }, (_, i) => publisher.client.publishAsync('limit/qos2', `m-${from + i}`.padEnd(100, '.'), { qos: 2 })))
      // 500 bytes, delivered and completed: well under the limit, so the online per-client queue drops
      // none even when all of them wait in it at once (topic and header bytes count there too)
      await send(0, 5)
      await online.inbox.waitForCount(5, 30_000)
      await new Promise((resolve) => setTimeout(resolve, 500)) // the PUBRECs and PUBCOMPs are processed
      await online.client.endAsync()
      await new Promise((resolve) => setTimeout(resolve, 500)) // the broker has seen it go: messages are queued from here
      await send(5, 20)
      await new Promise((resolve) => setTimeout(resolve, 500))
      const back = await pool.connect(url, { clientId: 'qos2', clean: false })
      // were the 500 delivered bytes still held, only five more messages would fit
      assert.deepEqual(await received(back, 10), firstOf(15).slice(5), '1000 bytes of 100-byte messages')
    })

    it('after the queue was delivered, the session queues again up to its limit', async () => {
      const broker = await start({ maxQueuedMessages: 10 })
      assert.deepEqual(await offlineWhile(broker, 'limit/again', (c) => publishMany(c, 'limit/again', 30), 10), firstOf(10))
      await new Promise((resolve) => setTimeout(resolve, 500)) // the acknowledgements are processed
      const again = await offlineWhile(broker, 'limit/again', (c) => publishMany(c, 'limit/again', 30), 10)
      assert.deepEqual(again, firstOf(10))
    })
  })
}

describe('offline persistent session queue limits: counted on the broker', function () {
  this.timeout(60_000)
  const pool = clientPool()
  it('sessionStats counts the messages dropped for an offline session', async () => {
    const dir = await scratchDir()
    pool.defer(() => dir.remove())
    const db = new Level<string, unknown>(join(dir.path, 'db'), { valueEncoding: 'json' })
    await db.open()
    pool.defer(() => db.close())
    const config = parseEdgeConfig({ node: { name: 'edge-1' }, dataDir: dir.path, mqtt: { listeners: [{ port: 0 }], maxQueuedMessages: 50 } }, 'test')
    const broker = new EdgeBroker({ config: config.mqtt, db, log: pino({ level: 'silent' }) })
    await broker.start()
    pool.defer(() => broker.stop())
    const url = `mqtt://127.0.0.1:${broker.listeners[0]?.port}`
    const first = await pool.connect(url, { clientId: 'counted', clean: false })
    await first.client.subscribeAsync('counted/#', { qos: 1 })
    await first.client.endAsync()
    await new Promise((resolve) => setTimeout(resolve, 300)) // the broker has seen it go
    const publisher = await pool.connect(url)
    await publishMany(publisher.client, 'counted/x', 200, 10)
    assert.deepEqual(broker.sessionStats, { droppedOverLimit: 150, droppedOverLimitBytes: 1500, droppedStoreUnavailable: 0 })
    const back = await pool.connect(url, { clientId: 'counted', clean: false })
    assert.deepEqual(await received(back, 50), firstOf(50))
  })
})
