/**
 * The OPC-UA mapper end to end (kubeedge-compat.md §6.8): a node-opcua server in its own process, the opcua
 * protocol in a real Mapper, the real DeviceTwin. Values flow through one subscription to the twin,
 * desired values reach the server converted to the node's data type, Bad status codes surface with
 * their code, and a server killed and restarted on the same port is recovered without help.
 */
import assert from 'node:assert/strict'
import { pino } from 'pino'
import type { DeviceDriver } from '../../mappers/driver.js'
import { opcuaProtocol } from '../../mappers/opcua/protocol.js'
import { boilerDevice, opcuaProperty, startOpcuaServer, type OpcuaPeer } from '../support/opcua.js'
import { protocolHarness } from '../support/protocol-harness.js'
import { freePort, scratchDir } from '../support/resources.js'

describe('opcua mapper: end to end with the DeviceTwin', function () {
  this.timeout(60_000)
  const start = protocolHarness()
  let peer: OpcuaPeer
  let port: number
  let dir: { path: string; remove(): Promise<void> }
  const serverPki = (): string => `${dir.path}/server-pki`
  beforeEach(async () => {
    dir = await scratchDir('tern-opcua-')
    port = await freePort()
    peer = await startOpcuaServer({ port, pki: serverPki() })
  })
  afterEach(async () => {
    await peer.stop()
    await dir.remove()
  })

  it('values of every type flow to the twin through one subscription; changes arrive as notifications', async () => {
    const h = await start({ devices: [boilerDevice('boiler-1', peer.url)], protocol: opcuaProtocol({ dataDir: dir.path }), dataDir: dir.path, mapper: { heartbeatMs: 0 } })
    await h.until(() => h.actual('boiler-1', 'limited') === '10', 'the first values in the twin')
    assert.deepEqual(
      Object.fromEntries(['temperature', 'counter', 'running', 'mode', 'blob', 'pressure', 'limited'].map((p) => [p, h.actual('boiler-1', p)])),
      { temperature: '21.5', counter: '7', running: 'true', mode: 'auto', blob: 'AQID', pressure: '1.25', limited: '10' },
    )
    const opened = h.logs.find((l) => l.msg === 'OPC-UA session open')
    assert.equal(opened?.monitored, 7, 'every property has a monitored item')
    assert.equal(opened?.polled, 0)
    assert.equal(h.state('boiler-1'), 'online')

    await peer.set('Temperature', 30.25)
    await peer.set('Mode', 'eco')
    await h.until(() => h.actual('boiler-1', 'temperature') === '30.25' && h.actual('boiler-1', 'mode') === 'eco', 'changed values in the twin')
  })

  it('desired values reach the server converted to the node data type, and the twin converges', async () => {
    const h = await start({ devices: [boilerDevice('boiler-1', peer.url)], protocol: opcuaProtocol({ dataDir: dir.path }), dataDir: dir.path, mapper: { heartbeatMs: 0 } })
    await h.until(() => h.actual('boiler-1', 'counter') === '7', 'the first values')
    await h.desire('boiler-1', { counter: '42', temperature: '-3.5', running: 'false', mode: 'manual', blob: Buffer.from('hi').toString('base64') })
    await h.until(() => h.actual('boiler-1', 'counter') === '42' && h.actual('boiler-1', 'mode') === 'manual', 'written values read back')
    assert.equal(await peer.get('Counter'), 42)
    assert.equal(await peer.get('Temperature'), -3.5)
    assert.equal(await peer.get('Running'), false)
    assert.equal(await peer.get('Mode'), 'manual')
    assert.equal(await peer.get('Blob'), Buffer.from('hi').toString('base64'))
    await h.until(() => h.actual('boiler-1', 'blob') === 'aGk=' && h.actual('boiler-1', 'running') === 'false', 'all read back')
  })

  it('a Bad status code on a write surfaces as OPCUA_BAD_STATUS with the status name; nothing is written', async () => {
    const h = await start({ devices: [boilerDevice('boiler-1', peer.url)], protocol: opcuaProtocol({ dataDir: dir.path }), dataDir: dir.path, mapper: { heartbeatMs: 0 } })
    await h.until(() => h.actual('boiler-1', 'limited') === '10', 'the first values')
    await h.desire('boiler-1', { limited: '500' })
    await h.until(() => h.logged('OPCUA_BAD_STATUS').length > 0, 'the refused write logged with its code')
    assert.match(String(h.logged('OPCUA_BAD_STATUS')[0]?.msg), /BadOutOfRange/)
    assert.equal(await peer.get('Limited'), 10)
    assert.equal(h.actual('boiler-1', 'limited'), '10')
  })

  const restarts: Array<{ label: string; protocol: Record<string, unknown>; security: string }> = [
    { label: 'None', protocol: {}, security: 'None/None' },
    {
      label: 'SignAndEncrypt with a user name',
      protocol: { securityMode: 'SignAndEncrypt', acceptUnknownServerCertificate: true, userName: 'operator', passwordEnv: 'TERN_TEST_OPCUA_PW' },
      security: 'SignAndEncrypt/Basic256Sha256',
    },
  ]
  for (const r of restarts) {
    it(`the server killed and restarted on the same port (${r.label}): offline, then the mapper recovers by itself with the same security and values flow again`, async () => {
      process.env.TERN_TEST_OPCUA_PW = 's3cret'
      const h = await start({
        devices: [boilerDevice('boiler-1', peer.url, r.protocol)],
        protocol: opcuaProtocol({ dataDir: dir.path }),
        dataDir: dir.path,
        mapper: { heartbeatMs: 0, backoff: { initialMs: 200, maxMs: 1000 } },
      })
      await h.until(() => h.actual('boiler-1', 'temperature') === '21.5', 'the first values')
      await peer.set('Temperature', 22)
      await h.until(() => h.actual('boiler-1', 'temperature') === '22', 'values streaming')
      await peer.kill()
      await h.until(() => h.state('boiler-1') === 'offline', 'the device offline')
      assert.ok(h.logged('OPCUA_CONNECTION_LOST').length > 0 || h.logged('OPCUA_CONNECT_FAILED').length > 0, 'the loss logged with its code')
      peer = await startOpcuaServer({ port, pki: serverPki() })
      await peer.set('Temperature', 55.5)
      await h.until(() => h.actual('boiler-1', 'temperature') === '55.5', 'values flowing again after the restart', 30_000)
      assert.equal(h.state('boiler-1'), 'online')
      await peer.set('Temperature', 56)
      await h.until(() => h.actual('boiler-1', 'temperature') === '56', 'notifications on the new subscription')
      const sessions = h.logs.filter((l) => l.msg === 'OPC-UA session open')
      assert.ok(sessions.length >= 2, 'a new session was opened')
      assert.deepEqual(new Set(sessions.map((l) => l.security)), new Set([r.security]), 'every session with the configured security')
      assert.ok(sessions.every((l) => l.monitored === 7), 'the subscription and its monitored items were recreated')
      delete process.env.TERN_TEST_OPCUA_PW
    })
  }

  it('subscriptions lost on the server while the session stays: detected, session and subscription recreated, values flow again', async () => {
    const h = await start({
      devices: [boilerDevice('boiler-1', peer.url)],
      protocol: opcuaProtocol({ dataDir: dir.path }),
      dataDir: dir.path,
      mapper: { heartbeatMs: 0, backoff: { initialMs: 200, maxMs: 1000 } },
    })
    await h.until(() => h.actual('boiler-1', 'temperature') === '21.5', 'the first values')
    assert.equal(await peer.command('drop-subscriptions'), 'VALUE 1')
    await h.until(() => h.logs.filter((l) => l.msg === 'OPC-UA session open').length >= 2, 'a new session and subscription', 30_000)
    await peer.set('Temperature', 77.25)
    await h.until(() => h.actual('boiler-1', 'temperature') === '77.25', 'notifications on the new subscription')
  })

  it('a server without subscriptions: every property falls back to polling and values still flow', async () => {
    const noSubs = await startOpcuaServer({ port: await freePort(), pki: `${dir.path}/nosub-pki`, noSubscriptions: true })
    try {
      const h = await start({ devices: [boilerDevice('boiler-1', noSubs.url)], protocol: opcuaProtocol({ dataDir: dir.path }), dataDir: dir.path, mapper: { heartbeatMs: 0 } })
      await h.until(() => h.actual('boiler-1', 'limited') === '10', 'the first values')
      const opened = h.logs.find((l) => l.msg === 'OPC-UA session open')
      assert.deepEqual([opened?.monitored, opened?.polled], [0, 7])
      await noSubs.set('Counter', 99)
      await h.until(() => h.actual('boiler-1', 'counter') === '99', 'a change seen by polling')
    } finally {
      await noSubs.stop()
    }
  })

  describe('driver outcomes', () => {
    const drivers: DeviceDriver[] = []
    afterEach(async () => {
      for (const d of drivers.splice(0)) await d.close()
    })
    const connected = async (device = boilerDevice('boiler-1', peer.url)): Promise<DeviceDriver> => {
      const driver = opcuaProtocol({ dataDir: dir.path }).createDriver(device, { log: pino({ level: 'silent' }), dataDir: dir.path })
      drivers.push(driver)
      assert.deepEqual(await driver.connect(), { ok: true, value: undefined })
      return driver
    }

    it('writing a read-only node: OPCUA_BAD_STATUS naming BadNotWritable (not a lost link)', async () => {
      const device = boilerDevice('boiler-1', peer.url)
      const driver = await connected(device)
      const pressure = { ...device.properties.find((p) => p.name === 'pressure'), accessMode: 'ReadWrite' } as (typeof device.properties)[number]
      const out = await driver.write(pressure, '2')
      assert.equal(out.ok, false)
      if (!out.ok) {
        assert.equal(out.error.code, 'OPCUA_BAD_STATUS')
        assert.match(out.error.message, /BadNotWritable/)
        assert.equal(out.error.connectionLost, false)
      }
      assert.equal(await peer.get('Pressure'), 1.25)
    })

    it('unknown node ids and browse paths: OPCUA_NODE_NOT_FOUND for that property only (its monitored item is refused, so it is polled)', async () => {
      const device = boilerDevice('boiler-1', peer.url)
      device.properties.push(opcuaProperty('ghost', 'INT', { nodeID: 'ns=1;s=Nope' }), opcuaProperty('lost', 'INT', { browseName: '/Objects/Plant/Nowhere/X' }))
      const driver = await connected(device)
      const out = await driver.read(device.properties)
      const code = (name: string): string | undefined => {
        const o = out.get(name)
        return o !== undefined && !o.ok ? o.error.code : undefined
      }
      assert.equal(code('ghost'), 'OPCUA_NODE_NOT_FOUND')
      assert.equal(code('lost'), 'OPCUA_NODE_NOT_FOUND')
      assert.deepEqual(out.get('temperature'), { ok: true, value: '21.5' })
    })

    it('a value the node type cannot hold is refused before sending (OPCUA_VALUE_INVALID)', async () => {
      const device = boilerDevice('boiler-1', peer.url)
      const driver = await connected(device)
      const counter = device.properties.find((p) => p.name === 'counter')
      assert.ok(counter)
      const out = await driver.write(counter, '3000000000')
      assert.equal(out.ok === false && out.error.code, 'OPCUA_VALUE_INVALID')
    })
  })
})
