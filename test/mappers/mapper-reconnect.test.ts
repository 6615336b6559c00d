/**
 * A separate `tern mapper` process across a lost MQTT connection: its client bus is a clean
 * session, so membership/updated and deltas published while it was away never reach it. When the
 * connection comes back it asks for its devices again (added and removed ones are served or stopped)
 * and for the twins of the devices it kept (a desired value set meanwhile is written). Real
 * processes: the built `tern`, the `virtual` protocol.
 */
import assert from 'node:assert/strict'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { clientPool, type ClientPool } from '../support/mqtt.js'
import { scratchDir, startChild, type Child } from '../support/resources.js'
import { startTernEdge, TERN_BIN, type TernEdgeProcess } from '../support/tern.js'

const MODEL = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: virtual-fan }
spec:
  protocol: virtual
  properties:
    - { name: speed, type: INT, accessMode: ReadWrite, minimum: "0", maximum: "3000" }
`

const fan = (name: string, speed: string): string => `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${name} }
spec:
  deviceModelRef: { name: virtual-fan }
  protocol: { protocolName: virtual }
  properties:
    - { name: speed, desired: { value: "${speed}" }, collectCycle: 200 }
`

interface TwinEntry {
  expected?: { value: string }
  actual?: { value: string }
}

/** Asks the twin until `device`'s reported speed is `speed` (the mapper wrote and read it back); fails after 20 s. */
async function speedReported(pool: ClientPool, url: string, device: string, speed: string): Promise<void> {
  const { client, inbox } = await pool.connect(url)
  await client.subscribeAsync(`$hw/events/device/${device}/twin/get/result`, { qos: 1 })
  const deadline = Date.now() + 20_000
  let twin: Record<string, TwinEntry> = {}
  for (let i = 0; Date.now() < deadline; i++) {
    await client.publishAsync(`$hw/events/device/${device}/twin/get`, JSON.stringify({ event_id: `get-${i}` }), { qos: 1 })
    const got = await inbox.waitFor((m) => m.payload.includes(`"get-${i}"`), `the twin of ${device}`)
    twin = (JSON.parse(got.payload) as { twin?: Record<string, TwinEntry> }).twin ?? {}
    if (twin.speed?.actual?.value === speed) break
    await sleep(200)
  }
  await client.endAsync()
  assert.equal(twin.speed?.actual?.value, speed, `${device}: the mapper wrote ${speed} and reported it: ${JSON.stringify(twin)}`)
}

/** The devices the twin lists for edge-1. */
async function members(pool: ClientPool, url: string): Promise<string[]> {
  const { client, inbox } = await pool.connect(url)
  await client.subscribeAsync('$hw/events/node/edge-1/membership/get/result', { qos: 1 })
  await client.publishAsync('$hw/events/node/edge-1/membership/get', JSON.stringify({ event_id: 'members' }), { qos: 1 })
  const got = await inbox.waitFor((m) => m.payload.includes('"members"'), 'the membership')
  await client.endAsync()
  return (JSON.parse(got.payload) as { devices: Array<{ name: string }> }).devices.map((d) => d.name).sort()
}

/** A TCP relay to `target` whose connections can be cut (and new ones refused) and then let through again. */
async function cuttableRelay(target: number): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  let open = true
  const sockets = new Set<Socket>()
  const server = createServer((inbound) => {
    if (!open) return inbound.destroy()
    const outbound = netConnect(target, '127.0.0.1')
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        sockets.delete(s)
        inbound.destroy()
        outbound.destroy()
      })
    }
    inbound.pipe(outbound).pipe(inbound)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const cut = (): void => {
    open = false
    for (const s of sockets) s.destroy()
  }
  return {
    port: (server.address() as AddressInfo).port,
    cut,
    restore: () => (open = true),
    close: () => {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

describe('tern mapper: after its MQTT connection comes back', function () {
  this.timeout(120_000)
  const pool = clientPool()

  async function node(): Promise<{ dir: string; devices: string; edgeConfig: (port: number) => Record<string, unknown> }> {
    const scratch = await scratchDir()
    pool.defer(() => scratch.remove())
    const devices = join(scratch.path, 'devices')
    await mkdir(devices)
    await writeFile(join(devices, 'model.yaml'), MODEL)
    await writeFile(join(devices, 'fan-1.yaml'), fan('fan-1', '1200'))
    const edgeConfig = (port: number): Record<string, unknown> => ({ node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port }] } })
    return { dir: scratch.path, devices, edgeConfig }
  }

  function startMapper(dir: string, port: number): Child {
    const mapper = startChild(process.execPath, [TERN_BIN, 'mapper', 'virtual', '--broker', `mqtt://127.0.0.1:${port}`, '--node', 'edge-1', '--data-dir', join(dir, 'mapper'), '--heartbeat-ms', '0'])
    pool.defer(() => mapper.stop())
    return mapper
  }

  async function edge(dir: string, config: Record<string, unknown>): Promise<TernEdgeProcess> {
    const started = await startTernEdge(dir, config)
    pool.defer(() => started.stop())
    return started
  }

  it('tern edge restarted with a device added and one removed meanwhile: the mapper serves the new one and stops the old one', async () => {
    const { dir, devices, edgeConfig } = await node()
    const first = await edge(dir, edgeConfig(0))
    const port = first.listeners[0]?.port ?? 0
    const url = `mqtt://127.0.0.1:${port}`
    const mapper = startMapper(dir, port)
    await mapper.waitForLine((l) => l.includes('"msg":"mapper ready"'))
    await speedReported(pool, url, 'fan-1', '1200')

    await first.stop()
    await rm(join(devices, 'fan-1.yaml'))
    await writeFile(join(devices, 'fan-2.yaml'), fan('fan-2', '900'))
    await edge(dir, edgeConfig(port)) // the same port, as a restarted broker has
    assert.deepEqual(await members(pool, url), ['fan-2'])

    await speedReported(pool, url, 'fan-2', '900')
    await mapper.waitForLine((l) => l.includes('"device":"default/fan-1"') && l.includes('"why":"removed"'), 20_000)
  })

  it('a cut link: a device added and a desired value set meanwhile reach the mapper when the link is back', async () => {
    const { dir, devices, edgeConfig } = await node()
    const port = (await edge(dir, edgeConfig(0))).listeners[0]?.port ?? 0
    const url = `mqtt://127.0.0.1:${port}`
    const relay = await cuttableRelay(port)
    pool.defer(() => relay.close())
    const mapper = startMapper(dir, relay.port)
    await mapper.waitForLine((l) => l.includes('"msg":"mapper ready"'))
    await speedReported(pool, url, 'fan-1', '1200')

    relay.cut()
    await writeFile(join(devices, 'fan-2.yaml'), fan('fan-2', '900'))
    const deadline = Date.now() + 20_000
    while ((await members(pool, url)).length < 2 && Date.now() < deadline) await sleep(200)
    assert.deepEqual(await members(pool, url), ['fan-1', 'fan-2'], 'the twin took fan-2 while the mapper was away')
    // after the manifests were read again (they set fan-1's desired 1200 again)
    const { client, inbox } = await pool.connect(url)
    await client.subscribeAsync('$hw/events/device/fan-1/twin/update/result', { qos: 1 })
    await client.publishAsync('$hw/events/device/fan-1/twin/update', JSON.stringify({ event_id: 'set', twin: { speed: { expected: { value: '1500' } } } }), { qos: 1 })
    await inbox.waitFor((m) => m.payload.includes('"set"'), 'the twin took the desired value')
    relay.restore()

    await speedReported(pool, url, 'fan-2', '900')
    await speedReported(pool, url, 'fan-1', '1500')
  })
})
