/**
 * OPC-UA security: Sign and SignAndEncrypt with common policies, the client PKI under
 * `<dataDir>/opcua/pki`, unknown server certificates refused unless the device config accepts them
 * (then trusted and saved), and the user identities: anonymous, user name with a password from a
 * file or an environment variable, and X509.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import type { DeviceDriver, Outcome } from '../../mappers/driver.js'
import { opcuaProtocol } from '../../mappers/opcua/protocol.js'
import { boilerDevice, startOpcuaServer, type OpcuaPeer } from '../support/opcua.js'
import { freePort, scratchDir } from '../support/resources.js'

describe('opcua: security modes, PKI and user identities', function () {
  this.timeout(60_000)
  let peer: OpcuaPeer
  let serverDir: { path: string; remove(): Promise<void> }
  let dir: { path: string; remove(): Promise<void> }
  const drivers: DeviceDriver[] = []
  const closers: Array<() => Promise<void>> = []

  before(async () => {
    serverDir = await scratchDir('tern-opcua-server-')
    peer = await startOpcuaServer({ port: await freePort(), pki: serverDir.path })
  })
  after(async () => {
    await peer.stop()
    await serverDir.remove()
  })
  beforeEach(async () => {
    dir = await scratchDir('tern-opcua-node-')
  })
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.close()
    for (const c of closers.splice(0)) await c()
    await dir.remove()
  })

  /** Connects a fresh protocol (its own PKI manager) of the node whose data dir is `dataDir`. */
  async function connect(protocol: Record<string, unknown>, dataDir = dir.path): Promise<{ driver: DeviceDriver; out: Outcome<void> }> {
    const p = opcuaProtocol({ dataDir })
    closers.push(() => p.close?.() ?? Promise.resolve())
    const driver = p.createDriver(boilerDevice('boiler-1', peer.url, protocol), { log: pino({ level: 'silent' }), dataDir })
    drivers.push(driver)
    return { driver, out: await driver.connect() }
  }
  async function readsTemperature(driver: DeviceDriver): Promise<void> {
    const device = boilerDevice('boiler-1', peer.url)
    const t = device.properties.find((p) => p.name === 'temperature')
    assert.ok(t)
    const out = (await driver.read([t])).get('temperature')
    assert.equal(out?.ok, true, JSON.stringify(out))
  }
  const pki = (...parts: string[]): string => join(dir.path, 'opcua', 'pki', ...parts)

  it('SignAndEncrypt with an unknown server certificate is refused with OPCUA_SECURITY_REJECTED (and filed under rejected/)', async () => {
    const { out } = await connect({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' })
    assert.equal(out.ok, false)
    if (!out.ok) {
      assert.equal(out.error.code, 'OPCUA_SECURITY_REJECTED', out.error.message)
      assert.match(out.error.message, /SignAndEncrypt\/Basic256Sha256/)
      console.log(`      refused: ${out.error.message}`)
    }
    assert.equal((await readdir(pki('rejected'))).filter((f) => f.endsWith('.pem') || f.endsWith('.der')).length, 1, 'the server certificate is filed under rejected/')
    assert.ok(existsSync(pki('own', 'certs')), 'the client certificate lives under <dataDir>/opcua/pki')
    assert.equal((await readdir(pki('trusted', 'certs'))).length, 0, 'nothing trusted behind our back')
  })

  it('acceptUnknownServerCertificate: true trusts and saves the server certificate; later connects need no acceptance', async () => {
    const first = await connect({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', acceptUnknownServerCertificate: true })
    assert.deepEqual(first.out, { ok: true, value: undefined })
    await readsTemperature(first.driver)
    assert.equal((await readdir(pki('trusted', 'certs'))).length, 1, 'the server certificate is saved in trusted/')
    const again = await connect({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' })
    assert.deepEqual(again.out, { ok: true, value: undefined })
    await readsTemperature(again.driver)
  })

  it('a server certificate trusted by hand (copied into trusted/certs) works without acceptance; Sign with Aes128_Sha256_RsaOaep', async () => {
    await mkdir(pki('trusted', 'certs'), { recursive: true })
    const own = join(serverDir.path, 'server', 'own', 'certs')
    const [certificate] = (await readdir(own)).filter((f) => f.endsWith('.pem'))
    assert.ok(certificate, `a server certificate in ${own}`)
    await copyFile(join(own, certificate), pki('trusted', 'certs', certificate))
    const { driver, out } = await connect({ securityMode: 'Sign', securityPolicy: 'Aes128_Sha256_RsaOaep' })
    assert.deepEqual(out, { ok: true, value: undefined })
    await readsTemperature(driver)
  })

  it('user name identity: password from a file (KubeEdge `password`: a path) or an environment variable; a wrong one is OPCUA_AUTH_FAILED', async () => {
    const file = join(dir.path, 'opcua.pw')
    await writeFile(file, 's3cret\n')
    const secure = { securityMode: 'SignAndEncrypt', acceptUnknownServerCertificate: true, userName: 'operator' }
    const byFile = await connect({ ...secure, password: file })
    assert.deepEqual(byFile.out, { ok: true, value: undefined })
    await readsTemperature(byFile.driver)
    process.env.TERN_TEST_OPCUA_PW = 's3cret'
    const byEnv = await connect({ ...secure, passwordEnv: 'TERN_TEST_OPCUA_PW' })
    assert.deepEqual(byEnv.out, { ok: true, value: undefined })
    process.env.TERN_TEST_OPCUA_PW = 'wrong'
    const wrong = await connect({ ...secure, passwordEnv: 'TERN_TEST_OPCUA_PW' })
    assert.equal(wrong.out.ok === false && wrong.out.error.code, 'OPCUA_AUTH_FAILED')
    delete process.env.TERN_TEST_OPCUA_PW
    const unset = await connect({ ...secure, passwordEnv: 'TERN_TEST_OPCUA_PW' })
    assert.equal(unset.out.ok === false && unset.out.error.code, 'OPCUA_CONFIG_INVALID')
  })

  it('X509 user identity (certificate + privateKey, KubeEdge precedence over userName)', async () => {
    // the node's own client certificate, created by a first connect, doubles as a user certificate
    const first = await connect({ securityMode: 'SignAndEncrypt', acceptUnknownServerCertificate: true })
    assert.equal(first.out.ok, true)
    const { driver, out } = await connect({
      securityMode: 'SignAndEncrypt',
      userName: 'nobody',
      certificate: pki('own', 'certs', 'client_certificate.pem'),
      privateKey: pki('own', 'private', 'private_key.pem'),
    })
    assert.deepEqual(out, { ok: true, value: undefined })
    await readsTemperature(driver)
  })
})
