/**
 * A persistent session with many subscriptions resumed while messages keep arriving on one of its
 * topics, against tern's embedded broker (the built `tern edge` process) and a real Mosquitto 2.0:
 * the client gets its CONNACK first [MQTT-3.2.0-1] and then the messages, also when its offline
 * queue is at its limit (messages over it are dropped, the connection is kept).
 */
import assert from 'node:assert/strict'
import { brokerTargets, type RunningBroker } from '../support/brokers.js'
import { clientPool } from '../support/mqtt.js'

const FILTERS = 5000

for (const target of brokerTargets) {
  describe(`a session with ${FILTERS} subscriptions resumed under load: ${target.name}`, function () {
    this.timeout(90_000)
    const pool = clientPool()
    const started: Array<RunningBroker<'plain'>> = []
    after(async () => {
      for (const broker of started) await broker.stop()
    })

    for (const maxQueuedMessages of [0, 10]) {
      it(`maxQueuedMessages ${maxQueuedMessages}: CONNACK first, then messages; the connection stays up`, async () => {
        const broker = await target.start({ allowAnonymous: true, listeners: { plain: { protocol: 'mqtt' } }, maxQueuedMessages })
        started.push(broker)
        const url = broker.url('plain')
        const session = await pool.connect(url, { clientId: 'resumer', clean: false })
        await session.client.subscribeAsync(Object.fromEntries(Array.from({ length: FILTERS }, (_, i) => [`busy/${i}`, { qos: 1 as const }])))
        await session.client.endAsync()
        const publisher = await pool.connect(url)
        for (let i = 0; i < 20; i++) await publisher.client.publishAsync('busy/0', `queued-${i}`, { qos: 1 })

        // ~1,000 messages/s on one of its topics while it resumes
        let flooding = true
        let sent = 0
        const flood = (): void => {
          if (!flooding) return
          for (let i = 0; i < 20; i++) publisher.client.publish('busy/0', `live-${sent++}`, { qos: 1 })
          setTimeout(flood, 20)
        }
        flood()
        pool.defer(() => {
          flooding = false
        })
        // mqtt.js takes no CONNACK after a PUBLISH: the connection would time out unanswered
        const resumed = await pool.connect(url, { clientId: 'resumer', clean: false })
        assert.equal(resumed.connack.sessionPresent, true)
        await resumed.inbox.waitFor((m) => m.payload.startsWith('live-'), 'a message published while it resumed', 30_000)
        await new Promise((resolve) => setTimeout(resolve, 1000))
        flooding = false
        assert.ok(resumed.client.connected, 'still connected')
        if (maxQueuedMessages > 0) {
          const queued = resumed.inbox.messages.filter((m) => m.payload.startsWith('queued-'))
          assert.ok(queued.length <= maxQueuedMessages, `${queued.length} of the 20 queued messages kept`)
        }
      })
    }
  })
}
