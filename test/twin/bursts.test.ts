/**
 * Bursts of twin requests against the real `tern edge` process: a mapper asks for every device's
 * twin at start, often in one socket write. No burst size may crash the node (the in-process bus
 * subscriber once completed each delivery synchronously, so mqemitter released every queued message
 * one stack frame deeper: `RangeError: Maximum call stack size exceeded`), and every request is
 * answered.
 */
import { strict as assert } from 'node:assert'
import { connect as netConnect } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { counterManifests, counterNames, scratchWithDevices } from '../support/manifests.js'
import { clientPool } from '../support/mqtt.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

/**
 * Connects, then sends `publishes` as QoS 1 PUBLISH packets in one socket write, and resolves with
 * the number of PUBACKs once all have arrived (rejects if the connection closes first).
 */
function publishInOneWrite(port: number, publishes: ReadonlyArray<{ topic: string; payload: string }>, timeoutMs: number): Promise<number> {
  const burst = Buffer.concat(
    publishes.map((p, i) => mqttPacket.generate({ cmd: 'publish', topic: p.topic, payload: Buffer.from(p.payload), qos: 1, messageId: (i % 65_535) + 1, retain: false, dup: false })),
  )
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1')
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let acks = 0
    const timer = setTimeout(() => finish(new Error(`${acks} of ${publishes.length} PUBACKs after ${timeoutMs} ms`)), timeoutMs)
    const finish = (err?: Error): void => {
      clearTimeout(timer)
      socket.destroy()
      if (err === undefined) resolve(acks)
      else reject(err)
    }
    parser.on('packet', (packet) => {
      // aedes closes a client that sends more than a few packets before its CONNACK, as a guard.
      if (packet.cmd === 'connack') socket.write(burst)
      if (packet.cmd === 'puback' && ++acks === publishes.length) finish()
    })
    socket.on('data', (chunk) => parser.parse(chunk))
    socket.on('error', (err) => finish(err))
    socket.on('close', () => finish(new Error(`connection closed after ${acks} of ${publishes.length} PUBACKs`)))
    socket.on('connect', () => socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'burst', keepalive: 0 })))
  })
}

describe('twin: bursts of requests inside tern edge', function () {
  this.timeout(180_000)
  const DEVICES = 1000
  const undo: Array<() => Promise<void>> = []
  let node: TernEdgeProcess
  let port: number
  beforeEach(async () => {
    const { dir, devices } = await scratchWithDevices(counterManifests(counterNames(DEVICES)), undo)
    // No per-client queue limit: the app below must receive every one of tens of thousands of results.
    node = await startTernEdge(dir, { node: { name: 'edge-1' }, log: { level: process.env.TERN_TEST_LOG_LEVEL ?? "info" }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }], maxQueuedMessages: 0 } })
    undo.push(() => node.stop())
    port = node.listeners[0]?.port ?? 0
  })
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  async function resultsApp(): Promise<{ answered: () => Set<string> }> {
    const { client, inbox } = await pool.connect(`mqtt://127.0.0.1:${port}`)
    await client.subscribeAsync('$hw/events/device/+/twin/get/result', { qos: 1 })
    return {
      answered: () => new Set(inbox.messages.map((m) => (JSON.parse(m.payload) as { event_id: string; code?: number }).event_id)),
    }
  }

  async function stillServes(): Promise<void> {
    const { client, inbox } = await pool.connect(`mqtt://127.0.0.1:${port}`)
    await client.subscribeAsync('$hw/events/device/c-7/twin/update/result', { qos: 1 })
    await client.publishAsync('$hw/events/device/c-7/twin/update', '{"event_id":"alive","twin":{"counter":{"actual":{"value":"7"}}}}', { qos: 1 })
    const result = await inbox.waitFor((m) => m.payload.includes('"alive"'), 'an update result after the burst', 20_000)
    assert.equal((JSON.parse(result.payload) as { code?: number }).code, undefined, result.payload)
    assert.equal(node.process.exitCode, null, 'the edge process is still running')
  }

  it('20,000 QoS 1 twin/get requests in one socket write, while an app subscribes to the results: every one answered, the node alive', async () => {
    const app = await resultsApp()
    const REQUESTS = 20_000
    const requests = Array.from({ length: REQUESTS }, (_, i) => ({ topic: `$hw/events/device/c-${i % DEVICES}/twin/get`, payload: `{"event_id":"w-${i}"}` }))
    const acks = await publishInOneWrite(port, requests, 120_000).catch(async (err: Error) => {
      await new Promise((r) => setTimeout(r, 1000))
      assert.fail(`${err.message}; the node (exit code ${node.process.exitCode}):\n${node.output().slice(-1500)}`)
    })
    assert.equal(acks, REQUESTS)
    const deadline = Date.now() + 60_000
    while (app.answered().size < REQUESTS && Date.now() < deadline && node.process.exitCode === null) await new Promise((r) => setTimeout(r, 100))
    assert.equal(node.process.exitCode, null, `the edge process exited:\n${node.output().slice(-2000)}`)
    const answered = app.answered()
    assert.equal(answered.size, REQUESTS, `${answered.size} of ${REQUESTS} requests answered`)
    assert.doesNotMatch(node.output(), /Maximum call stack size exceeded/)
    await stillServes()
  })

  it('1,000 declared devices, 5,000 twin/gets from a real client: every one answered, the node alive', async () => {
    const app = await resultsApp()
    const { client } = await pool.connect(`mqtt://127.0.0.1:${port}`)
    const REQUESTS = 5000
    for (let i = 0; i < REQUESTS; i++) void client.publishAsync(`$hw/events/device/c-${i % DEVICES}/twin/get`, `{"event_id":"g-${i}"}`, { qos: 1 }).catch(() => undefined)
    const deadline = Date.now() + 60_000
    while (app.answered().size < REQUESTS && Date.now() < deadline && node.process.exitCode === null) await new Promise((r) => setTimeout(r, 100))
    assert.equal(node.process.exitCode, null, `the edge process exited:\n${node.output().slice(-2000)}`)
    assert.equal(app.answered().size, REQUESTS)
    assert.doesNotMatch(node.output(), /Maximum call stack size exceeded/)
    await stillServes()
  })
})
