/**
 * Every QoS 1/2 message reaches a connected subscriber once and in the order it was published
 * [MQTT-4.6.0-6] (each topic is an Ordered Topic by default), whatever else goes to the same
 * client meanwhile: against tern's embedded broker (the built `tern edge` process) and a real
 * Mosquitto 2.0. A persistent session is where it went wrong on tern (aedes numbers a message,
 * writes it to the session store, then hands it out; see broker/outgoing.ts and persistence.ts).
 */
import assert from 'node:assert/strict'
import { brokerTargets, type RunningBroker } from '../support/brokers.js'
import { clientPool } from '../support/mqtt.js'

const COUNT = 300

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
  })
}
