/**
 * What one connection may make the broker hold. Packet sizes are checked on the
 * fixed header, before the body is buffered and before authentication; before its CONNACK a
 * connection may send only a little; a connection that sends no CONNECT is closed; maxConnections
 * holds over every listener. Each limit that bites is counted in `EdgeBroker.limits`.
 */
import { strict as assert } from 'node:assert'
import { readFile } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import * as mqttPacket from 'mqtt-packet'
import WebSocket from 'ws'
import { parseEdgeConfig } from '../../cli/config.js'
import type { TernError } from '../../schemas/tern-error.js'
import { startEdgeBroker, within } from '../support/edge-broker.js'
import { clientPool, connectPacket, remainingLength, type ClientPool } from '../support/mqtt.js'
import { scratchDir } from '../support/resources.js'
import { startTernEdge } from '../support/tern.js'


interface Raw {
  socket: Socket
  /** everything the broker sent */
  received: () => Buffer
  /** resolves when the broker closed the connection */
  closed: Promise<void>
}

async function rawSocket(pool: ClientPool, port: number): Promise<Raw> {
  const socket = netConnect(port, '127.0.0.1')
  pool.defer(() => socket.destroy())
  socket.on('error', () => {})
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return { socket, received: () => Buffer.concat(chunks), closed }
}


/** A fixed header announcing a packet of `remaining` bytes after it [MQTT-2.2.3]. */
function fixedHeader(type: number, remaining: number): Buffer {
  return Buffer.from([type, ...remainingLength(remaining)])
}

/** Resident set size of a process, bytes (/proc/PID/status VmRSS). */
async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`)
  return Number(kb) * 1024
}

const MiB = 1024 * 1024
const CONNECT_TIMEOUT_MS = 1500
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

describe('broker: packet size and connection limits', function () {
  this.timeout(60_000)
  const pool = clientPool()

  it('a 256 MiB CONNECT announced in the fixed header is refused at the header, before authentication, and tern edge keeps no memory of it', async () => {
    const dir = await scratchDir()
    pool.defer(() => dir.remove())
    const node = await startTernEdge(dir.path, { mqtt: { listeners: [{ port: 0 }] } })
    pool.defer(() => node.stop())
    const port = node.listeners[0]?.port ?? 0
    const before = await rss(node.pid)

    // 64 MiB of the announced 256 MiB, in 1 MiB writes; the broker must close long before.
    const raw = await rawSocket(pool, port)
    let sent = 0
    let open = true
    void raw.closed.then(() => (open = false))
    raw.socket.write(fixedHeader(0x10, 256 * MiB - 1))
    const chunk = Buffer.alloc(MiB, 0x41)
    while (open && sent < 64 * MiB) {
      if (!raw.socket.write(chunk)) await Promise.race([new Promise((resolve) => raw.socket.once('drain', resolve)), raw.closed, sleep(2000)])
      sent += chunk.length
    }
    await within(raw.closed, 10_000, 'the broker closes the connection')
    assert.ok(sent < 32 * MiB, `the broker took ${sent / MiB} MiB before closing`)
    assert.equal(raw.received().length, 0, 'no CONNACK: the CONNECT was never read')
    const after = await rss(node.pid)
    assert.ok(after - before < 16 * MiB, `RSS grew by ${((after - before) / MiB).toFixed(1)} MiB`)
    assert.match(node.output(), /"code":"MQTT_PACKET_TOO_LARGE"/)

    // The broker still serves.
    const { client } = await pool.connect(`mqtt://127.0.0.1:${port}`)
    await client.publishAsync('still/here', 'yes', { qos: 1 })
  })

  it('maxPacketSize: a larger packet after CONNACK closes the connection and is counted; one that fits is delivered', async () => {
    const { broker, url } = await startEdgeBroker(pool, { maxPacketSize: 4096 })
    const { client: sub, inbox } = await pool.connect(url)
    await sub.subscribeAsync('size/#', { qos: 1 })
    const { client: pub } = await pool.connect(url)
    await pub.publishAsync('size/fits', Buffer.alloc(4000), { qos: 1 })
    await inbox.waitFor((m) => m.topic === 'size/fits', 'the message that fits')
    const closed = new Promise<void>((resolve) => pub.once('close', () => resolve()))
    pub.publish('size/big', Buffer.alloc(4096), { qos: 1 }) // 4096 + topic + headers: over the limit
    await within(closed, 5000, 'the broker closes the connection')
    assert.equal(broker.limits.packetTooLarge, 1)
    await sleep(200)
    assert.ok(!inbox.topics().includes('size/big'))
  })

  it('before CONNACK at most 64 KiB: a CONNECT with a 100 KB will, a 100 KB PUBLISH right after CONNECT, or 90 KB of small packets with it are closed without CONNACK', async () => {
    const { broker, port } = await startEdgeBroker(pool, { listeners: [{ port: 0 }, { protocol: 'ws', port: 0 }] })
    const bigWill = await rawSocket(pool, port)
    bigWill.socket.write(connectPacket({ clientId: 'big-will', keepalive: 0, will: { topic: 'w', payload: 'x'.repeat(100_000), qos: 0 } }))
    await within(bigWill.closed, 5000, 'the broker closes the connection')
    assert.equal(bigWill.received().length, 0)

    const bigPublish = await rawSocket(pool, port)
    const publish = (bytes: number): Buffer => mqttPacket.generate({ cmd: 'publish', topic: 'f', payload: Buffer.alloc(bytes), qos: 0, retain: false, dup: false })
    bigPublish.socket.write(Buffer.concat([connectPacket({ clientId: 'big-publish', keepalive: 0 }), publish(100_000)]))
    await within(bigPublish.closed, 5000, 'the broker closes the connection')
    assert.equal(bigPublish.received().length, 0)

    // Packets each within the limit, 90 KB in all: one WebSocket message reaches the broker as
    // one chunk, so this does not depend on how TCP splits it.
    const wsPort = broker.listeners[1]?.port ?? 0
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/mqtt`, 'mqtt')
    pool.defer(() => ws.close())
    ws.on('error', () => {})
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const received: unknown[] = []
    ws.on('message', (data) => received.push(data))
    const wsClosed = new Promise((resolve) => ws.once('close', resolve))
    ws.send(Buffer.concat([connectPacket({ clientId: 'many', keepalive: 0 }), ...Array.from({ length: 30 }, () => publish(3000))]))
    await within(wsClosed, 5000, 'the broker closes the WebSocket')
    assert.equal(received.length, 0, 'no CONNACK')
    assert.equal(broker.limits.connectPhaseTooLarge, 3)
  })

  it('a connection that sends no complete CONNECT within mqtt.connectTimeoutMs is closed and counted', async () => {
    const { broker, port } = await startEdgeBroker(pool, { connectTimeoutMs: CONNECT_TIMEOUT_MS })
    const raw = await rawSocket(pool, port)
    const started = performance.now()
    raw.socket.write(connectPacket({ clientId: 'slow', keepalive: 0 }).subarray(0, 10))
    // closed at the configured value, long before the 10 s default would close it
    await within(raw.closed, DEFAULT_CONNECT_TIMEOUT_MS - 1000, 'the broker closes the connection')
    const elapsed = performance.now() - started
    assert.ok(elapsed >= CONNECT_TIMEOUT_MS - 50, `closed after ${Math.round(elapsed)} ms, before the timeout`)
    assert.equal(raw.received().length, 0)
    assert.equal(broker.limits.connectTimeouts, 1)
  })

  it('mqtt.connectTimeoutMs and mqtt.stallTimeoutMs: 10 s and 30 s by default; a bad value is CONFIG_INVALID, naming the key', () => {
    const mqtt = (extra: Record<string, unknown>): Record<string, unknown> => ({ node: { name: 'edge-1' }, mqtt: extra })
    const defaults = parseEdgeConfig(mqtt({}), 'test').mqtt
    assert.equal(defaults.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS)
    assert.equal(defaults.stallTimeoutMs, 30_000)
    for (const [key, value] of [['connectTimeoutMs', 0], ['connectTimeoutMs', '10s'], ['stallTimeoutMs', -1], ['stallTimeoutMs', 1.5]] as const) {
      assert.throws(
        () => parseEdgeConfig(mqtt({ [key]: value }), 'test'),
        (err: TernError) => err.code === 'CONFIG_INVALID' && err.details.some((d) => d.startsWith(`/mqtt/${key}:`)),
        `${key}: ${value}`,
      )
    }
  })

  it('maxConnections holds over every listener: a further connection is closed at once and counted', async () => {
    const { broker } = await startEdgeBroker(pool, { maxConnections: 3, listeners: [{ port: 0 }, { port: 0 }] })
    const [first, second] = broker.listeners.map((l) => `mqtt://127.0.0.1:${l.port}`) as [string, string]
    const { client: a } = await pool.connect(first)
    await pool.connect(second)
    await pool.connect(first)
    const refused = await rawSocket(pool, broker.listeners[1]?.port ?? 0)
    refused.socket.write(connectPacket({ clientId: 'fourth', keepalive: 0 }))
    await within(refused.closed, 5000, 'the broker closes the connection')
    assert.equal(refused.received().length, 0, 'no CONNACK')
    assert.equal(broker.limits.connectionsRefused, 1)
    await a.endAsync()
    await sleep(100)
    await pool.connect(second) // room again
  })
})
