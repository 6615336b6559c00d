/**
 * Partitions (DESIGN.md §9): the edge and its Modbus device run in their own network
 * namespace, CloudHub is reached over a veth pair, and the link is cut (link down or iptables
 * DROP) while desired values change in the cloud and reported and edge-owned values change at the
 * edge. After healing everything converges and nothing is lost — also when the edge restarts
 * during the cut. The ownership rule of DESIGN.md §5 decides the one conflict: the cloud-owned
 * `speed` set locally during the cut is reverted to the spec's desired value.
 */
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { registerUntil, startCloudEdge, startCloudWorld, statusUntil, type CloudWorld } from '../support/cloud.js'
import { startPymodbus, type PymodbusPeer } from '../support/modbus.js'
import { makeNetnsPair, netnsUnavailable, type CutMode, type NetnsPair } from '../support/netns.js'
import { scratchDir, type Child } from '../support/resources.js'
import type { TernEdgeProcess } from '../support/tern.js'

const run = promisify(execFile)
const HUB_PORT = 10000

const MODEL = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: pump-model, namespace: default }
spec:
  protocol: modbus
  properties:
    - { name: speed, type: INT, accessMode: ReadWrite, minimum: "0", maximum: "3000" }
    - { name: mode, type: INT, accessMode: ReadWrite }
    - { name: temperature, type: FLOAT, accessMode: ReadOnly }
`

function pump(node: string, modbusPort: number, desired: string): string {
  return `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: pump-1, namespace: default }
spec:
  nodeName: ${node}
  deviceModelRef: { name: pump-model }
  protocol: { protocolName: modbus, configData: { ip: 127.0.0.1, port: ${modbusPort}, slaveID: 1, timeout: 300 } }
  properties:
    - name: speed
      desired: { value: "${desired}" }
      collectCycle: 100
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 0, dataType: uint16 } }
    - name: mode
      collectCycle: 100
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 1, dataType: uint16 } }
    - name: temperature
      collectCycle: 100
      visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 0, limit: 1, scale: 0.1 } }
`
}

describe('cloud sync under partitions: edge in its own network namespace', function () {
  this.timeout(180_000)
  const undo: Array<() => Promise<void>> = []
  before(function () {
    const why = netnsUnavailable()
    if (why !== undefined) this.skip()
  })
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  async function setUp(): Promise<{ world: CloudWorld; pair: NetnsPair; peer: PymodbusPeer; startEdge: () => Promise<TernEdgeProcess> }> {
    const pair = await makeNetnsPair()
    undo.push(() => pair.remove())
    const world = await startCloudWorld(undo, { serverIps: [pair.cloudIp] })
    await pair.bridge(world.cloud.hubPort, HUB_PORT, world.dir)
    const peer = await startPymodbus({ mode: 'tcp' }, ['/usr/sbin/ip', 'netns', 'exec', pair.edgeNs])
    undo.push(() => peer.stop())
    await peer.set(1, 'ir', 0, [200])
    const edgeDir = await scratchDir()
    undo.push(() => edgeDir.remove())
    const spawn = (cmd: string, args: readonly string[]): Child => pair.spawn(pair.edgeNs, cmd, args)
    const startEdge = (): Promise<TernEdgeProcess> => startCloudEdge(world, 'edge-p', `wss://${pair.cloudIp}:${HUB_PORT}`, { spawn, dir: edgeDir.path })
    const applied = await world.kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${pump('edge-p', peer.port, '1000')}`)
    assert.equal(applied.code, 0, applied.stderr)
    return { world, pair, peer, startEdge }
  }

  /** A local app at the edge sets `expected` of a property (mosquitto_pub inside the edge namespace). */
  async function localDesired(pair: NetnsPair, edge: TernEdgeProcess, property: string, value: string): Promise<void> {
    const port = String(edge.listeners[0]?.port)
    const body = JSON.stringify({ event_id: `local-${property}`, twin: { [property]: { expected: { value } } } })
    await run('/usr/sbin/ip', ['netns', 'exec', pair.edgeNs, '/usr/bin/mosquitto_pub', '-h', '127.0.0.1', '-p', port, '-q', '1', '-t', '$hw/events/device/pump-1/twin/update', '-m', body])
  }

  async function converged(world: CloudWorld, peer: PymodbusPeer, expect: { speed: number; mode: number; temperature: string }): Promise<void> {
    await registerUntil(peer, expect.speed)
    await statusUntil(
      world.kubectl,
      'pump-1',
      (t) =>
        t.get('speed')?.reported?.value === String(expect.speed) &&
        t.get('speed')?.observedDesired?.value === String(expect.speed) &&
        t.get('mode')?.reported?.value === String(expect.mode) &&
        // mode is edge-owned: it has an expected (observedDesired) only once a local app set one
        t.get('mode')?.observedDesired?.value === (expect.mode === 0 ? undefined : String(expect.mode)) &&
        t.get('temperature')?.reported?.value === expect.temperature,
      `status converged to ${JSON.stringify(expect)}`,
      30_000,
    )
    assert.deepEqual(await peer.get(1, 'hr', 0, 2), [expect.speed, expect.mode])
  }

  for (const mode of ['link-down', 'iptables-drop'] as CutMode[]) {
    it(`${mode}: changes on both sides during the cut converge after healing; the cloud-owned value wins`, async () => {
      const { world, pair, peer, startEdge } = await setUp()
      const edge = await startEdge()
      await converged(world, peer, { speed: 1000, mode: 0, temperature: '20' })

      await pair.cut(mode)
      // cloud side: a new desired value for the cloud-owned speed
      const patched = await world.kubectl.run(['patch', 'device', 'pump-1', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/properties/0/desired/value","value":"2000"}]'])
      assert.equal(patched.code, 0, patched.stderr)
      // edge side: the device reports a new temperature, a local app sets the edge-owned mode, and
      // (a conflict) the cloud-owned speed
      await peer.set(1, 'ir', 0, [215])
      await localDesired(pair, edge, 'mode', '7')
      await localDesired(pair, edge, 'speed', '999')
      await registerUntil(peer, 999)
      // nothing crosses the cut
      await new Promise((r) => setTimeout(r, 1500))
      const during = await statusUntil(world.kubectl, 'pump-1', () => true, 'status')
      assert.equal(during.get('temperature')?.reported?.value, '20')
      assert.equal(during.get('mode')?.reported?.value, '0')

      await pair.heal()
      await converged(world, peer, { speed: 2000, mode: 7, temperature: '21.5' })
    })
  }

  it('edge restarted during the cut: its offline changes reach the cloud, the cloud’s reach the device', async () => {
    const { world, pair, peer, startEdge } = await setUp()
    const edge = await startEdge()
    await converged(world, peer, { speed: 1000, mode: 0, temperature: '20' })

    await pair.cut('link-down')
    await localDesired(pair, edge, 'mode', '5')
    await peer.set(1, 'ir', 0, [222])
    await registerUntil(peer, 1000)
    // wait until the edge has read the new temperature before stopping it
    await new Promise((r) => setTimeout(r, 1000))
    await edge.stop()
    const patched = await world.kubectl.run(['patch', 'device', 'pump-1', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/properties/0/desired/value","value":"1500"}]'])
    assert.equal(patched.code, 0, patched.stderr)
    await startEdge() // still cut: serves its persisted devices, keeps its outbox
    await peer.set(1, 'ir', 0, [233])
    await new Promise((r) => setTimeout(r, 1000))

    await pair.heal()
    await converged(world, peer, { speed: 1500, mode: 5, temperature: '23.3' })
  })
})
