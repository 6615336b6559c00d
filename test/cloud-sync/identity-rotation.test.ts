/**
 * Certificate rotation with real processes: node certificates that live 20 s, so a joined
 * `tern edge` renews over its authenticated link every ~14 s, while an app streams twin reports;
 * every renewal switches the node to its new certificate, the cloud's record names that
 * certificate, and the last report reaches the Device's status (reports in flight during a switch
 * are re-sent by the outbox, none is lost).
 */
import { strict as assert } from 'node:assert'
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fanDevice, MODEL, statusUntil } from '../support/cloud.js'
import { startFleet } from '../support/identity.js'
import { clientPool } from '../support/mqtt.js'

const RENEWED = 'node certificate renewed; reconnecting with it'

describe('node identity: rotation while twin reports stream (real processes)', function () {
  this.timeout(120_000)
  const undo: Array<() => Promise<void>> = []
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  it('a 20 s certificate renews at ~70 % again and again over the link; the stream of reports arrives to its last value', async () => {
    // 20 s: longer than join → edge start takes on a loaded machine, or the first one expires before the node connects
    const fleet = await startFleet(undo, { nodeCertificateSeconds: 20 })
    const joined = await fleet.join('edge-r', await fleet.token())
    assert.equal(joined.code, 0, joined.output)
    const first = new X509Certificate(await readFile(join(joined.dir, 'pki', 'node.crt')))
    const applied = await fleet.kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${fanDevice('fan-r', 'edge-r', 1, '1')}`)
    assert.equal(applied.code, 0, applied.stderr)
    // No mapper: the app is the only one reporting. Requests unanswered for 50 ms are re-sent, so a
    // renewal (API server round trips on the cloud side) is always re-sent before its answer comes:
    // the cloud must answer the copy with the same certificate, not issue and record a second one.
    const edge = await fleet.startEdge(joined.dir, { mappers: [], cloud: { resendMs: 50 } })
    await edge.waitForLine((l) => l.includes('connected to CloudHub'))
    const app = await pool.connect(`mqtt://127.0.0.1:${edge.listeners[0]?.port}`)
    const renewals = (): number => edge.output().split('\n').filter((l) => l.includes(RENEWED)).length

    // stream until two renewals have switched the link, and a little after (bounded: they come every ~14 s)
    const deadline = Date.now() + 70_000
    let value = 0
    let after: number | undefined
    while ((after === undefined || Date.now() < after) && Date.now() < deadline) {
      value++
      await app.client.publishAsync('$hw/events/device/fan-r/twin/update', JSON.stringify({ event_id: `e${value}`, timestamp: Date.now(), twin: { temperature: { actual: { value: String(value) } } } }), { qos: 1 })
      await new Promise((r) => setTimeout(r, 40))
      if (after === undefined && renewals() >= 2) after = Date.now() + 2000
    }
    assert.ok(renewals() >= 2, `${renewals()} renewals while streaming for 70 s with 20 s certificates`)
    const last = String(value)
    await statusUntil(fleet.kubectl, 'fan-r', (t) => t.get('temperature')?.reported?.value === last, `temperature ${last} reported`, 30_000)

    const current = new X509Certificate(await readFile(join(joined.dir, 'pki', 'node.crt')))
    assert.notEqual(current.serialNumber, first.serialNumber)
    assert.ok(Date.parse(current.validTo) > Date.now(), 'the certificate on disk is valid')
    // the node never met a refused handshake, and the cloud's record names the certificate it uses
    for (const code of ['CLOUD_AUTH_FAILED', 'NODE_REVOKED', 'NODE_CERT_EXPIRED']) assert.ok(!edge.output().includes(code), `${code} in the edge's log`)
    const record = async (path: string): Promise<string> => {
      const got = await fleet.kubectl.run(['get', 'secret', 'tern-node-edge-r', '-n', 'tern-system', '-o', `jsonpath={${path}}`])
      assert.equal(got.code, 0, got.stderr)
      return got.stdout
    }
    const serials = Buffer.from(await record('.data.serials'), 'base64').toString('utf8').split(',')
    assert.equal(serials[0]?.toUpperCase(), current.serialNumber.toUpperCase(), 'the record\'s current serial is the certificate on disk')
    assert.equal(await record(".metadata.annotations.tern\\.io/certificate-not-after"), new Date(current.validTo).toISOString(), 'the record says when the current certificate expires')
    // local apps see the certificate in use on the retained link status
    await app.client.subscribeAsync('$tern/nodes/edge-r/cloud', { qos: 1 })
    const status = await app.inbox.waitFor((m) => m.topic === '$tern/nodes/edge-r/cloud', 'the retained link status')
    const told = JSON.parse(status.payload) as { connected: boolean; certificate: { serial: string; notAfter: string } }
    assert.equal(told.certificate.serial, current.serialNumber.toUpperCase())
    assert.equal(told.certificate.notAfter, new Date(current.validTo).toISOString())
  })
})
