/**
 * Cloud sync end to end with real processes (DESIGN.md §5, desired state end to end): the Kubernetes API
 * emulator, `tern cloud`, `tern edge` with the Modbus mapper, Debian's pymodbus as the device and
 * the real `kubectl`. An operator applies a model and a device, patches a desired value and reads
 * the reported value back; deleting the device removes it from the edge.
 */
import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { fanDevice, memberUntil, MODEL, registerUntil, startCloudEdge, startCloudWorld, statusUntil } from '../support/cloud.js'
import { holdDefaultPorts } from '../support/default-ports.js'
import { startPymodbus } from '../support/modbus.js'
import { ask, clientPool } from '../support/mqtt.js'

const clusters: Array<{ title: string; kubeconfig?: string }> = [{ title: 'the API emulator' }]
// The same scenario against a real cluster when KUBECONFIG is set (tern cloud and the edge run
// here; the cluster needs the CRDs applied by an admin: this suite applies them).
if (process.env.KUBECONFIG !== undefined && process.env.KUBECONFIG !== '') clusters.push({ title: 'the real cluster of KUBECONFIG', kubeconfig: process.env.KUBECONFIG })

for (const cluster of clusters) describe(`cloud sync end to end on ${cluster.title}: kubectl → tern cloud → tern edge → Modbus device`, function () {
  this.timeout(120_000)
  // Nothing of it may need a port tern listens on by default (another run or someone's node may
  // hold them): the suite holds them itself while it runs.
  let release: () => Promise<void> = async () => {}
  before(async () => {
    release = await holdDefaultPorts()
  })
  after(() => release())
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  it('apply → the edge serves the twin; patch desired → register written, status reported == observedDesired == desired; delete → dropped', async () => {
    const world = await startCloudWorld(undo, cluster.kubeconfig === undefined ? {} : { kubeconfig: cluster.kubeconfig })
    const peer = await startPymodbus({ mode: 'tcp' })
    undo.push(() => peer.stop())
    await peer.set(1, 'ir', 0, [215])
    await peer.set(1, 'hr', 0, [0])
    const edge = await startCloudEdge(world, 'edge-1', `wss://127.0.0.1:${world.cloud.hubPort}`)
    const app = await pool.connect(`mqtt://127.0.0.1:${edge.listeners[0]?.port}`)
    await app.client.subscribeAsync(['$hw/events/#'], { qos: 1 })

    // kubectl apply a model and a device bound to edge-1: the edge serves its twin.
    const applied = await world.kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${fanDevice('fan-1', 'edge-1', peer.port, '1200')}`)
    assert.equal(applied.code, 0, applied.stderr)
    await memberUntil(app, 'edge-1', (names) => names.includes('fan-1'), 'fan-1 to be a member of edge-1')
    await registerUntil(peer, 1200)
    const twins = await statusUntil(world.kubectl, 'fan-1', (t) => t.get('speed')?.reported?.value === '1200' && t.get('temperature')?.reported?.value === '21.5', 'speed 1200 and temperature 21.5 reported')
    assert.equal(twins.get('speed')?.observedDesired?.value, '1200')
    assert.equal(twins.get('speed')?.reported?.metadata?.type, 'int')
    assert.match(twins.get('speed')?.reported?.metadata?.timestamp ?? '', /^\d+$/)

    // kubectl patch the desired value: the register is written and the status converges.
    const started = Date.now()
    const patched = await world.kubectl.run(['patch', 'device', 'fan-1', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/properties/0/desired/value","value":"2400"}]'])
    assert.equal(patched.code, 0, patched.stderr)
    await registerUntil(peer, 2400)
    const writtenMs = Date.now() - started
    await statusUntil(world.kubectl, 'fan-1', (t) => t.get('speed')?.reported?.value === '2400' && t.get('speed')?.observedDesired?.value === '2400', 'speed 2400 reported and observed')
    const printed = await world.kubectl.run(['get', 'devices'])
    assert.match(printed.stdout, /fan-1\s+edge-1\s+fan-model/)
    assert.ok(writtenMs < 10_000, `patch → register took ${writtenMs} ms`)

    // A device value changes: the status follows.
    await peer.set(1, 'ir', 0, [230])
    await statusUntil(world.kubectl, 'fan-1', (t) => t.get('temperature')?.reported?.value === '23', 'temperature 23 reported')

    // kubectl delete: the edge drops the device.
    const deleted = await world.kubectl.run(['delete', 'device', 'fan-1'])
    assert.equal(deleted.code, 0, deleted.stderr)
    await memberUntil(app, 'edge-1', (names) => !names.includes('fan-1'), 'fan-1 to leave edge-1')
    const gone = await ask(app, '$hw/events/device/fan-1/twin/get')
    assert.match(gone.payload, /"code":404/)
  })

  it('tern cloud restarts: the edge reconnects, gets the desired value set meanwhile, and reports what changed meanwhile', async () => {
    const world = await startCloudWorld(undo, cluster.kubeconfig === undefined ? {} : { kubeconfig: cluster.kubeconfig })
    const peer = await startPymodbus({ mode: 'tcp' })
    undo.push(() => peer.stop())
    await peer.set(1, 'ir', 0, [100])
    await startCloudEdge(world, 'edge-r', `wss://127.0.0.1:${world.cloud.hubPort}`)
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${fanDevice('fan-r', 'edge-r', peer.port, '500')}`)).code, 0)
    await statusUntil(world.kubectl, 'fan-r', (t) => t.get('speed')?.reported?.value === '500' && t.get('temperature')?.reported?.value === '10', 'first status')

    await world.cloud.stop()
    const patched = await world.kubectl.run(['patch', 'device', 'fan-r', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/properties/0/desired/value","value":"900"}]'])
    assert.equal(patched.code, 0, patched.stderr)
    await peer.set(1, 'ir', 0, [125])
    await new Promise((r) => setTimeout(r, 500)) // the edge reads 12.5 while the cloud is away
    await world.restartCloud()
    await registerUntil(peer, 900)
    await statusUntil(world.kubectl, 'fan-r', (t) => t.get('speed')?.reported?.value === '900' && t.get('speed')?.observedDesired?.value === '900' && t.get('temperature')?.reported?.value === '12.5', 'status after the restart')
  })

  it('an edge with a wrong secret is refused and serves no cloud devices', async () => {
    const world = await startCloudWorld(undo, cluster.kubeconfig === undefined ? {} : { kubeconfig: cluster.kubeconfig })
    await writeFile(world.secretFile, 'not-the-secret\n') // the edge reads it; the cloud read the right one at start
    const edge = await startCloudEdge(world, 'edge-x', `wss://127.0.0.1:${world.cloud.hubPort}`)
    await edge.waitForLine((l) => l.includes('CLOUD_AUTH_FAILED'), 10_000)
    await world.cloud.waitForLine((l) => l.includes('CLOUD_AUTH_FAILED'), 10_000)
  })
})
