/**
 * The mapper runtime in real processes (the built `tern` command): in-process inside `tern edge`
 * (`mappers.enabled`), and as its own process, `tern mapper <protocol> --broker URL --node NAME`,
 * talking to a `tern edge` only over MQTT. Uses the built-in `virtual` protocol (no hardware).
 */
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { clientPool, type Inbox } from '../support/mqtt.js'
import { scratchDir, startChild } from '../support/resources.js'
import { runTern, startTernEdge, TERN_BIN } from '../support/tern.js'

const MANIFESTS = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: virtual-fan }
spec:
  protocol: virtual
  properties:
    - { name: speed, type: INT, accessMode: ReadWrite, minimum: "0", maximum: "3000" }
    - { name: level, type: INT, accessMode: ReadOnly }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: fan-1 }
spec:
  deviceModelRef: { name: virtual-fan }
  protocol: { protocolName: virtual }
  properties:
    - { name: speed, desired: { value: "1200" }, collectCycle: 200 }
    - { name: level, collectCycle: 200, visitors: { configData: { initial: "7" } } }
`

interface TwinEntry {
  expected?: { value: string }
  actual?: { value: string }
}

describe('mapper runtime: in tern edge and as tern mapper', function () {
  this.timeout(60_000)
  const pool = clientPool()
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  async function edge(extra: Record<string, unknown> = {}): Promise<{ url: string; dir: string }> {
    const scratch = await scratchDir()
    undo.push(() => scratch.remove())
    const devices = join(scratch.path, 'devices')
    await mkdir(devices)
    await writeFile(join(devices, 'fan.yaml'), MANIFESTS)
    const node = await startTernEdge(scratch.path, { node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }] }, ...extra })
    undo.push(() => node.stop())
    return { url: `mqtt://127.0.0.1:${node.listeners[0]?.port}`, dir: scratch.path }
  }

  /** Asks the twin until speed and level are reported as the mapper should have them; the device must be online. */
  async function converged(url: string): Promise<Inbox> {
    const { client, inbox } = await pool.connect(url)
    await client.subscribeAsync(['$hw/events/device/fan-1/#', '$hw/events/node/edge-1/membership/get/result'], { qos: 1 })
    const deadline = Date.now() + 15_000
    let twin: Record<string, TwinEntry> = {}
    for (let i = 0; Date.now() < deadline; i++) {
      await client.publishAsync('$hw/events/device/fan-1/twin/get', JSON.stringify({ event_id: `get-${i}` }), { qos: 1 })
      const got = await inbox.waitFor((m) => m.topic.endsWith('twin/get/result') && m.payload.includes(`"get-${i}"`), 'the twin')
      twin = (JSON.parse(got.payload) as { twin: Record<string, TwinEntry> }).twin
      if (twin.speed?.actual?.value === '1200' && twin.level?.actual?.value === '7') break
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    assert.equal(twin.speed?.expected?.value, '1200')
    assert.equal(twin.speed?.actual?.value, '1200', 'DESIGN §5: the desired speed written, read back and reported: converged')
    assert.equal(twin.level?.actual?.value, '7')
    await client.publishAsync('$hw/events/node/edge-1/membership/get', JSON.stringify({ event_id: 'm' }), { qos: 1 })
    const members = await inbox.waitFor((m) => m.topic.endsWith('membership/get/result'), 'membership')
    assert.equal((JSON.parse(members.payload) as { devices: Array<{ state?: string }> }).devices[0]?.state, 'online')
    return inbox
  }

  it('in-process: mappers.enabled runs the protocol on the node bus', async () => {
    const { url } = await edge({ mappers: { enabled: ['virtual'], heartbeatMs: 0 } })
    await converged(url)
  })

  it('separate process: tern mapper virtual --broker --node converges the twin and reports offline when stopped', async () => {
    const { url, dir } = await edge()
    const mapper = startChild(process.execPath, [TERN_BIN, 'mapper', 'virtual', '--broker', url, '--node', 'edge-1', '--data-dir', join(dir, 'mapper'), '--heartbeat-ms', '0'])
    undo.push(() => mapper.stop())
    await mapper.waitForLine((l) => l.includes('"msg":"mapper ready"'))
    const inbox = await converged(url)
    await mapper.stop()
    assert.deepEqual(await mapper.exited(), { code: 0, signal: null })
    await inbox.waitFor((m) => m.topic.endsWith('/state/update') && m.payload.includes('"offline"'), 'offline after the mapper stopped')
  })

  it('tern mapper refuses an unknown protocol (MAPPER_PROTOCOL_UNKNOWN, exit 1) and a missing --node (USAGE, exit 2)', async () => {
    const unknown = await runTern(['mapper', 'zigbee', '--broker', 'mqtt://127.0.0.1:1', '--node', 'n'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.output, /MAPPER_PROTOCOL_UNKNOWN/)
    const usage = await runTern(['mapper', 'virtual', '--broker', 'mqtt://127.0.0.1:1'])
    assert.equal(usage.code, 2)
    assert.match(usage.output, /USAGE/)
  })
})
