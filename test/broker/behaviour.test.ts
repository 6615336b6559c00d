/**
 * The edge MQTT bus contract (DESIGN §3): one suite, run against tern's embedded broker (the built
 * `tern edge` process) and against a real Mosquitto 2.0, with mqtt.js and Debian's
 * mosquitto_pub/mosquitto_sub as clients. Spec citations are MQTT 3.1.1 (OASIS, 2014).
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AclRule } from '../../schemas/config.js'
import { brokerTargets, type RunningBroker, type TargetName } from '../support/brokers.js'
import { clientPool, connectPacket, rawConnect, runMosquittoPub, subackCodes, subscribedMosquittoSub, type Connected } from '../support/mqtt.js'
import { makeTestPki, type TestPki } from '../support/pki.js'
import { scratchDir } from '../support/resources.js'

/**
 * Where the two brokers deliberately differ; each entry is asserted, not skipped.
 * SUBACK for a filter the ACL gives no read access to: tern refuses it with 0x80 [MQTT-3.9.3];
 * Mosquitto's acl_file never checks subscriptions ("FIXME - implement ACL subscription strings" in
 * src/security_default.c), grants the QoS and filters each message at delivery instead. Both
 * are allowed by MQTT 3.1.1, and on both nothing the client may not read is ever delivered.
 */
const SUBACK_FOR_UNREADABLE_FILTER: Record<TargetName, number> = { tern: 0x80, mosquitto: 1 }

/**
 * When a client silent after CONNECT with keep-alive 1 s is dropped, ms after its CONNACK
 * [MQTT-3.1.2-24]. tern (aedes) drops it at 1.5 × keep-alive. Mosquitto 2.0 looks at keep-alives
 * only every 5 s and on a clock of whole seconds (src/keepalive.c: `last_keepalive_check + 5 <
 * db.now_s`, `now - last_msg_in > keepalive*3/2` in integer seconds), so it takes up to ~8 s:
 * later than the spec allows, a Mosquitto 2.0 shortfall that matters only for short keep-alives.
 */
/**
 * What `$hw/events/device/%u/#` lets a user named like a namespace (`ns1`) publish under
 * `ns1/meter-2/…`. Mosquitto fills `%u` as text, so the twin topics of device `ns1/meter-2` (the
 * `<namespace>/<name>` layout, DESIGN §4) are inside the grant; tern grants a device-level
 * placeholder only the twin topics of the one device it names (docs/security.md). Other topics
 * under the prefix are decided alike.
 */
const DELIVERED_UNDER_NAMESPACE_NAMED_USER: Record<TargetName, string[]> = { tern: ['custom', 'own'], mosquitto: ['forged', 'custom', 'own'] }

const KEEPALIVE_1S_DROP_WINDOW_MS: Record<TargetName, [number, number]> = { tern: [1400, 2000], mosquitto: [1000, 8500] }

const USERS = [
  { username: 'dev1', password: 'dev1-secret' },
  { username: 'dev2', password: 'dev2-secret' },
  { username: 'admin', password: 'admin-secret' },
  { username: 'ns1', password: 'ns1-secret' },
]

const ACL: AclRule[] = [
  { topic: '$hw/events/device/%u/#', access: 'readwrite' },
  { topic: 'public/#', access: 'read' },
  { topic: '#', access: 'readwrite', users: ['admin'] },
  { topic: '$hw/#', access: 'readwrite', users: ['admin'] },
]

const NOT_AUTHORISED = 5 // CONNACK return code [MQTT-3.2.2.3]

/** The connection attempt must fail: no CONNACK 0 may ever arrive. */
async function assertRefused(attempt: Promise<Connected>, expectedCode?: number): Promise<void> {
  const err = await attempt.then(
    () => assert.fail('the connection was accepted'),
    (e: unknown) => e as Error & { code?: unknown },
  )
  if (expectedCode !== undefined) assert.equal(err.code, expectedCode, `CONNACK return code (error: ${err.message})`)
}

for (const target of brokerTargets) {
  describe(`MQTT bus behaviour: ${target.name}`, function () {
    this.timeout(20_000)
    const pool = clientPool()
    let pki: TestPki
    let main: RunningBroker<'plain' | 'tls' | 'mtls' | 'ws'>
    let run = 0
    /** A topic or client id no other test uses (a broker keeps retained messages and sessions between tests). */
    const unique = (name: string): string => `${name}-${target.name}-${++run}`

    let pkiDir: Awaited<ReturnType<typeof scratchDir>> | undefined
    before(async () => {
      pkiDir = await scratchDir('tern-pki-')
      pki = await makeTestPki(pkiDir.path)
      main = await target.start({
        allowAnonymous: true,
        listeners: {
          plain: { protocol: 'mqtt' },
          tls: { protocol: 'mqtts', tls: { ca: pki.ca, ...pki.server, requireClientCertificate: false } },
          mtls: { protocol: 'mqtts', tls: { ca: pki.ca, ...pki.server, requireClientCertificate: true } },
          ws: { protocol: 'ws' },
        },
      })
    })
    after(async () => {
      await main?.stop()
      await pkiDir?.remove()
    })
    afterEach(function () {
      if (this.currentTest?.state === 'failed') console.error(`--- ${target.name} log (last 4 KB) ---\n${main?.log().slice(-4096)}`)
    })

    const connect = (options: Parameters<typeof pool.connect>[1] = {}): Promise<Connected> => pool.connect(main.url('plain'), options)

    describe('delivery', () => {
      for (const qos of [0, 1, 2] as const) {
        it(`[MQTT-4.3.${qos + 1}] QoS ${qos} publish reaches a QoS ${qos} subscriber once, in order`, async () => {
          const topic = unique(`qos/${qos}`)
          const sub = await connect()
          assert.deepEqual(await sub.client.subscribeAsync(topic, { qos }), [{ topic, qos }])
          const pub = await connect()
          for (const n of [1, 2, 3]) await pub.client.publishAsync(topic, `m${n}`, { qos })
          await sub.inbox.waitFor((m) => m.payload === 'm3', 'the last message')
          assert.deepEqual(sub.inbox.messages, [1, 2, 3].map((n) => ({ topic, payload: `m${n}`, qos, retain: false })))
        })
      }

      for (const listener of ['plain', 'tls'] as const) {
        it(`[MQTT-4.6.0-6] a burst of 500 messages, small and 200 KB, reaches a subscriber whole and in order (${listener})`, async () => {
          const topic = unique(`burst/${listener}`)
          const options = listener === 'tls' ? { ca: await readFile(pki.ca), rejectUnauthorized: true } : {}
          const sub = await pool.connect(main.url(listener), options)
          await sub.client.subscribeAsync(topic, { qos: 1 })
          const pub = await pool.connect(main.url(listener), options)
          // every 50th a large payload (written past the broker's one-buffer-per-turn copy), the rest small, multi-byte UTF-8
          const payloads = Array.from({ length: 500 }, (_, i) => (i % 50 === 49 ? `${i}:${'é'.repeat(100_000)}` : `${i}:ü`))
          await Promise.all(payloads.map((p) => pub.client.publishAsync(topic, p, { qos: 1 })))
          await sub.inbox.waitForCount(payloads.length, 15_000)
          assert.deepEqual(sub.inbox.messages.map((m) => m.payload), payloads)
        })
      }

      it('[MQTT-3.8.4-6] a message is delivered at the lower of publish and subscription QoS, also through wildcards', async () => {
        const base = unique('qos/down')
        const sub = await connect()
        assert.deepEqual(await sub.client.subscribeAsync(`${base}/+`, { qos: 1 }), [{ topic: `${base}/+`, qos: 1 }])
        const pub = await connect()
        await pub.client.publishAsync(`${base}/wild`, 'w', { qos: 2 })
        const wild = await sub.inbox.waitFor((m) => m.topic === `${base}/wild`, 'the wildcard delivery')
        assert.equal(wild.qos, 1)
      })

      it('[MQTT-3.8.4-6] a retained QoS 2 message reaches later wildcard subscribers at their granted QoS', async () => {
        const base = unique('qos/retained')
        const pub = await connect()
        await pub.client.publishAsync(`${base}/x`, 'kept', { qos: 2, retain: true })
        for (const qos of [0, 1] as const) {
          const sub = await connect()
          await sub.client.subscribeAsync(`${base}/+`, { qos })
          assert.deepEqual(await sub.inbox.waitFor((m) => m.topic === `${base}/x`, 'the retained message'), { topic: `${base}/x`, payload: 'kept', qos, retain: true })
        }
      })

      it('[MQTT-3.3.5-1] overlapping subscriptions: the message arrives at the highest QoS granted (both brokers send one copy)', async () => {
        const base = unique('qos/overlap')
        const sub = await connect()
        await sub.client.subscribeAsync({ [`${base}/#`]: { qos: 0 }, [`${base}/+`]: { qos: 1 } })
        const pub = await connect()
        await pub.client.publishAsync(`${base}/x`, 'first', { qos: 2 })
        await pub.client.publishAsync(`${base}/x`, 'second', { qos: 1 })
        await sub.inbox.waitFor((m) => m.payload === 'second', 'the second message')
        assert.deepEqual(sub.inbox.messages, [
          { topic: `${base}/x`, payload: 'first', qos: 1, retain: false },
          { topic: `${base}/x`, payload: 'second', qos: 1, retain: false },
        ])
      })

      it('interop: mosquitto_pub (QoS 1 and 2) → mqtt.js subscriber', async () => {
        const topic = unique('interop/pub')
        const sub = await connect()
        await sub.client.subscribeAsync(topic, { qos: 2 })
        const port = String(main.ports.plain)
        await runMosquittoPub(pool, ['-h', '127.0.0.1', '-p', port, '-t', topic, '-m', 'from-cli-q1', '-q', '1'])
        await runMosquittoPub(pool, ['-h', '127.0.0.1', '-p', port, '-t', topic, '-m', 'from-cli-q2', '-q', '2'])
        await sub.inbox.waitForCount(2)
        assert.deepEqual(sub.inbox.messages, [
          { topic, payload: 'from-cli-q1', qos: 1, retain: false },
          { topic, payload: 'from-cli-q2', qos: 2, retain: false },
        ])
      })

      it('interop: mqtt.js publisher → mosquitto_sub', async () => {
        const topic = unique('interop/sub')
        const cli = await subscribedMosquittoSub(pool, ['-h', '127.0.0.1', '-p', String(main.ports.plain), '-t', topic, '-q', '1', '-v', '-C', '1', '-W', '10'])
        const pub = await connect()
        await pub.client.publishAsync(topic, 'to-cli', { qos: 1 })
        const { code } = await cli.exited()
        assert.equal(code, 0, cli.output())
        assert.match(cli.output(), new RegExp(`^${topic} to-cli$`, 'm'))
      })
    })

    describe('retained messages', () => {
      it('[MQTT-3.3.1-6] a later subscriber gets the retained message with RETAIN set; [MQTT-3.3.1-9] a live subscriber gets it with RETAIN clear', async () => {
        const topic = unique('retained/later')
        const live = await connect()
        await live.client.subscribeAsync(topic, { qos: 1 })
        const pub = await connect()
        await pub.client.publishAsync(topic, 'kept', { qos: 1, retain: true })
        assert.deepEqual(await live.inbox.waitFor((m) => m.topic === topic, 'the live delivery'), { topic, payload: 'kept', qos: 1, retain: false })
        const later = await connect()
        await later.client.subscribeAsync(topic, { qos: 1 })
        assert.deepEqual(await later.inbox.waitFor((m) => m.topic === topic, 'the retained message'), { topic, payload: 'kept', qos: 1, retain: true })
      })

      it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty retained payload is delivered to subscribers and clears the retained message', async () => {
        const topic = unique('retained/clear')
        const pub = await connect()
        await pub.client.publishAsync(topic, 'old', { qos: 1, retain: true })
        const live = await connect()
        await live.client.subscribeAsync(topic, { qos: 1 })
        await live.inbox.waitFor((m) => m.payload === 'old', 'the retained message')
        await pub.client.publishAsync(topic, '', { qos: 1, retain: true })
        await live.inbox.waitFor((m) => m.payload === '', 'the empty message')

        const later = await connect()
        await later.client.subscribeAsync(topic, { qos: 1 })
        // A retained message would be sent right after the SUBACK, ahead of this live one.
        await pub.client.publishAsync(topic, 'after', { qos: 1 })
        await later.inbox.waitFor((m) => m.payload === 'after', 'the live message')
        assert.deepEqual(later.inbox.messages, [{ topic, payload: 'after', qos: 1, retain: false }])
      })

      it('DESIGN §3: a retained message survives a broker restart', async () => {
        const topic = unique('$hw/events/device/retained/twin/update')
        const pub = await connect()
        await pub.client.publishAsync(topic, 'before-restart', { qos: 1, retain: true })
        await main.restart()
        const sub = await connect()
        await sub.client.subscribeAsync(topic, { qos: 1 })
        assert.deepEqual(await sub.inbox.waitFor((m) => m.topic === topic, 'the retained message'), {
          topic,
          payload: 'before-restart',
          qos: 1,
          retain: true,
        })
      })
    })

    describe('$ topics', () => {
      it('[MQTT-4.7.2-1] $hw/... is not matched by # or +/..., but is by $hw/# and $hw/events/device/+/twin/update', async () => {
        const device = unique('dev')
        const twin = `$hw/events/device/${device}/twin/update`
        const plain = `x/events/device/${device}/twin/update`
        const subscribers = new Map<string, Connected>()
        for (const filter of ['#', '+/events/device/#', '$hw/#', '$hw/events/device/+/twin/update']) {
          const c = await connect()
          await c.client.subscribeAsync(filter, { qos: 1 })
          subscribers.set(filter, c)
        }
        const at = (filter: string): Connected => subscribers.get(filter) ?? assert.fail(filter)
        const pub = await connect()
        await pub.client.publishAsync(twin, '{}', { qos: 1 })
        await at('$hw/#').inbox.waitFor((m) => m.topic === twin, `${twin} on $hw/#`)
        await at('$hw/events/device/+/twin/update').inbox.waitFor((m) => m.topic === twin, `${twin} on $hw/events/device/+/twin/update`)
        // Once the $hw message has reached its subscribers it has been routed; a message published
        // after that reaches the wildcard subscribers behind it, if it reached them at all.
        await pub.client.publishAsync(plain, '{}', { qos: 1 })
        for (const filter of ['#', '+/events/device/#']) {
          await at(filter).inbox.waitFor((m) => m.topic === plain, `${plain} on ${filter}`)
          assert.deepEqual(at(filter).inbox.topics().filter((t) => t.includes(device)), [plain], `what ${filter} received`)
        }
        assert.deepEqual(at('$hw/#').inbox.topics().filter((t) => t === twin), [twin], 'delivered once')
      })
    })

    describe('persistent sessions', () => {
      /** Registers a clean=false session with one QoS 1 subscription, then disconnects. */
      const registerSession = async (clientId: string, topic: string): Promise<void> => {
        const first = await connect({ clientId, clean: false })
        await first.client.subscribeAsync(topic, { qos: 1 })
        await first.client.endAsync()
      }
      const publishThree = async (topic: string): Promise<void> => {
        const pub = await connect()
        for (const n of [1, 2, 3]) await pub.client.publishAsync(topic, `offline-${n}`, { qos: 1 })
        await pub.client.endAsync()
      }
      const expectThree = (s: Connected, topic: string): Promise<void> =>
        s.inbox.waitForCount(3).then((got) => assert.deepEqual(got, [1, 2, 3].map((n) => ({ topic, payload: `offline-${n}`, qos: 1, retain: false }))))

      it('[MQTT-3.1.2-4] [MQTT-3.1.2-5] QoS 1 messages published while the client is offline are delivered when it reconnects', async () => {
        const clientId = unique('offline')
        const topic = unique('session/offline')
        await registerSession(clientId, topic)
        await publishThree(topic)
        const again = await connect({ clientId, clean: false })
        assert.equal(again.connack.sessionPresent, true, '[MQTT-3.2.2-2] session present')
        await expectThree(again, topic)
      })

      it('[MQTT-3.8.4-6] a QoS 2 message queued for an offline QoS 1 subscription is delivered at QoS 1', async () => {
        const clientId = unique('offline-qos')
        const topic = unique('session/offline-qos')
        await registerSession(clientId, topic)
        const pub = await connect()
        await pub.client.publishAsync(topic, 'exactly-once', { qos: 2 })
        const again = await connect({ clientId, clean: false })
        assert.deepEqual(await again.inbox.waitFor((m) => m.topic === topic, 'the queued message'), { topic, payload: 'exactly-once', qos: 1, retain: false })
      })

      it('[MQTT-3.3.1-9] a retained message queued for an offline subscription is delivered with RETAIN 0', async () => {
        const clientId = unique('offline-retained')
        const topic = unique('session/offline-retained')
        await registerSession(clientId, topic)
        const pub = await connect()
        await pub.client.publishAsync(topic, 'while-away', { qos: 1, retain: true })
        const again = await connect({ clientId, clean: false })
        assert.deepEqual(await again.inbox.waitFor((m) => m.topic === topic, 'the queued message'), { topic, payload: 'while-away', qos: 1, retain: false })
      })

      it('DESIGN §3: queued QoS 1 messages and the session survive kill -9 of the broker', async () => {
        const clientId = unique('crash')
        const topic = unique('session/crash')
        await registerSession(clientId, topic)
        await publishThree(topic)
        // Both brokers send PUBACK before the message is written to the offline queue (aedes
        // acknowledges first and then enqueues in LevelDB; Mosquitto saves its database from its
        // main loop after the change). Give the write time to land: acknowledged is not yet durable.
        await sleep(300)
        await main.kill9AndRestart()
        const again = await connect({ clientId, clean: false })
        assert.equal(again.connack.sessionPresent, true, '[MQTT-3.2.2-2] session present after kill -9')
        await expectThree(again, topic)
      })

      it('[MQTT-3.2.2-3] [MQTT-3.2.2-2] a persistent session is present on reconnect even without subscriptions (§3.1.2.4)', async () => {
        const clientId = unique('bare')
        const first = await connect({ clientId, clean: false })
        assert.equal(first.connack.sessionPresent, false, 'no session before the first connection')
        await first.client.endAsync()
        const again = await connect({ clientId, clean: false })
        assert.equal(again.connack.sessionPresent, true)
      })

      it('[MQTT-3.2.2-2] sessions survive a restart: session present (also without subscriptions), new messages arrive without resubscribing', async () => {
        const clientId = unique('resume')
        const topic = unique('session/resume')
        await registerSession(clientId, topic)
        const bareId = unique('bare-restart')
        await (await connect({ clientId: bareId, clean: false })).client.endAsync()
        await main.restart()
        const bare = await connect({ clientId: bareId, clean: false })
        assert.equal(bare.connack.sessionPresent, true, 'the session without subscriptions')
        const again = await connect({ clientId, clean: false })
        assert.equal(again.connack.sessionPresent, true)
        const pub = await connect()
        await pub.client.publishAsync(topic, 'after-restart', { qos: 1 })
        assert.deepEqual(await again.inbox.waitFor((m) => m.topic === topic, 'the new message'), { topic, payload: 'after-restart', qos: 1, retain: false })
      })

      it('[MQTT-3.1.2-6] [MQTT-3.2.2-1] connecting with clean=true discards the stored session and its queue', async () => {
        const clientId = unique('discard')
        const topic = unique('session/discard')
        await registerSession(clientId, topic)
        const pub = await connect()
        // A long queue: a broker that discards it lazily, message by message, is caught doing so.
        await Promise.all(Array.from({ length: 100 }, (_, n) => pub.client.publishAsync(topic, `queued-${n}`, { qos: 1 })))
        const clean = await connect({ clientId, clean: true })
        assert.equal(clean.connack.sessionPresent, false)
        await clean.client.endAsync()
        const again = await connect({ clientId, clean: false })
        assert.equal(again.connack.sessionPresent, false, 'no session after the clean one')
        // Nothing queued: a message on a topic it subscribes now arrives first.
        await again.client.subscribeAsync(`${topic}/probe`, { qos: 1 })
        await pub.client.publishAsync(`${topic}/probe`, 'probe', { qos: 1 })
        await again.inbox.waitFor((m) => m.payload === 'probe', 'the probe')
        assert.deepEqual(again.inbox.topics(), [`${topic}/probe`])
        assert.deepEqual(clean.inbox.messages, [], 'the clean session got none of the old queue either')
      })
    })

    describe('client identifiers', () => {
      it('[MQTT-3.1.4-2] a second connection with the same client id disconnects the first', async () => {
        const clientId = unique('twice')
        const first = await connect({ clientId })
        const closed = new Promise<void>((resolve) => first.client.once('close', () => resolve()))
        const second = await connect({ clientId })
        await closed
        assert.equal(second.client.connected, true)
      })

      it('[MQTT-3.1.3-8] an empty client id with clean=false gets CONNACK 2 and the connection is closed', async () => {
        const raw = await rawConnect(pool, main.ports.plain, connectPacket({ clientId: '', keepalive: 10, clean: false }))
        assert.equal(raw.returnCode, 2)
        await raw.closed
      })

      it('[MQTT-3.1.3-6] an empty client id with clean=true is accepted', async () => {
        const raw = await rawConnect(pool, main.ports.plain, connectPacket({ clientId: '', keepalive: 10, clean: true }))
        assert.equal(raw.returnCode, 0)
      })
    })

    describe('will and keep-alive', () => {
      it('[MQTT-3.1.2-8] the will is published when the client’s connection drops without DISCONNECT', async () => {
        const topic = unique('will/drop')
        const watcher = await connect()
        await watcher.client.subscribeAsync(topic, { qos: 1 })
        const dying = await connect({ will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false } })
        dying.client.stream.destroy()
        assert.deepEqual(await watcher.inbox.waitFor((m) => m.topic === topic, 'the will'), { topic, payload: 'gone', qos: 1, retain: false })
      })

      it('[MQTT-3.1.2-10] the will is discarded after a DISCONNECT', async () => {
        const topic = unique('will/clean')
        const watcher = await connect()
        await watcher.client.subscribeAsync(`${topic}/#`, { qos: 1 })
        const leaving = await connect({ will: { topic: `${topic}/will`, payload: Buffer.from('gone'), qos: 1, retain: false } })
        await leaving.client.endAsync()
        // The broker handles the DISCONNECT and the close of that socket on its own schedule;
        // a will would be published at once, so a short wait and a marker after it bound the check.
        await sleep(200)
        const pub = await connect()
        await pub.client.publishAsync(`${topic}/marker`, 'marker', { qos: 1 })
        await watcher.inbox.waitFor((m) => m.payload === 'marker', 'the marker')
        assert.deepEqual(watcher.inbox.topics(), [`${topic}/marker`])
      })

      it(`[MQTT-3.1.2-24] a client silent for 1.5 × keep-alive is disconnected (within ${KEEPALIVE_1S_DROP_WINDOW_MS[target.name].join('–')} ms of keep-alive 1 s) and its will published`, async () => {
        const topic = unique('will/keepalive')
        const watcher = await connect()
        await watcher.client.subscribeAsync(topic, { qos: 1 })
        const packet = connectPacket({ clientId: unique('silent'), keepalive: 1, will: { topic, payload: 'timed-out', qos: 1 } })
        const raw = await rawConnect(pool, main.ports.plain, packet)
        const connackAt = performance.now()
        assert.equal(raw.returnCode, 0)
        const closedAfter = (await raw.closed) - connackAt
        await watcher.inbox.waitFor((m) => m.topic === topic, 'the will')
        const [earliest, latest] = KEEPALIVE_1S_DROP_WINDOW_MS[target.name]
        assert.ok(closedAfter >= earliest && closedAfter <= latest, `disconnected after ${Math.round(closedAfter)} ms, expected ${earliest}–${latest}`)
      })
    })

    describe('TLS and WebSocket listeners', () => {
      it('mqtts: a client that trusts the test CA verifies the server (IP SAN 127.0.0.1) and exchanges messages', async () => {
        const ca = await readFile(pki.ca)
        const c = await pool.connect(main.url('tls'), { ca, rejectUnauthorized: true })
        const topic = unique('tls/echo')
        await c.client.subscribeAsync(topic, { qos: 1 })
        await c.client.publishAsync(topic, 'over-tls', { qos: 1 })
        assert.equal((await c.inbox.waitFor((m) => m.topic === topic, 'the echo')).payload, 'over-tls')
      })

      it('mqtts: a client that does not trust the CA is refused by its own verification', async () => {
        await assertRefused(pool.connect(main.url('tls'), { rejectUnauthorized: true }))
      })

      it('interop: mosquitto_pub --cafile over TLS → mqtt.js', async () => {
        const topic = unique('tls/cli')
        const sub = await connect()
        await sub.client.subscribeAsync(topic, { qos: 1 })
        await runMosquittoPub(pool, ['-h', '127.0.0.1', '-p', String(main.ports.tls), '--cafile', pki.ca, '-t', topic, '-m', 'cli-tls', '-q', '1'])
        assert.equal((await sub.inbox.waitFor((m) => m.topic === topic, 'the message')).payload, 'cli-tls')
      })

      it('mqtts with required client certificates: no certificate or an untrusted one is refused, a CA-signed one is accepted', async () => {
        const ca = await readFile(pki.ca)
        await assertRefused(pool.connect(main.url('mtls'), { ca }))
        const stranger = { cert: await readFile(pki.strangerClient.cert), key: await readFile(pki.strangerClient.key) }
        await assertRefused(pool.connect(main.url('mtls'), { ca, ...stranger }))
        const c = await pool.connect(main.url('mtls'), { ca, cert: await readFile(pki.client.cert), key: await readFile(pki.client.key) })
        const topic = unique('mtls/echo')
        await c.client.subscribeAsync(topic, { qos: 1 })
        await c.client.publishAsync(topic, 'mutual', { qos: 1 })
        assert.equal((await c.inbox.waitFor((m) => m.topic === topic, 'the echo')).payload, 'mutual')
      })

      it('WebSocket: mqtt.js over ws://127.0.0.1:PORT/mqtt talks to TCP clients', async () => {
        const topic = unique('ws/bridge')
        const overWs = await pool.connect(main.url('ws'))
        await overWs.client.subscribeAsync(topic, { qos: 1 })
        const overTcp = await connect()
        await overTcp.client.publishAsync(topic, 'tcp-to-ws', { qos: 1 })
        assert.equal((await overWs.inbox.waitFor((m) => m.topic === topic, 'the message')).payload, 'tcp-to-ws')
      })
    })

    describe('authentication and ACL (DESIGN §3 security)', () => {
      let secure: RunningBroker<'locked' | 'open'>
      before(async () => {
        secure = await target.start({
          allowAnonymous: false,
          listeners: { locked: { protocol: 'mqtt' }, open: { protocol: 'mqtt', allowAnonymous: true } },
          users: USERS,
          acl: ACL,
        })
      })
      after(() => secure?.stop())
      afterEach(function () {
        if (this.currentTest?.state === 'failed') console.error(`--- ${target.name} (secure) log (last 4 KB) ---\n${secure?.log().slice(-4096)}`)
      })
      const as = (username: string, password = USERS.find((u) => u.username === username)?.password): Promise<Connected> =>
        pool.connect(secure.url('locked'), { username, password })

      it('[MQTT-3.2.2.3] anonymous clients get CONNACK 5 on a listener that disallows them, 0 on one that allows them', async () => {
        await assertRefused(pool.connect(secure.url('locked')), NOT_AUTHORISED)
        const anonymous = await pool.connect(secure.url('open'))
        assert.equal(anonymous.connack.returnCode, 0)
      })

      it('[MQTT-3.1.3-9] unknown user and wrong password get CONNACK 5; the right password is accepted', async () => {
        await assertRefused(as('nobody', 'whatever'), NOT_AUTHORISED)
        await assertRefused(as('dev1', 'wrong'), NOT_AUTHORISED)
        await assertRefused(as('dev1', ''), NOT_AUTHORISED)
        const ok = await as('dev1')
        assert.equal(ok.connack.returnCode, 0)
      })

      it('ACL: a device publishes its own $hw/events/device/<id>/... topics', async () => {
        const admin = await as('admin')
        await admin.client.subscribeAsync('$hw/#', { qos: 1 })
        const dev1 = await as('dev1')
        await dev1.client.publishAsync('$hw/events/device/dev1/twin/update', 'own', { qos: 1 })
        assert.equal((await admin.inbox.waitFor((m) => m.topic === '$hw/events/device/dev1/twin/update', 'the update')).payload, 'own')
      })

      for (const qos of [0, 1, 2] as const) {
        it(`ACL: a QoS ${qos} publish to another device's topic is acknowledged, never delivered, and the connection stays up`, async () => {
          const admin = await as('admin')
          await admin.client.subscribeAsync({ '$hw/#': { qos: 1 }, '#': { qos: 1 } })
          const dev1 = await as('dev1')
          const marker = unique('marker')
          // publishAsync resolves on PUBACK (QoS 1) or PUBCOMP (QoS 2) [MQTT-4.3.2-2] [MQTT-4.3.3-2].
          await dev1.client.publishAsync('$hw/events/device/dev2/twin/update', 'forged', { qos })
          await dev1.client.publishAsync('public/notice', 'read-only', { qos })
          await dev1.client.publishAsync(`$hw/events/device/dev1/${marker}`, 'marker', { qos })
          await admin.inbox.waitFor((m) => m.payload === 'marker', 'the marker')
          // (tern's own twin also talks on $hw/...; only these three messages are under test.)
          const sent = ['forged', 'read-only', 'marker']
          assert.deepEqual(admin.inbox.messages.map((m) => m.payload).filter((p) => sent.includes(p)), ['marker'])
          assert.equal(dev1.client.connected, true)
        })
      }

      it(`ACL: of a user named like a namespace publishing ns1/meter-2/twin/update (forged), ns1/meter-2/<other> (custom) and ns1/twin/update (own), ${DELIVERED_UNDER_NAMESPACE_NAMED_USER[target.name].join(', ')} are delivered`, async () => {
        const admin = await as('admin')
        await admin.client.subscribeAsync('$hw/#', { qos: 1 })
        const ns1 = await as('ns1')
        const custom = unique('custom')
        await ns1.client.publishAsync('$hw/events/device/ns1/meter-2/twin/update', 'forged', { qos: 1 })
        await ns1.client.publishAsync(`$hw/events/device/ns1/meter-2/${custom}`, 'custom', { qos: 1 })
        await ns1.client.publishAsync('$hw/events/device/ns1/twin/update', 'own', { qos: 1 })
        await admin.inbox.waitFor((m) => m.payload === 'own', 'its own update')
        const sent = ['forged', 'custom', 'own']
        assert.deepEqual(admin.inbox.messages.map((m) => m.payload).filter((p) => sent.includes(p)), DELIVERED_UNDER_NAMESPACE_NAMED_USER[target.name])
      })

      it('ACL: a read grant lets a device receive public/#', async () => {
        const dev1 = await as('dev1')
        await dev1.client.subscribeAsync('public/#', { qos: 1 })
        const admin = await as('admin')
        const topic = unique('public/news')
        await admin.client.publishAsync(topic, 'hello devices', { qos: 1 })
        assert.equal((await dev1.inbox.waitFor((m) => m.topic === topic, 'the news')).payload, 'hello devices')
      })

      it(`[MQTT-3.9.3] ACL: SUBACK grants the allowed filters of one SUBSCRIBE and answers ${SUBACK_FOR_UNREADABLE_FILTER[target.name]} for another device's filter; nothing of it is delivered`, async () => {
        const dev1 = await as('dev1')
        const codes = await subackCodes(dev1.client, {
          '$hw/events/device/dev2/#': { qos: 1 },
          '$hw/events/device/dev1/#': { qos: 1 },
          'public/#': { qos: 0 },
        })
        assert.deepEqual(codes, [SUBACK_FOR_UNREADABLE_FILTER[target.name], 1, 0])
        const admin = await as('admin')
        const probe = unique('data/probe') // not a twin topic, so tern's twin stays out of it
        await admin.client.publishAsync(`$hw/events/device/dev2/${probe}`, 'not for dev1', { qos: 1 })
        await admin.client.publishAsync(`$hw/events/device/dev1/${probe}`, 'for dev1', { qos: 1 })
        await dev1.inbox.waitFor((m) => m.payload === 'for dev1', 'its own message')
        assert.deepEqual(dev1.inbox.topics().filter((t) => t.endsWith(probe)), [`$hw/events/device/dev1/${probe}`])
      })
    })
  })
}

