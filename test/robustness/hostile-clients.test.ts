/**
 * The real `tern edge` process (built dist/, its default limits: mqtt.maxPacketSize 1 MiB,
 * maxConnections 5000, maxQueuedMessages 1000) with two declared devices, run through hostile and
 * careless clients: random bytes, malformed and oversized fixed headers, half-open connections,
 * bursts in one write, 1,000 connections at once, a QoS 1 subscriber that stops reading. After each,
 * a normal client (MQTT.js) must still be served within a generous bound — a QoS 1 round trip and a
 * twin update answered — the node must be alive, and its RSS (/proc/<pid>/status) under a bound
 * (DESIGN.md §3 limits, §9 bad input). The same cases run against a node on its own (devices from
 * manifests) and against a node as it runs in a fleet: a cloud link to `tern cloud`, its devices
 * from the cluster, and edged running pods on a private containerd (where containerd is installed),
 * whose containers must run on untouched. Bounds are generous on purpose: this asserts behaviour on
 * a loaded machine; speed is measured in bench/.
 */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { cp, readFile } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { join, resolve } from 'node:path'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { containerdAvailable } from '../support/containerd.js'
import { connectPacket, controlPacket, mqttString } from '../support/mqtt.js'
import { NODE, podYaml, running, SLEEPING, startPodsWorld, until } from '../support/pods-world.js'
import { scratchDir } from '../support/resources.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

const FIXTURES = resolve(import.meta.dirname, '../fixtures/devices')
/** a normal client's round trip, and a twin update's result, must come within this */
const SERVED_MS = 5000
/** the node's resident memory after each case (an idle node is ~60 MiB, ~90 MiB with edged and a cloud link) */
const RSS_MAX_MIB = 320
const MIB = 1024 * 1024
const PODS = ['busy-1', 'busy-2', 'busy-3']

/** A running node and what the cases need of it; `check` runs after the last case. */
interface Target {
  node: TernEdgeProcess
  check?: () => Promise<void>
}

/** The node on its own: fan-1 and fan-2 from manifests. */
async function alone(undo: Array<() => Promise<void>>): Promise<Target> {
  const scratch = await scratchDir('tern-robust-')
  undo.push(() => scratch.remove())
  const devices = join(scratch.path, 'devices')
  await cp(FIXTURES, devices, { recursive: true })
  const node = await startTernEdge(scratch.path, { node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }] } })
  undo.push(() => node.stop())
  return { node }
}

/**
 * The node in a fleet: linked to `tern cloud` (API emulator, kubectl), fan-1 and fan-2 bound to it
 * in the cluster, edged running three pods on a private containerd. Undefined where containerd is
 * not installed.
 */
async function inFleet(undo: Array<() => Promise<void>>): Promise<Target | undefined> {
  if (!(await containerdAvailable())) return undefined
  const { world, runtime, startEdge } = await startPodsWorld(undo)
  const node = await startEdge()
  const fans = (await readFile(join(FIXTURES, 'fan.yaml'), 'utf8')).replaceAll('spec:\n  deviceModelRef', `spec:\n  nodeName: ${NODE}\n  deviceModelRef`)
  const pods = PODS.map((name) => podYaml(name, NODE, SLEEPING)).join('---\n')
  const applied = await world.kubectl.run(['apply', '-f', '-'], `${fans}\n---\n${pods}`)
  assert.equal(applied.code, 0, applied.stderr)
  const containers = new Map<string, string>()
  for (const pod of PODS) {
    const [first] = await until(`${pod} running at the edge`, () => running(runtime, pod), (c) => c.length === 1, 120_000)
    containers.set(pod, first?.id ?? '')
  }
  await node.waitForLine((l) => l.includes('"msg":"device twin') && l.includes('fan-2'), 60_000).catch(() => undefined)
  return {
    node,
    check: async () => {
      for (const pod of PODS) assert.deepEqual((await running(runtime, pod)).map((c) => c.id), [containers.get(pod)], `${pod}: the same container runs on`)
      const got = await world.kubectl.run(['get', 'node', NODE, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])
      assert.equal(got.stdout, 'True', `the node is Ready in the cluster: ${got.stderr}`)
    },
  }
}

hostileClients('robustness: tern edge under hostile and careless clients', alone)
hostileClients('robustness: tern edge with a cloud link, its devices from the cluster and edged running pods, under hostile and careless clients', inFleet)

function hostileClients(title: string, start: (undo: Array<() => Promise<void>>) => Promise<Target | undefined>): void {
  describe(title, function () {
    this.timeout(120_000)
    let target: Target
    let node: TernEdgeProcess
    let port: number
    const undo: Array<() => Promise<void>> = []
    const sockets = new Set<Socket>()

    before(async function () {
      this.timeout(300_000)
      const started = await start(undo)
      if (started === undefined) this.skip()
      target = started
      node = target.node
      port = node.listeners[0]?.port as number
    })
    afterEach(function () {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    })
    after(async function () {
      this.timeout(120_000)
      for (const fn of undo.splice(0).reverse()) await fn()
    })

    /** A raw TCP connection to the node, destroyed after the test. */
    async function open(): Promise<Socket> {
      const socket = netConnect(port, '127.0.0.1')
      sockets.add(socket)
      socket.on('error', () => {})
      await new Promise<void>((ok, fail) => {
        socket.once('connect', ok)
        socket.once('error', fail)
      })
      return socket
    }

    function closedWithin(socket: Socket, ms: number): Promise<boolean> {
      if (socket.destroyed || socket.readableEnded) return Promise.resolve(true)
      return new Promise((ok) => {
        const timer = setTimeout(() => ok(false), ms)
        socket.once('close', () => {
          clearTimeout(timer)
          ok(true)
        })
      })
    }

    async function rssMiB(): Promise<number> {
      const status = await readFile(`/proc/${node.pid}/status`, 'utf8')
      const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1])
      return kb / 1024
    }

    function alive(): boolean {
      return node.process.exitCode === null && node.process.signalCode === null
    }

    /** Rejects unless `promise` settles within `ms`. */
    async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`${what}: not within ${ms} ms`)), ms)))
      try {
        return await Promise.race([promise, late])
      } finally {
        clearTimeout(timer)
      }
    }

    let probes = 0
    /** A normal MQTT.js client: a QoS 1 round trip through the broker, then a twin update answered. */
    async function served(): Promise<void> {
      const id = `probe-${++probes}`
      const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: id, reconnectPeriod: 0, connectTimeout: SERVED_MS })
      client.on('error', () => {})
      try {
        await within(new Promise((ok, fail) => (client.once('connect', ok), client.once('close', () => fail(new Error('closed before CONNACK'))))), SERVED_MS, `${id} CONNACK`)
        const topic = `probe/${id}`
        const result = '$hw/events/device/fan-1/twin/update/result'
        await within(client.subscribeAsync([topic, result], { qos: 1 }), SERVED_MS, `${id} SUBACK`)
        const got = (wanted: string, test: (payload: string) => boolean): Promise<void> =>
          new Promise((ok) => {
            const onMessage = (t: string, payload: Buffer): void => {
              if (t === wanted && test(payload.toString('utf8'))) {
                client.off('message', onMessage)
                ok()
              }
            }
            client.on('message', onMessage)
          })
        const echoed = got(topic, (p) => p === id)
        await within(client.publishAsync(topic, id, { qos: 1 }).then(() => echoed), SERVED_MS, `${id} QoS 1 round trip`)
        const answered = got(result, (p) => p.includes(`"event_id":"${id}"`))
        const update = JSON.stringify({ event_id: id, timestamp: Date.now(), twin: { mode: { actual: { value: id } } } })
        await within(client.publishAsync('$hw/events/device/fan-1/twin/update', update, { qos: 1 }).then(() => answered), SERVED_MS, `${id} twin update result`)
      } finally {
        client.end(true)
      }
      assert.ok(alive(), 'the node is alive')
      const rss = await rssMiB()
      assert.ok(rss < RSS_MAX_MIB, `RSS ${rss.toFixed(1)} MiB under ${RSS_MAX_MIB}`)
    }

    it('serves a normal client to begin with', async function () {
      await served()
    })

    it('random bytes on 100 new connections: each that does not start like a CONNECT is closed, others are served', async function () {
      const opened = await Promise.all(Array.from({ length: 100 }, () => open()))
      const garbage = opened.map(() => randomBytes(16 * 1024))
      opened.forEach((socket, i) => socket.write(garbage[i] as Buffer))
      await served()
      // [MQTT-3.1.0-1]: the first packet must be a CONNECT (0x10); one that is not closes the connection
      const closed = await Promise.all(opened.map((socket, i) => (garbage[i]?.[0] === 0x10 ? Promise.resolve(true) : closedWithin(socket, SERVED_MS))))
      assert.equal(closed.filter((c) => !c).length, 0)
    })

    it('an invalid remaining-length varint (five bytes) closes the connection', async function () {
      const socket = await open()
      socket.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]))
      assert.ok(await closedWithin(socket, SERVED_MS), 'closed')
      await served()
    })


    it('a CONNECT announcing 200 MiB is refused on its fixed header, before it is buffered (maxPacketSize 1 MiB)', async function () {
      const before = await rssMiB()
      const socket = await open()
      const announced = 200 * MIB
      const varint: number[] = []
      for (let n = announced; n > 0; n = Math.floor(n / 128)) varint.push((n % 128) | (n >= 128 ? 0x80 : 0))
      socket.write(Buffer.from([0x10, ...varint]))
      // keep sending the body, 1 MiB at a time, until the node closes the connection
      const chunk = Buffer.alloc(MIB)
      let sent = 0
      let closed = false
      socket.once('close', () => (closed = true))
      while (!closed && sent < 64 * MIB) {
        if (!socket.write(chunk)) await new Promise((ok) => setTimeout(ok, 100)) // the node reads slowly or not at all
        sent += MIB
      }
      assert.ok(await closedWithin(socket, SERVED_MS), `closed (after ${sent / MIB} MiB sent)`)
      assert.ok(sent < 16 * MIB, `closed before much was buffered: ${sent / MIB} MiB sent`)
      assert.ok((await rssMiB()) - before < 32, 'RSS did not grow with the announced packet')
      await served()
    })


    it('a PUBLISH over maxPacketSize after CONNECT closes the connection', async function () {
      const socket = await open()
      socket.write(connectPacket({ clientId: 'big-publisher', keepalive: 0 }))
      await new Promise((ok) => socket.once('data', ok))
      socket.write(controlPacket(0x30, mqttString('big/one'), Buffer.alloc(2 * MIB, 0x61)))
      assert.ok(await closedWithin(socket, SERVED_MS), 'closed')
      await served()
    })


    it('a QoS 1 subscriber that never reads its socket costs only itself (maxQueuedMessages 1000)', async function () {
      const slow = await open()
      slow.write(connectPacket({ clientId: 'stalled', keepalive: 0 }))
      await new Promise((ok) => slow.once('data', ok))
      slow.write(controlPacket(0x82, Buffer.from([0, 1]), mqttString('slow/#'), Buffer.from([1])))
      await new Promise((ok) => slow.once('data', ok))
      slow.pause() // from here on the stalled client reads nothing: the kernel buffers fill, then the node's
      const publisher = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 })
      publisher.on('error', () => {})
      try {
        await new Promise((ok) => publisher.once('connect', ok))
        const payload = Buffer.alloc(4096, 0x63)
        const flowing = Promise.all(Array.from({ length: 5000 }, () => publisher.publishAsync('slow/x', payload, { qos: 1 })))
        flowing.catch(() => undefined)
        // while the messages flow to the stalled subscriber (20 MB, far past any socket buffer)
        await new Promise((ok) => setTimeout(ok, 1000))
        await served()
        await within(flowing, 30_000, "the publisher's 5,000 PUBACKs")
        await served()
      } finally {
        publisher.end(true)
      }
    })

    it('300 half-open connections (a partial CONNECT, then silence) do not stop others being served', async function () {
      const partial = connectPacket({ clientId: 'half-open', keepalive: 60 }).subarray(0, 6)
      const opened = await Promise.all(Array.from({ length: 300 }, () => open()))
      for (const socket of opened) socket.write(partial)
      await served()
    })

    it('a burst of 10,000 QoS 0 and 2,000 QoS 1 publishes in one write: every QoS 1 acknowledged, others served', async function () {
      const socket = await open()
      const parser = mqttPacket.parser({ protocolVersion: 4 })
      let acks = 0
      let connacked: () => void = () => undefined
      const connack = new Promise<void>((ok) => (connacked = ok))
      parser.on('packet', (packet) => {
        if (packet.cmd === 'connack') connacked()
        if (packet.cmd === 'puback') acks++
      })
      socket.on('data', (chunk: Buffer) => parser.parse(chunk))
      socket.write(connectPacket({ clientId: 'burster', keepalive: 0 }))
      await connack
      const payload = Buffer.alloc(100, 0x62)
      const burst = [
        ...Array.from({ length: 10_000 }, () => mqttPacket.generate({ cmd: 'publish', topic: 'burst/q0', payload, qos: 0, retain: false, dup: false })),
        ...Array.from({ length: 2000 }, (_, i) => mqttPacket.generate({ cmd: 'publish', topic: 'burst/q1', payload, qos: 1, messageId: i + 1, retain: false, dup: false })),
      ]
      socket.write(Buffer.concat(burst))
      await served()
      const deadline = Date.now() + 30_000
      while (acks < 2000 && Date.now() < deadline && !socket.destroyed) await new Promise((ok) => setTimeout(ok, 20))
      assert.equal(acks, 2000)
    })

    it('5,000 twin/get requests in one write while results are subscribed: all acknowledged, the node stays up', async function () {
      const listener = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 })
      listener.on('error', () => {})
      try {
        await new Promise((ok) => listener.once('connect', ok))
        await listener.subscribeAsync('$hw/events/device/+/twin/get/result', { qos: 1 })
        let results = 0
        listener.on('message', () => results++)
        const socket = await open()
        const parser = mqttPacket.parser({ protocolVersion: 4 })
        let acks = 0
        parser.on('packet', (packet) => {
          if (packet.cmd === 'connack') {
            const gets = Array.from({ length: 5000 }, (_, i) =>
              mqttPacket.generate({ cmd: 'publish', topic: `$hw/events/device/fan-${(i % 2) + 1}/twin/get`, payload: Buffer.from(JSON.stringify({ event_id: `g${i}`, timestamp: 0 })), qos: 1, messageId: i + 1, retain: false, dup: false }),
            )
            socket.write(Buffer.concat(gets))
          }
          if (packet.cmd === 'puback') acks++
        })
        socket.on('data', (chunk: Buffer) => parser.parse(chunk))
        socket.write(connectPacket({ clientId: 'twin-burster', keepalive: 0 }))
        const deadline = Date.now() + 60_000
        while ((acks < 5000 || results < 5000) && Date.now() < deadline && alive()) await new Promise((ok) => setTimeout(ok, 20))
        assert.ok(alive(), 'the node is alive')
        assert.equal(acks, 5000)
        assert.equal(results, 5000)
        await served()
      } finally {
        listener.end(true)
      }
    })

    it('1,000 connections at once are all accepted (maxConnections 5000), and others are still served', async function () {
      const opened = await Promise.all(Array.from({ length: 1000 }, () => open()))
      const connacks = opened.map(
        (socket, i) =>
          new Promise<number>((ok) => {
            socket.once('data', (chunk: Buffer) => ok(chunk[0] === 0x20 ? (chunk[3] ?? -1) : -1))
            socket.once('close', () => ok(-2))
            socket.write(connectPacket({ clientId: `many-${i}`, keepalive: 0 }))
          }),
      )
      const codes = await within(Promise.all(connacks), 60_000, '1,000 CONNACKs')
      assert.deepEqual(codes.filter((c) => c !== 0), [], 'every CONNACK accepted')
      await served()
    })

    // 10 MB in one PUBLISH closes the connection at its fixed header (maxPacketSize, above); just under 1 MiB reaches the twin
    it('nested JSON just under maxPacketSize on a twin topic, three times: each refused unparsed with 400 (twin.maxRequestBytes), others served meanwhile', async function () {
      const listener = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 })
      listener.on('error', () => {})
      try {
        await new Promise((ok) => listener.once('connect', ok))
        await listener.subscribeAsync('$hw/events/device/fan-2/twin/update/result', { qos: 1 })
        const codes: number[] = []
        listener.on('message', (_, payload: Buffer) => codes.push((JSON.parse(payload.toString('utf8')) as { code?: number }).code ?? 200))
        const depth = 500_000
        const nested = Buffer.from(`{"twin":{"mode":${'['.repeat(depth)}${']'.repeat(depth)}}}`)
        // sent from a raw socket in one write each: the test's own event loop never parses it
        const socket = await open()
        socket.write(connectPacket({ clientId: 'nested-json', keepalive: 0 }))
        await new Promise((ok) => socket.once('data', ok))
        for (let i = 1; i <= 3; i++) socket.write(controlPacket(0x32, mqttString('$hw/events/device/fan-2/twin/update'), Buffer.from([0, i]), nested))
        await served()
        const deadline = Date.now() + 30_000
        while (codes.length < 3 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 20))
        assert.deepEqual(codes, [400, 400, 400])
      } finally {
        listener.end(true)
      }
    })

    it('a persistent session subscribing to 20,000 filters in one SUBSCRIBE: granted, others served meanwhile', async function () {
      const many = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'many-filters', clean: false })
      many.on('error', () => {})
      try {
        await new Promise((ok) => many.once('connect', ok))
        const filters = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`sensors/dev-${i}/+/value`, { qos: 1 as const }]))
        const granted = many.subscribeAsync(filters)
        await served()
        assert.equal((await within(granted, 60_000, '20,000 SUBACK codes')).length, 20_000)
      } finally {
        many.end(true)
      }
      // discarded by a clean session of the same id, so that later cases meet a broker without it
      const clean = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'many-filters', clean: true })
      clean.on('error', () => {})
      await within(new Promise((ok) => clean.once('connect', ok)), SERVED_MS * 2, 'the clean CONNECT')
      clean.end(true)
      await served()
    })

    it('the node ran on throughout: alive, and what else it runs untouched', async function () {
      await served()
      await target.check?.()
    })
  })
}
