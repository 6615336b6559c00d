/**
 * Node identity on the link, against a real `tern cloud` (certificate mode) and real TLS: which
 * certificates the handshake refuses, a node's reports about another node's device, revocation by
 * `tern revoke` and by `kubectl delete node`, and the bootstrap endpoint under malformed and
 * oversized requests.
 */
import { strict as assert } from 'node:assert'
import { readFile } from 'node:fs/promises'
import { request } from 'node:https'
import { join } from 'node:path'
import fc from 'fast-check'
import WebSocket from 'ws'
import { keepalive, message, Operations, reportResource, Sources, type Envelope } from '../../cloud-sync/messages.js'
import { eventsPath, DEFAULT_PROJECT_ID } from '../../cloud-sync/link/protocol.js'
import { fanDevice, MODEL } from '../support/cloud.js'
import { startFleet, type Fleet } from '../support/identity.js'
import { runTern } from '../support/tern.js'

interface Pem {
  cert: string
  key: string
}

async function nodePem(dir: string): Promise<Pem> {
  return { cert: await readFile(join(dir, 'pki', 'node.crt'), 'utf8'), key: await readFile(join(dir, 'pki', 'node.key'), 'utf8') }
}

/** Dials the hub as `pathNode` with `identity`; resolves with the open socket or the HTTP refusal. */
function dial(fleet: Fleet, ca: string, pathNode: string, identity?: Pem): Promise<{ socket?: WebSocket; status?: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${fleet.hubUrl}${eventsPath(DEFAULT_PROJECT_ID, pathNode)}`, { ca, ...(identity === undefined ? {} : identity), handshakeTimeout: 10_000 })
    socket.on('open', () => {
      // keepalives, as EdgeHub sends them: the hub closes a silent session after 3 s
      const ping = setInterval(() => socket.send(JSON.stringify(keepalive('ping'))), 500)
      socket.once('close', () => clearInterval(ping))
      resolve({ socket })
    })
    socket.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    socket.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err)
    })
  })
}

function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code) => resolve(code)))
}

/** One request/answer on a raw session. */
function ask(socket: WebSocket, m: Envelope): Promise<Envelope> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer): void => {
      const got = JSON.parse(data.toString()) as Envelope
      if (got.header.parent_msg_id !== m.header.msg_id) return
      socket.off('message', onMessage)
      resolve(got)
    }
    socket.on('message', onMessage)
    socket.send(JSON.stringify(m))
  })
}

function post(fleet: Fleet, path: string, headers: Record<string, string>, body: Buffer | string): Promise<{ status: number; body: string }> {
  const url = new URL(fleet.hubUrl.replace('wss:', 'https:'))
  return new Promise((resolve, reject) => {
    const req = request({ hostname: url.hostname, port: url.port, path, method: 'POST', headers, rejectUnauthorized: false }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', (err) => {
      // the hub may cut an oversized upload before it is all written
      if ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET') resolve({ status: 413, body: '{"code":"NODE_CSR_INVALID"}' })
      else reject(err)
    })
    req.end(body)
  })
}

describe('node identity on the link: handshake refusals, ownership, revocation, bootstrap fuzzing (real tern cloud)', function () {
  this.timeout(180_000)
  const undo: Array<() => Promise<void>> = []
  let fleet: Fleet
  let ca: string
  let a: Pem
  let b: Pem
  let bDir: string
  before(async () => {
    fleet = await startFleet(undo)
    const token = await fleet.token()
    const [ja, jb] = [await fleet.join('node-a', token), await fleet.join('node-b', token)]
    assert.equal(ja.code, 0, ja.output)
    assert.equal(jb.code, 0, jb.output)
    ca = await readFile(join(ja.dir, 'pki', 'ca.crt'), 'utf8')
    a = await nodePem(ja.dir)
    b = await nodePem(jb.dir)
    bDir = jb.dir
  })
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it('refuses at the upgrade: no certificate, another CA, an expired one (401); a node certificate with another node in the path (403)', async () => {
    const none = await dial(fleet, ca, 'node-a')
    assert.equal(none.status, 401)
    assert.match(none.body ?? '', /CLOUD_AUTH_FAILED/)
    const stranger = { cert: await readFile(fleet.pki.strangerClient.cert, 'utf8'), key: await readFile(fleet.pki.strangerClient.key, 'utf8') }
    assert.equal((await dial(fleet, ca, 'node-a', stranger)).status, 401)
    // an expired certificate of the fleet CA for node-a
    const old = await dial(fleet, ca, 'node-a', fleet.issue('node-a', { notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) }))
    assert.equal(old.status, 401)
    assert.match(old.body ?? '', /expired/i)
    const crossed = await dial(fleet, ca, 'node-b', a)
    assert.equal(crossed.status, 403)
    assert.match(crossed.body ?? '', /CLOUD_AUTH_FAILED/)
    // its own certificate opens its own session
    const own = await dial(fleet, ca, 'node-a', a)
    assert.ok(own.socket !== undefined)
    own.socket.close()
  })

  it("node A's reports about node B's device are refused with CLOUD_NOT_OWNER and logged with A's name", async () => {
    const applied = await fleet.kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${fanDevice('fan-b', 'node-b', 1, '1')}`)
    assert.equal(applied.code, 0, applied.stderr)
    const { socket } = await dial(fleet, ca, 'node-a', a)
    assert.ok(socket !== undefined)
    await new Promise((r) => setTimeout(r, 500)) // the resync goes out first
    const report = message({ source: Sources.edge, group: 'twin', operation: Operations.update, resource: reportResource('twin', 'default', 'fan-b') }, { event_id: 'x', timestamp: 1, twin: { speed: { actual: { value: '7' } } } })
    const answer = await ask(socket, report)
    assert.equal(answer.route.operation, 'error')
    assert.equal((answer.content as { code: string }).code, 'CLOUD_NOT_OWNER')
    await fleet.cloud.waitForLine((l) => l.includes('"code":"CLOUD_NOT_OWNER"') && l.includes('"node":"node-a"'), 10_000)
    socket.close()
  })

  it('tern revoke closes the session (4003) and refuses the certificate from then on (403 NODE_REVOKED)', async () => {
    const { socket } = await dial(fleet, ca, 'node-a', a)
    assert.ok(socket !== undefined)
    const code = closed(socket)
    const revoked = await runTern(['revoke', 'node-a', '--config', fleet.cloudConfig])
    assert.equal(revoked.code, 0, revoked.output)
    assert.equal(await code, 4003)
    const again = await dial(fleet, ca, 'node-a', a)
    assert.equal(again.status, 403)
    assert.match(again.body ?? '', /NODE_REVOKED/)
    assert.notEqual((await fleet.kubectl.run(['get', 'node', 'node-a'])).code, 0, 'its Node is gone')
  })

  it('kubectl delete node revokes the node too; it can join again only with a new token, under the same name', async () => {
    const { socket } = await dial(fleet, ca, 'node-b', b)
    assert.ok(socket !== undefined)
    const code = closed(socket)
    const deleted = await fleet.kubectl.run(['delete', 'node', 'node-b'])
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.equal(await code, 4003)
    assert.equal((await dial(fleet, ca, 'node-b', b)).status, 403)
    const reset = await runTern(['reset', '--config', join(bDir, 'tern.yaml'), '--yes'])
    assert.equal(reset.code, 0, reset.output)
    const rejoined = await fleet.join('node-b', await fleet.token(), { dir: bDir })
    assert.equal(rejoined.code, 0, rejoined.output)
    const fresh = await nodePem(bDir)
    const open = await dial(fleet, ca, 'node-b', fresh)
    assert.ok(open.socket !== undefined)
    open.socket.close()
    assert.equal((await dial(fleet, ca, 'node-b', b)).status, 403, 'the certificate from before the revocation stays refused')
  })

  it('the bootstrap endpoint answers every malformed or oversized request with a code and stays up', async () => {
    const token = (await fleet.token()).split('@')[0] as string
    const big = await post(fleet, '/node.crt', { Authorization: `Bearer ${token}` }, Buffer.alloc(64 * 1024, 0x41))
    assert.equal(big.status, 413)
    const arbitrary = fc.record({
      auth: fc.oneof(fc.constant(`Bearer ${token}`), fc.constant('Bearer zzzzzz.0000000000000000'), fc.string({ maxLength: 40 }).map((s) => `Bearer ${s.replace(/[^\x21-\x7e]/g, 'x')}`), fc.constant('')),
      body: fc.oneof(
        fc.uint8Array({ maxLength: 9000 }).map((u) => Buffer.from(u)),
        fc.base64String({ maxLength: 2000 }).map((s) => `-----BEGIN CERTIFICATE REQUEST-----\n${s}\n-----END CERTIFICATE REQUEST-----\n`),
        fc.constant(''),
      ),
    })
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ auth, body }) => {
        const got = await post(fleet, '/node.crt', auth === '' ? {} : { Authorization: auth }, body)
        assert.ok([400, 401, 413].includes(got.status), `HTTP ${got.status} ${got.body}`)
        assert.match(got.body, /"code":"(NODE_CSR_INVALID|JOIN_TOKEN_INVALID)"/)
      }),
      { numRuns: 60 },
    )
    const caNow = await new Promise<number>((resolve, reject) => {
      const url = new URL(fleet.hubUrl.replace('wss:', 'https:'))
      request({ hostname: url.hostname, port: url.port, path: '/ca.crt', rejectUnauthorized: false }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
        .on('error', reject)
        .end()
    })
    assert.equal(caNow, 200)
    assert.equal(fleet.cloud.process.exitCode, null, 'tern cloud is still running')
  })
})
