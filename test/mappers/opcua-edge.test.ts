/**
 * The OPC-UA mapper inside a real `tern edge` (`mappers.enabled: [opcua]`), serving
 * examples/opcua/devices/boiler.yaml (SignAndEncrypt, user name with the password from an
 * environment variable, nodeID and browse path visitors) against a node-opcua server process:
 * values reach the twin, the desired counter reaches the server, the PKI is under the node's data dir.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { clientPool } from '../support/mqtt.js'
import { startOpcuaServer } from '../support/opcua.js'
import { freePort, scratchDir } from '../support/resources.js'
import { startTernEdge } from '../support/tern.js'

const EXAMPLE = resolve(import.meta.dirname, '../../examples/opcua/devices/boiler.yaml')

interface TwinEntry {
  expected?: { value: string }
  actual?: { value: string }
}

describe('opcua mapper in tern edge', function () {
  this.timeout(90_000)
  const pool = clientPool()
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it('examples/opcua/devices/boiler.yaml: values and desired values flow over SignAndEncrypt with a user name', async () => {
    const scratch = await scratchDir('tern-opcua-edge-')
    undo.push(() => scratch.remove())
    const peer = await startOpcuaServer({ port: await freePort(), pki: join(scratch.path, 'server-pki') })
    undo.push(() => peer.stop())
    const devices = join(scratch.path, 'devices')
    await mkdir(devices)
    await writeFile(join(devices, 'boiler.yaml'), (await readFile(EXAMPLE, 'utf8')).replace('opc.tcp://127.0.0.1:4840', peer.url))
    process.env.BOILER_OPCUA_PASSWORD = 's3cret'
    const node = await startTernEdge(scratch.path, { node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }] }, mappers: { enabled: ['opcua'], heartbeatMs: 0 } })
    delete process.env.BOILER_OPCUA_PASSWORD
    undo.push(() => node.stop())

    // The node is still starting its OPC-UA mapper (loading node-opcua, making its client certificate),
    // which delayed the CONNACK past the pool's 5 s on a 2-core machine at load 15-20.
    const { client, inbox } = await pool.connect(`mqtt://127.0.0.1:${node.listeners[0]?.port}`, { connectTimeout: 30_000 })
    await client.subscribeAsync('$hw/events/device/boiler-1/#', { qos: 1 })
    const deadline = Date.now() + 30_000
    let twin: Record<string, TwinEntry> = {}
    for (let i = 0; Date.now() < deadline; i++) {
      await client.publishAsync('$hw/events/device/boiler-1/twin/get', JSON.stringify({ event_id: `get-${i}` }), { qos: 1 })
      const got = await inbox.waitFor((m) => m.topic.endsWith('twin/get/result') && m.payload.includes(`"get-${i}"`), 'the twin')
      twin = (JSON.parse(got.payload) as { twin: Record<string, TwinEntry> }).twin
      if (twin.counter?.actual?.value === '12' && twin.mode?.actual?.value === 'auto') break
      await new Promise((r) => setTimeout(r, 250))
    }
    assert.equal(twin.temperature?.actual?.value, '21.5')
    assert.equal(twin.running?.actual?.value, 'true', 'browse path /Objects/Plant/Boiler/Running')
    assert.equal(twin.mode?.actual?.value, 'auto', 'browse path [Plant, Boiler, Mode]')
    assert.equal(twin.pressure?.actual?.value, '1.25')
    assert.equal(twin.counter?.actual?.value, '12', 'the desired counter written and read back')
    assert.equal(await peer.get('Counter'), 12)
    await peer.set('Temperature', 80.5)
    await inbox.waitFor((m) => m.topic.endsWith('/twin/update') && m.payload.includes('"80.5"'), 'the new temperature reported', 15_000)
    const pki = join(scratch.path, 'data', 'opcua', 'pki')
    assert.ok(existsSync(join(pki, 'own', 'certs', 'client_certificate.pem')), 'the client certificate under <dataDir>/opcua/pki')
    assert.equal((await readdir(join(pki, 'trusted', 'certs'))).length, 1, 'the accepted server certificate saved in trusted/')
  })
})
