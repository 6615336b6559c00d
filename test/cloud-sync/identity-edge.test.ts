/**
 * Node identity as the edge lives it, with real processes (`tern cloud`, `tern join`, `tern edge`):
 * a switch to a renewed certificate that a stop interrupted, a node revoked while connected, and a
 * renewal lost because the cloud stays away until the certificate expires. What the node says in
 * its log and on its link status topic (`$tern/nodes/<node>/cloud`, retained) is what an operator
 * has to go on.
 */
import { strict as assert } from 'node:assert'
import { X509Certificate } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startFleet, type Fleet } from '../support/identity.js'
import { clientPool } from '../support/mqtt.js'
import { runTern, type TernEdgeProcess } from '../support/tern.js'

/** The JSON log lines of `edge` whose code is `code`. */
function logged(edge: TernEdgeProcess, code: string): Array<Record<string, unknown>> {
  return edge
    .output()
    .split('\n')
    .filter((l) => l.includes(`"code":"${code}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('node identity at the edge: interrupted switch, revocation, lost renewal (real processes)', function () {
  this.timeout(120_000)
  const undo: Array<() => Promise<void>> = []
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  describe('with one fleet', () => {
    let fleet: Fleet
    before(async () => {
      fleet = await startFleet(undo)
    })

    it('a switch to a renewed certificate that a stop cut after the key was renamed is finished at start; the node connects with the pair', async () => {
      const joined = await fleet.join('node-s', await fleet.token())
      assert.equal(joined.code, 0, joined.output)
      const pki = join(joined.dir, 'pki')
      const renewed = await readFile(join(pki, 'node.crt'), 'utf8')
      // node.key is already the new key; node.crt still an older certificate (for another key), the new one waits as node.crt.next
      await writeFile(join(pki, 'node.crt.next'), renewed, { mode: 0o600 })
      await writeFile(join(pki, 'node.crt'), fleet.issue('node-s', { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000) }).cert, { mode: 0o600 })
      const edge = await fleet.startEdge(joined.dir, { mappers: [] })
      await edge.waitForLine((l) => l.includes('connected to CloudHub'), 30_000)
      assert.equal(logged(edge, 'NODE_CERT_SWITCH_RECOVERED')[0]?.recovery, 'finished')
      assert.equal(await readFile(join(pki, 'node.crt'), 'utf8'), renewed)
      assert.deepEqual((await readdir(pki)).sort(), ['ca.crt', 'node.crt', 'node.key'])
      // the start-up line says which certificate the node runs with and when it expires
      const ready = JSON.parse(edge.output().split('\n').find((l) => l.includes('"msg":"edge node ready"')) ?? '{}') as { certificate?: { serial: string; notAfter: string; renewAt: string } }
      const cert = new X509Certificate(renewed)
      assert.equal(ready.certificate?.serial, cert.serialNumber.toUpperCase())
      assert.equal(ready.certificate?.notAfter, new Date(cert.validTo).toISOString())
      assert.ok(Date.parse(ready.certificate?.renewAt ?? '') < Date.parse(cert.validTo))
      await edge.stop()
    })

    it('a revoked node logs NODE_REVOKED with the cloud’s reason and stops knocking at full speed', async () => {
      const joined = await fleet.join('node-v', await fleet.token())
      assert.equal(joined.code, 0, joined.output)
      const edge = await fleet.startEdge(joined.dir, { mappers: [] })
      await edge.waitForLine((l) => l.includes('connected to CloudHub'), 30_000)
      const app = await pool.connect(`mqtt://127.0.0.1:${edge.listeners[0]?.port}`)
      await app.client.subscribeAsync('$tern/nodes/node-v/cloud', { qos: 1 })
      await app.inbox.waitFor((m) => (JSON.parse(m.payload) as { connected: boolean }).connected, 'link status: connected')
      const revoked = await runTern(['revoke', 'node-v', '--config', fleet.cloudConfig])
      assert.equal(revoked.code, 0, revoked.output)
      const line = await edge.waitForLine((l) => l.includes('"code":"NODE_REVOKED"'), 20_000)
      const entry = JSON.parse(line) as { level: number; status: number; reason: string; delayMs: number }
      assert.equal(entry.level, 50)
      assert.equal(entry.status, 403)
      assert.match(entry.reason, /revoked/)
      assert.ok(entry.delayMs >= 60_000, `next attempt in ${entry.delayMs} ms`)
      // the test config's back-off cap is 1 s: a node knocking at full speed would be refused about 4 more times
      await new Promise((r) => setTimeout(r, 4000))
      assert.equal(edge.output().split('\n').filter((l) => l.includes('"status":403')).length, 1, 'one refused attempt, then quiet')
      assert.ok(!edge.output().includes('CLOUD_AUTH_FAILED'))
      await app.inbox.waitFor((m) => !(JSON.parse(m.payload) as { connected: boolean }).connected, 'link status: not connected')
      await edge.stop()
    })
  })

  it('the cloud unreachable until the certificate expires: the edge says how long is left and what to do, then NODE_CERT_EXPIRED', async () => {
    const fleet = await startFleet(undo, { nodeCertificateSeconds: 12 })
    const joined = await fleet.join('node-x', await fleet.token())
    assert.equal(joined.code, 0, joined.output)
    // renewal due at half the lifetime: 6 s after the certificate was issued
    const edge = await fleet.startEdge(joined.dir, { mappers: [], cloud: { renewAt: 0.5 } })
    await edge.waitForLine((l) => l.includes('connected to CloudHub'), 30_000)
    await fleet.cloud.stop()
    const failed = JSON.parse(await edge.waitForLine((l) => l.includes('"code":"NODE_CERT_RENEWAL_FAILED"'), 30_000)) as { level: number; msg: string; notAfter: string; expiresInMs: number }
    assert.equal(failed.level, 40)
    assert.ok(failed.expiresInMs > 0 && failed.expiresInMs <= 12_000, `expires in ${failed.expiresInMs} ms`)
    assert.match(failed.msg, /tern join/)
    const onDisk = new X509Certificate(await readFile(join(joined.dir, 'pki', 'node.crt')))
    assert.equal(failed.notAfter, new Date(onDisk.validTo).toISOString())
    // local apps see the same on the link status topic
    const app = await pool.connect(`mqtt://127.0.0.1:${edge.listeners[0]?.port}`)
    await app.client.subscribeAsync('$tern/nodes/node-x/cloud', { qos: 1 })
    const status = JSON.parse((await app.inbox.waitFor(() => true, 'the retained link status')).payload) as { connected: boolean; certificate: { notAfter: string } }
    assert.equal(status.connected, false)
    assert.equal(status.certificate.notAfter, failed.notAfter)
    const expired = JSON.parse(await edge.waitForLine((l) => l.includes('"code":"NODE_CERT_EXPIRED"'), 30_000)) as { level: number; msg: string; notAfter: string }
    assert.equal(expired.level, 50)
    assert.equal(expired.notAfter, failed.notAfter)
    assert.match(expired.msg, /tern join/)
    assert.ok(Date.now() >= Date.parse(expired.notAfter))
  })
})
