/**
 * The Modbus mapper end to end, as a user runs it: a real `tern edge` process with
 * `mappers.enabled: [modbus]`, devices from manifests, Debian's pymodbus as the device (over TCP,
 * and over RTU with two slaves on one socat pty line), and an MQTT app watching the twin.
 */
import { strict as assert } from 'node:assert'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ask, clientPool, type Connected } from '../support/mqtt.js'
import { FAN_MODEL as MODEL, startPtyPair, startPymodbus, type PymodbusPeer } from '../support/modbus.js'
import { scratchDir } from '../support/resources.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

function fan(name: string, protocol: Record<string, unknown>, desired: string): string {
  return `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${name} }
spec:
  deviceModelRef: { name: fan-model }
  protocol: { protocolName: modbus, configData: ${JSON.stringify(protocol)} }
  properties:
    - name: speed
      desired: { value: "${desired}" }
      collectCycle: 200
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 0, dataType: uint16 } }
    - name: temperature
      collectCycle: 200
      visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 0, limit: 1, scale: 0.1 } }
`
}

interface Twin {
  twin: Record<string, { expected?: { value: string }; actual?: { value: string } }>
}

describe('mappers: Modbus end to end in tern edge (pymodbus peer)', function () {
  this.timeout(60_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  async function edge(devicesYaml: string): Promise<{ node: TernEdgeProcess; app: Connected }> {
    const dir = await scratchDir()
    undo.push(() => dir.remove())
    await mkdir(join(dir.path, 'devices'))
    await writeFile(join(dir.path, 'devices', 'fans.yaml'), devicesYaml)
    const node = await startTernEdge(dir.path, {
      node: { name: 'edge-1' },
      twin: { manifestsDir: join(dir.path, 'devices') },
      mqtt: { listeners: [{ port: 0 }] },
      mappers: { enabled: ['modbus'], heartbeatMs: 0, metricsMs: 300, backoff: { initialMs: 100, maxMs: 800 } },
    })
    undo.push(() => node.stop())
    const app = await pool.connect(`mqtt://127.0.0.1:${node.listeners[0]?.port}`)
    await app.client.subscribeAsync(['$hw/events/device/#', '$hw/events/node/#', '$tern/mappers/#'], { qos: 1 })
    return { node, app }
  }

  /** Asks the twin for the device's twins until `test` holds. */
  async function twinUntil(app: Connected, device: string, test: (t: Twin['twin']) => boolean, what: string): Promise<Twin['twin']> {
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      const answer = await ask(app, `$hw/events/device/${device}/twin/get`)
      const body = JSON.parse(answer.payload) as Twin
      if (test(body.twin)) return body.twin
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`timed out waiting for ${what}`)
  }

  /** Asks the twin for the node's devices until `device` has `state`. */
  async function stateUntil(app: Connected, device: string, state: string): Promise<void> {
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      const answer = await ask(app, '$hw/events/node/edge-1/membership/get')
      const body = JSON.parse(answer.payload) as { devices: Array<{ name: string; state?: string }> }
      if (body.devices.find((d) => d.name === device)?.state === state) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`timed out waiting for ${device} to be ${state}`)
  }

  it('TCP: register → twin actual; spec desired → register written, read back, delta empty; peer restart → offline then online', async () => {
    const peer: PymodbusPeer = await startPymodbus({ mode: 'tcp' })
    undo.push(() => peer.stop())
    await peer.set(1, 'ir', 0, [215])
    await peer.set(1, 'hr', 0, [700])
    const { app } = await edge(`${MODEL}---\n${fan('fan-1', { ip: '127.0.0.1', port: peer.port, slaveID: 1, timeout: 300 }, '1500')}`)

    // The desired value of the spec is written to the holding register and read back.
    const converged = await twinUntil(app, 'fan-1', (t) => t.speed?.actual?.value === '1500' && t.temperature?.actual?.value === '21.5', 'speed 1500 and temperature 21.5')
    assert.equal(converged.speed?.expected?.value, '1500')
    assert.deepEqual(await peer.get(1, 'hr', 0, 1), [1500])
    await stateUntil(app, 'fan-1', 'online')

    // A new value in the device reaches the twin and every app.
    await peer.set(1, 'ir', 0, [230])
    await app.inbox.waitFor((m) => m.topic.endsWith('fan-1/twin/update/document') && m.payload.includes('"current":{"actual":{"value":"23"'), 'document with temperature 23')

    // A desired value from an app: written, read back, delta gone.
    await app.client.publishAsync('$hw/events/device/fan-1/twin/update', '{"event_id":"app","twin":{"speed":{"expected":{"value":"2400"}}}}', { qos: 1 })
    await twinUntil(app, 'fan-1', (t) => t.speed?.actual?.value === '2400', 'speed 2400')
    assert.deepEqual(await peer.get(1, 'hr', 0, 1), [2400])

    // The device dies and comes back on the same port: offline, then online by itself.
    const port = peer.port
    await peer.kill9()
    await app.inbox.waitFor((m) => m.topic.endsWith('fan-1/state/update') && m.payload.includes('"offline"'), 'offline state', 10_000)
    await stateUntil(app, 'fan-1', 'offline')
    const again = await startPymodbus({ mode: 'tcp', port })
    undo.push(() => again.stop())
    await again.set(1, 'ir', 0, [199])
    // back-off is capped at 800 ms: the mapper is back well within the wait
    await stateUntil(app, 'fan-1', 'online')
    // The restarted device lost its register: the twin's expected value (2400) is written again.
    await twinUntil(app, 'fan-1', (t) => t.temperature?.actual?.value === '19.9' && t.speed?.actual?.value === '2400', 'values after the restart')
    assert.deepEqual(await again.get(1, 'hr', 0, 1), [2400])

    // The mapper's metrics count requests and the errors of the outage, by stable code.
    const metrics = await app.inbox.waitFor(
      (m) => m.topic === '$tern/mappers/edge-1/modbus/metrics' && /MODBUS_(CONNECTION_LOST|CONNECT_FAILED)/.test(m.payload),
      'metrics with the outage',
      5000,
    )
    const counts = (JSON.parse(metrics.payload) as { devices: Record<string, Record<string, number>> }).devices
    const device = counts['default/fan-1'] ?? {} // keyed <namespace>/<name>, as docs/mappers.md shows
    assert.ok((device.requests ?? 0) > 0 && (device.ok ?? 0) > 0, JSON.stringify(counts))
  })

  it('RTU: two slaves on one serial line, each converges to its desired value', async () => {
    const dir = await scratchDir()
    undo.push(() => dir.remove())
    const pty = await startPtyPair(dir.path)
    undo.push(() => pty.stop())
    const peer = await startPymodbus({ mode: 'rtu', device: pty.a, baudRate: 19200, slaves: [3, 4] })
    undo.push(() => peer.stop())
    await peer.set(3, 'ir', 0, [101])
    await peer.set(4, 'ir', 0, [202])
    const line = { serialPort: pty.b, baudRate: 19200, timeout: 500 }
    const { app } = await edge([MODEL, fan('fan-3', { ...line, slaveID: 3 }, '300'), fan('fan-4', { ...line, slaveID: 4 }, '400')].join('---\n'))
    await twinUntil(app, 'fan-3', (t) => t.speed?.actual?.value === '300' && t.temperature?.actual?.value === '10.1', 'fan-3 converged')
    await twinUntil(app, 'fan-4', (t) => t.speed?.actual?.value === '400' && t.temperature?.actual?.value === '20.2', 'fan-4 converged')
    assert.deepEqual(await peer.get(3, 'hr', 0, 1), [300])
    assert.deepEqual(await peer.get(4, 'hr', 0, 1), [400])
  })
})
