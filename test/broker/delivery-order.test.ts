/**
 * Every QoS 1/2 message reaches a connected subscriber once and in the order it was published
 * [MQTT-4.6.0-6] (each topic is an Ordered Topic by default), whatever else goes to the same
 * client meanwhile: against tern's embedded broker (the built `tern edge` process) and a real
 * Mosquitto 2.0. A persistent session is where it went wrong on tern (aedes numbers a message,
 * writes it to the session store, then hands it out; see broker/outgoing.ts and persistence.ts).
 * And the retained message of a topic is the last one published to it [MQTT-3.3.1-5], however
 * fast they come: a burst of retained publishes on one topic, QoS 0 and 1 alternating (and
 * non-retained ones between them), from one client in one go; a subscriber arriving afterwards
 * gets the last retained one, one that was there all along gets them in the order published: per
 * QoS on both brokers (what MQTT requires), across QoS too on tern (Mosquitto lets QoS 0 ones pass
 * QoS 1 ones waiting for the subscriber's inflight window).
 * On tern, retained messages are stored asynchronously in LevelDB before they go out
 * (broker/publish-order.ts, retained-writes.ts).
 */
import assert from 'node:assert/strict'
import { brokerTargets, type RunningBroker } from '../support/brokers.js'
import { clientPool } from '../support/mqtt.js'

const COUNT = 300
/** retained messages in one burst */
const BURST = 400

for (const target of brokerTargets) {
  describe(`delivery order and completeness: ${target.name}`, function () {
    this.timeout(60_000)
    const pool = clientPool()
    let broker: RunningBroker<'plain'>
    before(async () => {
      broker = await target.start({ allowAnonymous: true, listeners: { plain: { protocol: 'mqtt' } } })
    })
    after(async () => {
      await broker.stop()
    })

    /**
     * A subscriber (`clean` or persistent) at QoS 1; `COUNT` QoS 1 messages sent at once and, if
     * `withQos0`, as many QoS 0 ones from a second publisher meanwhile (aedes numbers a QoS 0
     * message and hands it out at once: one numbered after a QoS 1 message overtakes it, aedes issue #994).
     */
    async function deliveredInOrder(topic: string, clean: boolean, withQos0: boolean): Promise<void> {
      const url = broker.url('plain')
      const subscriber = await pool.connect(url, { clientId: `order-${topic}`, clean })
      await subscriber.client.subscribeAsync(topic, { qos: 1 })
      const publisher = await pool.connect(url)
      const other = await pool.connect(url)
      const acknowledged: Array<Promise<unknown>> = []
      for (let i = 0; i < COUNT; i++) {
        acknowledged.push(publisher.client.publishAsync(topic, `q1-${i}`, { qos: 1 }))
        if (withQos0) other.client.publish(topic, `q0-${i}`, { qos: 0 })
      }
      await Promise.all(acknowledged)
      const expected = Array.from({ length: COUNT }, (_, i) => `q1-${i}`)
      const acked = (): string[] => subscriber.inbox.messages.map((m) => m.payload).filter((p) => p.startsWith('q1-'))
      await subscriber.inbox.waitFor((m) => m.payload === `q1-${COUNT - 1}`, `the last QoS 1 message`, 30_000).catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, 500)) // any overtaken message still on its way
      assert.deepEqual(acked(), expected)
    }

    it('[MQTT-4.6.0-6] a persistent session gets every QoS 1 message, in order', () => deliveredInOrder('order/persistent', false, false))
    it('[MQTT-4.6.0-6] a persistent session gets every QoS 1 message, in order, with QoS 0 messages between them', () => deliveredInOrder('order/mixed', false, true))
    it('[MQTT-4.6.0-6] a clean session gets every QoS 1 message, in order, with QoS 0 messages between them', () => deliveredInOrder('order/clean', true, true))

    /** Publishes BURST messages on `topic` at once, `retained(i)` saying which are retained; resolves when the broker took them all. */
    async function burst(topic: string, retained: (i: number) => boolean): Promise<void> {
      const url = broker.url('plain')
      const live = await pool.connect(url)
      await live.client.subscribeAsync(topic, { qos: 1 })
      const publisher = await pool.connect(url)
      const sent = Array.from({ length: BURST }, (_, i) => `${i}`)
      const taken = sent.map((payload, i) => publisher.client.publishAsync(topic, payload, { qos: i % 2 === 0 ? 1 : 0, retain: retained(i) }))
      await Promise.all(taken)
      // QoS 0 ones have no acknowledgement: the live subscriber's copies say they were all handled
      const got = (await live.inbox.waitForCount(BURST, 30_000)).map((m) => m.payload)
      const ofQos = (qos: number) => (payloads: string[]): string[] => payloads.filter((p) => Number(p) % 2 === (qos === 1 ? 0 : 1))
      for (const qos of [0, 1]) {
        assert.deepEqual(ofQos(qos)(got), ofQos(qos)(sent), `a subscriber that was there gets the QoS ${qos} ones in the order published`)
      }
      // MQTT orders one topic's messages per QoS only [MQTT-4.6.0-6]; Mosquitto lets a QoS 0 one pass
      // QoS 1 ones waiting for the subscriber's inflight window; tern keeps the order across QoS
      if (target.name === 'tern') assert.deepEqual(got, sent, 'a subscriber that was there gets them in the order published')
    }

    async function retainedNow(topic: string): Promise<string> {
      const late = await pool.connect(broker.url('plain'))
      await late.client.subscribeAsync(topic, { qos: 1 })
      const got = await late.inbox.waitFor((m) => m.retain, `the retained message of ${topic}`, 10_000)
      return got.payload
    }

    it('[MQTT-3.3.1-5] every message retained, QoS 0 and 1 alternating: a later subscriber gets the last one', async () => {
      await burst('retained/all', () => true)
      assert.equal(await retainedNow('retained/all'), `${BURST - 1}`)
    })

    it('[MQTT-3.3.1-5] retained and non-retained alternating: the last retained one stays, and nothing overtakes it', async () => {
      // every fourth retained (QoS 1), the rest not: a retained message is stored before it is delivered
      await burst('retained/mixed', (i) => i % 4 === 0)
      const lastRetained = Math.floor((BURST - 1) / 4) * 4
      assert.equal(await retainedNow('retained/mixed'), `${lastRetained}`)
    })
  })
}
