/**
 * Node identity end to end with real processes: `tern cloud` makes its CA, `tern gettoken` a
 * token, `tern join` a key and certificate (inspected with openssl), `tern edge` connects with
 * mutual TLS and its device converges; every failing join exits with its own code and changes
 * nothing on disk.
 */
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { fanDevice, MODEL, registerUntil, statusUntil } from '../support/cloud.js'
import { snapshot, startFleet } from '../support/identity.js'
import { startPymodbus } from '../support/modbus.js'

const run = promisify(execFile)

describe('node identity: gettoken → join → mutual TLS (real processes)', function () {
  this.timeout(120_000)
  const undo: Array<() => Promise<void>> = []
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it('a fresh node joins with a token and its device converges; key and certificate are what a kubelet has, 0600 in a 0700 directory', async () => {
    const fleet = await startFleet(undo)
    // the CA was created in a Secret of tern's namespace on first start
    const ca = await fleet.kubectl.run(['get', 'secret', 'tern-ca', '-n', 'tern-system', '-o', 'jsonpath={.type}'])
    assert.equal(ca.stdout, 'kubernetes.io/tls', ca.stderr)

    const token = await fleet.token(['--ttl', '1h'])
    // only the hash of the secret is stored
    const stored = await fleet.kubectl.run(['get', 'secret', `tern-join-token-${token.slice(0, 6)}`, '-n', 'tern-system', '-o', 'yaml'])
    assert.equal(stored.code, 0, stored.stderr)
    assert.ok(!stored.stdout.includes(Buffer.from(token.slice(7, 23)).toString('base64')) && !stored.stdout.includes(token.slice(7, 23)), 'the token secret is not stored')

    const joined = await fleet.join('edge-a', token)
    assert.equal(joined.code, 0, joined.output)
    const pki = join(joined.dir, 'pki')
    assert.equal((await stat(pki)).mode & 0o777, 0o700)
    for (const file of ['node.key', 'node.crt', 'ca.crt']) assert.equal((await stat(join(pki, file))).mode & 0o777, 0o600, file)
    const subject = await run('openssl', ['x509', '-in', join(pki, 'node.crt'), '-noout', '-subject', '-issuer', '-ext', 'extendedKeyUsage,basicConstraints', '-nameopt', 'RFC2253'])
    assert.match(subject.stdout, /subject=CN=system:node:edge-a,O=system:nodes/)
    assert.match(subject.stdout, /TLS Web Client Authentication/)
    assert.match(subject.stdout, /CA:FALSE/)
    const verified = await run('openssl', ['verify', '-CAfile', join(pki, 'ca.crt'), join(pki, 'node.crt')])
    assert.match(verified.stdout, /OK/)
    // the key in node.key is the one in the certificate (made here, never sent)
    const fromKey = await run('openssl', ['pkey', '-in', join(pki, 'node.key'), '-pubout'])
    const fromCert = await run('openssl', ['x509', '-in', join(pki, 'node.crt'), '-noout', '-pubkey'])
    assert.equal(fromKey.stdout, fromCert.stdout)
    const config = parse(await import('node:fs/promises').then((fs) => fs.readFile(join(joined.dir, 'tern.yaml'), 'utf8'))) as { node: { name: string }; cloud: Record<string, string> }
    assert.equal(config.node.name, 'edge-a')
    assert.deepEqual(config.cloud, { url: fleet.hubUrl, ca: join(pki, 'ca.crt'), cert: join(pki, 'node.crt'), key: join(pki, 'node.key') })
    // the cloud recorded the node and made its Node
    const node = await fleet.kubectl.run(['get', 'node', 'edge-a', '-o', 'jsonpath={.metadata.labels}'])
    assert.match(node.stdout, /node-role.kubernetes.io\/edge/, node.stderr)

    const peer = await startPymodbus({ mode: 'tcp' })
    undo.push(() => peer.stop())
    await peer.set(1, 'ir', 0, [215])
    const edge = await fleet.startEdge(joined.dir)
    await edge.waitForLine((l) => l.includes('connected to CloudHub'))
    const applied = await fleet.kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${fanDevice('fan-a', 'edge-a', peer.port, '1200')}`)
    assert.equal(applied.code, 0, applied.stderr)
    await registerUntil(peer, 1200)
    await statusUntil(fleet.kubectl, 'fan-a', (t) => t.get('speed')?.reported?.value === '1200' && t.get('temperature')?.reported?.value === '21.5', 'fan-a converged')
    assert.ok(!edge.output().includes('BEGIN PRIVATE KEY') && !fleet.cloud.output().includes('BEGIN PRIVATE KEY'), 'no key is logged')
    assert.ok(!fleet.cloud.output().includes(token.slice(7, 23)), 'the token secret is not logged')
  })

  describe('failing joins: each its own code, nothing written', () => {
    let fleet: Awaited<ReturnType<typeof startFleet>>
    before(async () => {
      fleet = await startFleet(undo)
    })

    async function refused(node: string, token: string, code: string, extra: string[] = []): Promise<void> {
      const { scratchDir } = await import('../support/resources.js')
      const dir = await scratchDir('tern-node-')
      undo.push(() => dir.remove())
      const before = await snapshot(dir.path)
      const got = await fleet.join(node, token, { dir: dir.path, extra })
      assert.equal(got.code, 1, got.output)
      assert.match(got.output, new RegExp(`tern: ${code}:`), got.output)
      assert.deepEqual(await snapshot(dir.path), before, 'nothing changed on disk')
    }

    it('a wrong pin (JOIN_CA_PIN_MISMATCH): nothing is sent to the cloud', async () => {
      const token = await fleet.token()
      const wrong = token.replace(/@sha256:.{4}/, '@sha256:0000')
      const from = fleet.kube.requests.length
      await refused('edge-pin', wrong, 'JOIN_CA_PIN_MISMATCH')
      assert.equal(fleet.kube.requests.slice(from).filter((r) => r.url.includes('tern-join-token')).length, 0, 'the token was not used')
    })

    it('an unknown token or a wrong secret (JOIN_TOKEN_INVALID), an expired one (JOIN_TOKEN_EXPIRED)', async () => {
      const token = await fleet.token()
      await refused('edge-x', token.replace(/^[a-z0-9]{6}/, 'zzzzzz'), 'JOIN_TOKEN_INVALID')
      await refused('edge-x', token.replace(/\.[a-z0-9]{4}/, '.0000'), 'JOIN_TOKEN_INVALID')
      const short = await fleet.token(['--ttl', '1s'])
      await new Promise((r) => setTimeout(r, 1500))
      await refused('edge-x', short, 'JOIN_TOKEN_EXPIRED')
    })

    it('a used-up token (JOIN_TOKEN_USED_UP), a token bound to another name (JOIN_TOKEN_NODE_MISMATCH), the same name twice (JOIN_NODE_EXISTS)', async () => {
      const once = await fleet.token(['--usages', '1'])
      const first = await fleet.join('edge-once', once)
      assert.equal(first.code, 0, first.output)
      await refused('edge-twice', once, 'JOIN_TOKEN_USED_UP')
      const bound = await fleet.token(['--node', 'edge-bound'])
      await refused('edge-other', bound, 'JOIN_TOKEN_NODE_MISMATCH')
      const many = await fleet.token()
      await refused('edge-once', many, 'JOIN_NODE_EXISTS')
    })

    it('a node directory that holds an identity already (JOIN_ALREADY_JOINED); tern reset removes it and the cloud section', async () => {
      const token = await fleet.token()
      const first = await fleet.join('edge-again', token)
      assert.equal(first.code, 0, first.output)
      const before = await snapshot(first.dir)
      const again = await fleet.join('edge-again-2', token, { dir: first.dir })
      assert.equal(again.code, 1)
      assert.match(again.output, /JOIN_ALREADY_JOINED/)
      assert.deepEqual(await snapshot(first.dir), before)
      const { runTern } = await import('../support/tern.js')
      const reset = await runTern(['reset', '--config', join(first.dir, 'tern.yaml'), '--yes'])
      assert.equal(reset.code, 0, reset.output)
      const config = parse(await import('node:fs/promises').then((fs) => fs.readFile(join(first.dir, 'tern.yaml'), 'utf8'))) as Record<string, unknown>
      assert.equal(config.cloud, undefined)
      await assert.rejects(stat(join(first.dir, 'pki', 'node.key')))
    })
  })
})
