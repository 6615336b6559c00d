/**
 * Certificate renewal, cloud side (DESIGN.md §6 "renewal at ~70 % of the lifetime over the
 * authenticated link"): the node's record in the API emulator, NodeIdentities and serveRenewals on
 * a session whose other end is driven frame by frame.
 */
import { strict as assert } from 'node:assert'
import { X509Certificate } from 'node:crypto'
import pino from 'pino'
import { loadKubeConfig } from '../../cloud-sync/cloud/kube-api.js'
import { issueCertificate, newKey, nodeCsr, serialOf } from '../../cloud-sync/identity/x509.js'
import { loadOrCreateCa, type FleetCa } from '../../cloud-sync/identity/ca.js'
import { ClientNodeIdentityApi } from '../../cloud-sync/identity/identity-api.js'
import { NodeIdentities, RECORD_SELECTOR, recordName } from '../../cloud-sync/identity/node-identities.js'
import { renewalRequest, serveRenewals } from '../../cloud-sync/identity/renewal.js'
import { Operations, Sources, type Envelope } from '../../cloud-sync/messages.js'
import { Session, wirePair } from '../../cloud-sync/session.js'
import { NAMESPACES } from '../support/kube/registry.js'
import { createNodeRecord } from '../support/node-record.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'
import { scratchDir } from '../support/resources.js'

const NS = 'tern-system'
const log = pino({ level: 'silent' })

describe('node identity: renewal requests on the link (cloud side)', function () {
  this.timeout(30_000)
  const undo: Array<() => Promise<void>> = []
  let kube: KubeEmulator
  let api: ClientNodeIdentityApi
  let ca: FleetCa
  let identities: NodeIdentities
  before(async () => {
    const dir = await scratchDir('tern-renewal-')
    undo.push(() => dir.remove())
    kube = await startKubeEmulator()
    undo.push(() => kube.stop())
    kube.api.create(NAMESPACES, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })
    api = new ClientNodeIdentityApi(loadKubeConfig(await kube.writeKubeconfig(`${dir.path}/kubeconfig`, NS)), NS, RECORD_SELECTOR)
    ca = await loadOrCreateCa({ kind: 'secret', api, namespace: NS, name: 'tern-ca' }, log)
    identities = new NodeIdentities({ api, namespace: NS, ca, nodeCertificateSeconds: 3600, log })
    await identities.start()
    undo.push(() => identities.stop())
  })
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  /** A joined node: its certificate and its record (as `tern join` leaves them). */
  function joined(node: string): string {
    const key = newKey()
    const cert = issueCertificate({ issuer: { cert: ca.cert, key: ca.key }, signingKey: ca.key, subject: { cn: `system:node:${node}`, o: 'system:nodes' }, publicKey: key.publicKey, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000), kind: 'client' })
    const serial = serialOf(new X509Certificate(cert.toString()))
    createNodeRecord(kube, NS, node, serial)
    return serial
  }

  async function recordSerials(node: string): Promise<string[]> {
    const record = (await api.getSecret(NS, recordName(node))) as { data: { serials: string } }
    return Buffer.from(record.data.serials, 'base64').toString('utf8').split(',')
  }

  it('a renewal request re-sent before its answer (same msg_id) gets the first certificate again, and the record holds that one', async () => {
    const serial = joined('node-r')
    const [edgeEnd, cloudEnd] = wirePair()
    const session = new Session(cloudEnd, { node: 'node-r', source: Sources.cloud, identity: serial, log })
    serveRenewals(session, identities)
    const answers: Envelope[] = []
    edgeEnd.onText((text) => answers.push(JSON.parse(text) as Envelope))
    const request = renewalRequest(nodeCsr('node-r', newKey()))
    // the copy the edge's Session sends when the answer takes longer than its resend interval
    edgeEnd.send(JSON.stringify(request))
    edgeEnd.send(JSON.stringify(request))
    const deadline = Date.now() + 20_000
    while (answers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(answers.length, 2, 'both copies are answered')
    const certs = answers.map((a) => {
      assert.equal(a.route.operation, Operations.response, JSON.stringify(a.content))
      assert.equal(a.header.parent_msg_id, request.header.msg_id)
      return new X509Certificate((a.content as { cert: string }).cert)
    })
    assert.equal(certs[1]?.serialNumber, certs[0]?.serialNumber, 'one certificate for one request')
    assert.deepEqual(await recordSerials('node-r'), [serialOf(certs[0] as X509Certificate), serial], 'the record holds the certificate the edge got, and the one it connected with')
    session.close()
  })
})
