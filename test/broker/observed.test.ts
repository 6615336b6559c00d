/**
 * Bus.observed on the embedded broker: whether anyone can receive a message on a topic, answered
 * from memos that every kind of subscription change must reset — a connected client's SUBSCRIBE,
 * UNSUBSCRIBE and disconnect, a persistent session's stored subscriptions, a session cleaned by a
 * clean reconnect — and in-process parts subscribing through the bus.
 */
import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { Level } from 'level'
import { pino } from 'pino'
import { EdgeBroker } from '../../broker/broker.js'
import { aedesBus, type Bus } from '../../broker/bus.js'
import { parseEdgeConfig } from '../../cli/config.js'
import { clientPool } from '../support/mqtt.js'
import { scratchDir } from '../support/resources.js'

describe('broker: Bus.observed follows every subscription change', function () {
  this.timeout(20_000)
  const pool = clientPool()

  async function start(): Promise<{ bus: Bus; url: string }> {
    const dir = await scratchDir()
    pool.defer(() => dir.remove())
    const db = new Level<string, unknown>(join(dir.path, 'db'), { valueEncoding: 'json' })
    await db.open()
    pool.defer(() => db.close())
    const config = parseEdgeConfig({ node: { name: 'edge-1' }, dataDir: dir.path, mqtt: { listeners: [{ port: 0 }] } }, 'test')
    const broker = new EdgeBroker({ config: config.mqtt, db, log: pino({ level: 'silent' }) })
    await broker.start()
    pool.defer(() => broker.stop())
    const bus = aedesBus(broker.aedes, pino({ level: 'silent' }))
    pool.defer(() => bus.stop())
    return { bus, url: `mqtt://127.0.0.1:${broker.listeners[0]?.port}` }
  }

  /** observed(topic), polled until it equals `want` (an unsubscription takes effect on the next turn) */
  async function becomes(bus: Bus, topic: string, want: boolean): Promise<void> {
    const deadline = Date.now() + 2000
    while ((await bus.observed?.(topic)) !== want) {
      if (Date.now() > deadline) assert.fail(`observed(${topic}) did not become ${want}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  it('connected clients: subscribe, unsubscribe, disconnect', async () => {
    const { bus, url } = await start()
    const topic = 'plant/line-1/temperature'
    assert.equal(await bus.observed?.(topic), false) // remembered from here on
    const { client } = await pool.connect(url)
    await client.subscribeAsync('plant/+/temperature', { qos: 0 })
    assert.equal(await bus.observed?.(topic), true, 'a SUBSCRIBE counts at once')
    assert.equal(await bus.observed?.('plant/line-1/pressure'), false)
    await client.unsubscribeAsync('plant/+/temperature')
    await becomes(bus, topic, false)
    await client.subscribeAsync('plant/#', { qos: 1 })
    assert.equal(await bus.observed?.(topic), true)
    await client.endAsync()
    await becomes(bus, topic, false)
  })

  it('persistent sessions: stored while offline, gone once cleaned', async () => {
    const { bus, url } = await start()
    const topic = '$hw/events/device/fan-1/twin/update/document'
    assert.equal(await bus.observed?.(topic), false)
    const offline = await pool.connect(url, { clientId: 'reader', clean: false })
    await offline.client.subscribeAsync('$hw/events/device/+/twin/update/document', { qos: 1 })
    await offline.client.endAsync()
    await becomes(bus, topic, true) // not connected, but its session takes messages
    assert.equal(await bus.observed?.(topic), true)
    const clean = await pool.connect(url, { clientId: 'reader', clean: true })
    await clean.client.endAsync()
    await becomes(bus, topic, false)
  })

  it('in-process parts subscribing through the bus', async () => {
    const { bus } = await start()
    const topic = '$hw/events/device/fan-1/twin/update/delta'
    assert.equal(await bus.observed?.(topic), false)
    await bus.subscribe('$hw/events/device/+/twin/update/delta', () => {})
    assert.equal(await bus.observed?.(topic), true)
  })
})
