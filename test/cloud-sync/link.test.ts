/**
 * The cloud–edge link over real sockets on 127.0.0.1 with real TLS (kubeedge-compat.md §5.4):
 * CloudHub's handshake checks (path, node, secret, session limit) answered with plain HTTP
 * statuses before the upgrade, request/answer and re-send over the wire, session replacement,
 * keepalive timeouts on both ends, and EdgeHub's reconnect with back-off. Timings are injected and
 * short; nothing sleeps for seconds.
 */
import { strict as assert } from 'node:assert'
import { readFile } from 'node:fs/promises'
import { get } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import pino, { type Logger } from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import { CloudHub, type CloudHubOptions } from '../../cloud-sync/link/cloud-hub.js'
import { EdgeHub, type EdgeHubOptions } from '../../cloud-sync/link/edge-hub.js'
import { sharedSecretAuthenticator, type Authenticator } from '../../cloud-sync/link/auth.js'
import { CloseCodes, DEFAULT_PROJECT_ID, eventsPath } from '../../cloud-sync/link/protocol.js'
import { message, objectResource, Operations, reportResource, response, Sources, type Envelope } from '../../cloud-sync/messages.js'
import type { Session } from '../../cloud-sync/session.js'
import { makeTestPki } from '../support/pki.js'
import { scratchDir } from '../support/resources.js'

const SECRET = 'correct-horse-battery-staple'
const FAST_BACKOFF = { initialMs: 20, maxMs: 100, multiplier: 2, resetAfterMs: 10_000 }

type LogLine = { level: number; msg: string; code?: string; status?: number; delayMs?: number; err?: { code?: string } }

function captureLog(): { log: Logger; lines: LogLine[]; withCode(code: string): LogLine[] } {
  const lines: LogLine[] = []
  const log = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as LogLine)
        if (process.env.TERN_TEST_LOG !== undefined) process.stderr.write(line)
      },
    },
  )
  return { log, lines, withCode: (code) => lines.filter((l) => l.code === code) }
}

/** Polls `test` every few ms (events from the other end of a real socket have no hook to await). */
async function until(test: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function deviceUpdate(): Envelope {
  return message({ source: Sources.cloud, group: 'resource', operation: Operations.update, resource: objectResource('device', 'default', 'sensor-1') }, { metadata: { name: 'sensor-1' } }, { resourceversion: '7' })
}

function stateReport(): Envelope {
  return message({ source: Sources.edge, group: 'twin', operation: Operations.update, resource: reportResource('state', 'default', 'sensor-1') }, { state: 'online' })
}

type Dialled = { kind: 'open'; socket: WebSocket } | { kind: 'refused'; status: number; code: string } | { kind: 'error'; error: Error & { code?: string } }

describe('cloud-sync link: CloudHub and EdgeHub (kubeedge-compat.md §5.4)', function () {
  let pki: { ca: string; strangerCa: string; cert: string; key: string; client: { cert: string; key: string }; strangerClient: { cert: string; key: string } }
  let removeDir: () => Promise<void>
  const undo: Array<() => unknown> = []

  before(async function () {
    const dir = await scratchDir('tern-link-')
    removeDir = () => dir.remove()
    const made = await makeTestPki(dir.path)
    const text = async (path: string): Promise<string> => readFile(path, 'utf8')
    pki = {
      ca: await text(made.ca), strangerCa: await text(join(dir.path, 'stranger-ca.crt')) /* pki.ts names the untrusted CA's file */, cert: await text(made.server.cert), key: await text(made.server.key),
      client: { cert: await text(made.client.cert), key: await text(made.client.key) },
      strangerClient: { cert: await text(made.strangerClient.cert), key: await text(made.strangerClient.key) },
    }
  })
  after(() => removeDir())
  afterEach(async function () {
    for (const step of undo.splice(0).reverse()) await step()
  })

  async function startHub(overrides: Partial<CloudHubOptions> = {}): Promise<{ hub: CloudHub; sessions: Session[]; logs: ReturnType<typeof captureLog>; port: number; url: string }> {
    const sessions: Session[] = []
    const logs = captureLog()
    const hub = new CloudHub({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: pki.cert, key: pki.key },
      authenticate: sharedSecretAuthenticator(SECRET),
      closeGraceMs: 200,
      log: logs.log,
      onSession: (session) => sessions.push(session),
      ...overrides,
    })
    undo.push(() => hub.stop())
    const { port } = await hub.start()
    return { hub, sessions, logs, port, url: `wss://127.0.0.1:${port}` }
  }

  async function startEdge(url: string, overrides: Partial<EdgeHubOptions> = {}): Promise<{ edge: EdgeHub; sessions: Session[]; logs: ReturnType<typeof captureLog> }> {
    const sessions: Session[] = []
    const logs = captureLog()
    const edge = new EdgeHub({ url, node: 'edge-1', secret: SECRET, ca: pki.ca, backoff: FAST_BACKOFF, closeGraceMs: 200, log: logs.log, onSession: (session) => sessions.push(session), ...overrides })
    undo.push(() => edge.stop())
    await edge.start()
    return { edge, sessions, logs }
  }

  /** A bare `ws` client: what a refused or misbehaving edge sees. */
  function dial(port: number, options: { node?: string; path?: string; secret?: string | null; headers?: Record<string, string>; ca?: string | null; cert?: { cert: string; key: string } } = {}): Promise<Dialled> {
    const path = options.path ?? eventsPath(DEFAULT_PROJECT_ID, options.node ?? 'edge-1')
    const headers = { ...(options.secret === null ? {} : { Authorization: `Bearer ${options.secret ?? SECRET}` }), ...options.headers }
    const ca = options.ca === null ? undefined : (options.ca ?? pki.ca)
    const socket = new WebSocket(`wss://127.0.0.1:${port}${path}`, { headers, ...(ca === undefined ? {} : { ca }), ...options.cert })
    undo.push(() => socket.terminate())
    return new Promise((resolve) => {
      socket.once('open', () => resolve({ kind: 'open', socket }))
      socket.on('error', (error) => resolve({ kind: 'error', error }))
      socket.once('unexpected-response', (_request, res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => {
          socket.terminate()
          resolve({ kind: 'refused', status: res.statusCode ?? 0, code: (JSON.parse(body) as { code: string }).code })
        })
      })
    })
  }

  it('carries a request and its answer both ways over TLS', async function () {
    const cloud = await startHub()
    const edgeSide = await startEdge(cloud.url)
    await until(() => cloud.sessions.length === 1 && edgeSide.sessions.length === 1, 'both ends have a session')
    const [cloudSession, edgeSession] = [cloud.sessions[0] as Session, edgeSide.sessions[0] as Session]
    assert.equal(cloudSession.node, 'edge-1')
    assert.equal(cloud.hub.sessions.get('edge-1'), cloudSession)
    assert.equal(edgeSide.edge.connected, true)

    const atEdge: Envelope[] = []
    edgeSession.onMessage((m) => {
      atEdge.push(m)
      edgeSession.send(response(m, Sources.edge))
    })
    const atCloud: Envelope[] = []
    cloudSession.onMessage((m) => {
      atCloud.push(m)
      cloudSession.send(response(m, Sources.cloud))
    })

    const down = deviceUpdate()
    const downAnswer = await cloudSession.request(down)
    assert.deepEqual(atEdge, [down])
    assert.equal(downAnswer.route.operation, Operations.response)
    assert.equal(downAnswer.header.parent_msg_id, down.header.msg_id)
    assert.equal(downAnswer.content, 'OK')

    const up = stateReport()
    const upAnswer = await edgeSession.request(up)
    assert.deepEqual(atCloud, [up])
    assert.equal(upAnswer.header.parent_msg_id, up.header.msg_id)
    assert.equal(cloudSession.pending + edgeSession.pending, 0)
  })

  it('refuses a wrong secret with 401 CLOUD_AUTH_FAILED and opens no session', async function () {
    const cloud = await startHub()
    const dialled = await dial(cloud.port, { secret: 'not-the-secret' })
    assert.deepEqual(dialled, { kind: 'refused', status: 401, code: 'CLOUD_AUTH_FAILED' })
    assert.equal(cloud.hub.sessions.size, 0)
    assert.equal(cloud.sessions.length, 0)
    assert.equal(cloud.logs.withCode('CLOUD_AUTH_FAILED').length, 1)
  })

  it('refuses a missing secret with 401 CLOUD_AUTH_FAILED', async function () {
    const cloud = await startHub()
    assert.deepEqual(await dial(cloud.port, { secret: null }), { kind: 'refused', status: 401, code: 'CLOUD_AUTH_FAILED' })
    assert.deepEqual(await dial(cloud.port, { secret: null, headers: { Authorization: 'Basic ZWRnZTpzZWNyZXQ=' } }), { kind: 'refused', status: 401, code: 'CLOUD_AUTH_FAILED' })
    assert.equal(cloud.hub.sessions.size, 0)
  })

  it('EdgeHub with a wrong secret logs CLOUD_AUTH_FAILED once and retries at the back-off cap', async function () {
    const cloud = await startHub()
    const edgeSide = await startEdge(cloud.url, { secret: 'not-the-secret' })
    const attempts = (): LogLine[] => edgeSide.logs.withCode('CLOUD_AUTH_FAILED')
    await until(() => attempts().length >= 3, 'three refused attempts')
    assert.equal(attempts().filter((l) => l.level >= 50).length, 1, 'one error per failure streak')
    assert.deepEqual(new Set(attempts().map((l) => l.delayMs)), new Set([FAST_BACKOFF.maxMs]))
    assert.equal(edgeSide.edge.connected, false)
    assert.equal(cloud.hub.sessions.size, 0)
  })

  it('refuses a bad path, node name, project ID or node_id header with 400 before upgrading', async function () {
    const cloud = await startHub()
    const cases: Array<{ name: string; path?: string; node?: string; headers?: Record<string, string> }> = [
      { name: 'no events suffix', path: `/${DEFAULT_PROJECT_ID}/edge-1` },
      { name: 'extra segment', path: `/${DEFAULT_PROJECT_ID}/edge-1/events/x` },
      { name: 'node not DNS-1123', node: 'Edge_1' },
      { name: 'node longer than 253', node: `${'a'.repeat(63)}.`.repeat(4) + 'a' },
      { name: 'another project', path: '/someproject/edge-1/events' },
      { name: 'node_id header names another node', headers: { node_id: 'edge-2' } },
      { name: 'project_id header differs', headers: { project_id: 'someproject' } },
    ]
    for (const c of cases) {
      const dialled = await dial(cloud.port, { ...(c.path === undefined ? {} : { path: c.path }), ...(c.node === undefined ? {} : { node: c.node }), ...(c.headers === undefined ? {} : { headers: c.headers }) })
      assert.deepEqual(dialled, { kind: 'refused', status: 400, code: 'CLOUD_HANDSHAKE_INVALID' }, c.name)
    }
    assert.equal(cloud.hub.sessions.size, 0)
    // matching headers are fine
    const ok = await dial(cloud.port, { headers: { node_id: 'edge-1', project_id: DEFAULT_PROJECT_ID } })
    assert.equal(ok.kind, 'open')
  })

  it('refuses a node over the session limit with 503, and accepts it once another node has left', async function () {
    const cloud = await startHub({ sessionLimit: 1 })
    const a = await dial(cloud.port, { node: 'edge-a' })
    assert.equal(a.kind, 'open')
    assert.deepEqual(await dial(cloud.port, { node: 'edge-b' }), { kind: 'refused', status: 503, code: 'CLOUD_SESSION_LIMIT' })
    // an EdgeHub refused at the limit keeps redialling with back-off
    const edgeB = await startEdge(cloud.url, { node: 'edge-b' })
    await until(() => edgeB.logs.withCode('CLOUD_CONNECT_FAILED').length >= 2, 'edge-b refused twice')
    assert.equal(edgeB.logs.withCode('CLOUD_CONNECT_FAILED')[0]?.status, 503)
    // a node that already has a session may replace it even at the limit
    const a2 = await dial(cloud.port, { node: 'edge-a' })
    assert.equal(a2.kind, 'open')
    assert.equal(cloud.hub.sessions.size, 1)
    const next = edgeB.edge.nextSession()
    ;(a2 as { socket: WebSocket }).socket.close()
    await next
    await until(() => cloud.hub.sessions.has('edge-b'), 'edge-b has a session')
    assert.deepEqual([...cloud.hub.sessions.keys()], ['edge-b'])
  })

  it("replaces a node's session when the node connects again (old one closed with 4000)", async function () {
    const cloud = await startHub()
    const first = await dial(cloud.port)
    assert.equal(first.kind, 'open')
    const firstClosed = new Promise<[number, string]>((resolve) => (first as { socket: WebSocket }).socket.once('close', (code, reason) => resolve([code, reason.toString()])))
    const second = await dial(cloud.port)
    assert.equal(second.kind, 'open')
    assert.deepEqual(await firstClosed, [CloseCodes.replaced, 'replaced'])
    await until(() => cloud.sessions.length === 2, 'two sessions made')
    assert.equal(cloud.sessions[0]?.open, false)
    assert.equal(cloud.hub.sessions.size, 1)
    assert.equal(cloud.hub.sessions.get('edge-1'), cloud.sessions[1])
  })

  it('EdgeHub redials with back-off while the hub is down and reconnects once it is back', async function () {
    const first = await startHub()
    const edgeSide = await startEdge(first.url)
    await until(() => edgeSide.edge.connected, 'edge connected')
    await first.hub.stop()
    await until(() => !edgeSide.edge.connected, 'edge saw the hub go')
    const failures = (): LogLine[] => edgeSide.logs.withCode('CLOUD_CONNECT_FAILED')
    await until(() => failures().length >= 4, 'four failed attempts')
    assert.equal(failures().filter((l) => l.level >= 50).length, 1, 'one error per failure streak, the rest at debug')
    for (const l of failures()) assert.ok((l.delayMs as number) >= FAST_BACKOFF.initialMs && (l.delayMs as number) <= FAST_BACKOFF.maxMs, `delay ${l.delayMs}`)

    const next = edgeSide.edge.nextSession()
    const second = await startHub({ port: first.port })
    const session = await next
    assert.equal(session.open, true)
    await until(() => second.hub.sessions.has('edge-1'), 'the new hub has the session')
    assert.equal(edgeSide.sessions.length, 2)
  })

  it('start() resolves while the cloud is down, and stop() is idempotent on both ends', async function () {
    const cloud = await startHub()
    await cloud.hub.stop()
    await cloud.hub.stop()
    const edgeSide = await startEdge(cloud.url)
    assert.equal(edgeSide.edge.connected, false)
    await until(() => edgeSide.logs.withCode('CLOUD_CONNECT_FAILED').length >= 2, 'two failed attempts')
    const waiting = edgeSide.edge.nextSession()
    await Promise.all([edgeSide.edge.stop(), edgeSide.edge.stop()])
    await assert.rejects(waiting, { code: 'CLOUD_LINK_CLOSED' })
    const after = edgeSide.logs.lines.length
    await delay(3 * FAST_BACKOFF.maxMs)
    assert.equal(edgeSide.logs.lines.length, after, 'no dialling after stop()')
  })

  it('CloudHub closes a session that sends nothing within keepaliveTimeoutMs (4001, CLOUD_KEEPALIVE_TIMEOUT)', async function () {
    const cloud = await startHub({ keepaliveTimeoutMs: 150 })
    const started = Date.now()
    const silent = await dial(cloud.port)
    assert.equal(silent.kind, 'open')
    const [code] = await new Promise<[number]>((resolve) => (silent as { socket: WebSocket }).socket.once('close', (c) => resolve([c])))
    assert.equal(code, CloseCodes.keepaliveTimeout)
    assert.ok(Date.now() - started >= 140, 'not before the timeout')
    assert.equal(cloud.logs.withCode('CLOUD_KEEPALIVE_TIMEOUT').length, 1)
    assert.equal(cloud.hub.sessions.size, 0)
  })

  it('keepalive ping/pong keeps a link with no other traffic open on both ends', async function () {
    const cloud = await startHub({ keepaliveTimeoutMs: 200 })
    const edgeSide = await startEdge(cloud.url, { heartbeatMs: 50, keepaliveTimeoutMs: 200 })
    await until(() => edgeSide.edge.connected && cloud.sessions.length === 1, 'connected')
    await delay(600)
    assert.equal(cloud.sessions.length, 1)
    assert.equal(edgeSide.sessions.length, 1)
    assert.equal(cloud.sessions[0]?.open, true)
    assert.equal(edgeSide.edge.connected, true)
    assert.equal(cloud.logs.withCode('CLOUD_KEEPALIVE_TIMEOUT').length + edgeSide.logs.withCode('CLOUD_KEEPALIVE_TIMEOUT').length, 0)
  })

  it('EdgeHub cuts and redials a hub that never answers its keepalives', async function () {
    // a bare WebSocket server: accepts, reads, never writes
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    undo.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    undo.push(() => server.clients.forEach((c) => c.terminate()))
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    let connections = 0
    server.on('connection', () => connections++)
    const { port } = server.address() as AddressInfo
    const edgeSide = await startEdge(`ws://127.0.0.1:${port}`, { heartbeatMs: 40, keepaliveTimeoutMs: 120 })
    await until(() => connections >= 2, 'the edge redialled')
    assert.ok(edgeSide.logs.withCode('CLOUD_KEEPALIVE_TIMEOUT').length >= 1)
    assert.equal(edgeSide.sessions[0]?.open, false)
  })

  it('re-sends an unanswered request after resendMs; the peer gets it again with the same msg_id', async function () {
    const cloud = await startHub({ resendMs: 50 })
    const edgeSide = await startEdge(cloud.url)
    await until(() => cloud.sessions.length === 1 && edgeSide.sessions.length === 1, 'connected')
    const edgeSession = edgeSide.sessions[0] as Session
    const copies: Envelope[] = []
    edgeSession.onMessage((m) => {
      copies.push(m)
      if (copies.length > 1) edgeSession.send(response(m, Sources.edge)) // the first copy is "lost"
    })
    const request = deviceUpdate()
    const answer = await (cloud.sessions[0] as Session).request(request)
    assert.equal(answer.header.parent_msg_id, request.header.msg_id)
    assert.equal(copies.length, 2)
    assert.deepEqual(copies.map((m) => m.header.msg_id), [request.header.msg_id, request.header.msg_id])
    await delay(120)
    assert.equal(copies.length, 2, 'nothing re-sent once answered')
  })

  it('a client that does not trust the hub CA cannot connect', async function () {
    const cloud = await startHub()
    const stranger = await dial(cloud.port, { ca: pki.strangerCa })
    assert.equal(stranger.kind, 'error')
    assert.equal((stranger as { error: { code?: string } }).error.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    const systemCas = await dial(cloud.port, { ca: null })
    assert.equal(systemCas.kind, 'error')

    const edgeSide = await startEdge(cloud.url, { ca: pki.strangerCa })
    await until(() => edgeSide.logs.withCode('CLOUD_CONNECT_FAILED').length >= 1, 'a failed attempt')
    assert.equal(edgeSide.logs.withCode('CLOUD_CONNECT_FAILED')[0]?.err?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    assert.equal(edgeSide.edge.connected, false)
    assert.equal(cloud.hub.sessions.size, 0)
  })

  it('refuses an EdgeHub configuration it cannot use with CLOUD_CONFIG_INVALID', async function () {
    const logs = captureLog()
    for (const bad of [{ node: 'Edge_1' }, { url: 'http://127.0.0.1:1' }, { url: 'not a url' }, { secret: 'has space' }, { secret: '' }]) {
      const edge = new EdgeHub({ url: 'wss://127.0.0.1:1', node: 'edge-1', secret: SECRET, log: logs.log, onSession: () => undefined, ...bad })
      await assert.rejects(edge.start(), { code: 'CLOUD_CONFIG_INVALID' }, JSON.stringify(bad))
      await edge.stop()
    }
    assert.throws(() => sharedSecretAuthenticator(''), { code: 'CLOUD_CONFIG_INVALID' })
  })

  it('takes another Authenticator with no other change: a certificate check answering 401/403 (the mTLS seam)', async function () {
    // stands in for the mTLS authenticator (CN system:node:<node>); the test PKI's client CN is "client"
    const seen: string[] = []
    const byCertificate: Authenticator = (request, node) => {
      seen.push(node)
      const socket = request.socket as TLSSocket
      if (!socket.authorized) return { ok: false, status: 401, code: 'CLOUD_AUTH_FAILED', reason: 'no trusted client certificate' }
      const cn = socket.getPeerCertificate().subject.CN
      return cn === node ? { ok: true } : { ok: false, status: 403, code: 'CLOUD_AUTH_FAILED', reason: 'certificate is for another node' }
    }
    const cloud = await startHub({ tls: { cert: pki.cert, key: pki.key, ca: pki.ca }, authenticate: byCertificate })
    assert.equal((await dial(cloud.port, { node: 'client', secret: null, cert: pki.client })).kind, 'open')
    assert.deepEqual(await dial(cloud.port, { node: 'edge-1', secret: null, cert: pki.client }), { kind: 'refused', status: 403, code: 'CLOUD_AUTH_FAILED' })
    assert.deepEqual(await dial(cloud.port, { node: 'client', secret: null }), { kind: 'refused', status: 401, code: 'CLOUD_AUTH_FAILED' })
    assert.deepEqual(await dial(cloud.port, { node: 'client', secret: null, cert: pki.strangerClient }), { kind: 'refused', status: 401, code: 'CLOUD_AUTH_FAILED' })
    assert.deepEqual(seen, ['client', 'edge-1', 'client', 'client'])
    assert.deepEqual([...cloud.hub.sessions.keys()], ['client'])
  })

  it('closes a session whose peer sends a frame over maxPayload (1009), and answers plain HTTPS with 426', async function () {
    const cloud = await startHub({ maxPayload: 1024 })
    const edgeSide = await startEdge(cloud.url)
    await until(() => cloud.sessions.length === 1 && edgeSide.sessions.length === 1, 'connected')
    const edgeSession = edgeSide.sessions[0] as Session
    const closedAtEdge = new Promise<number>((resolve) => edgeSession.onClose((code) => resolve(code)))
    edgeSession.send(message({ source: Sources.edge, group: 'twin', operation: Operations.update, resource: 'x' }, 'x'.repeat(2048)))
    assert.equal(await closedAtEdge, 1009, 'RFC 6455 §7.4.1: 1009 message too big')
    await until(() => cloud.sessions[0]?.open === false, 'the cloud session closed')

    const status = await new Promise<number>((resolve, reject) =>
      get(`https://127.0.0.1:${cloud.port}/`, { ca: pki.ca }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      }).on('error', reject),
    )
    assert.equal(status, 426)
  })

  it('start() rejects with CLOUD_LISTEN_FAILED when the port is taken; stop() after that is safe', async function () {
    const taken = await startHub()
    const logs = captureLog()
    const hub = new CloudHub({ host: '127.0.0.1', port: taken.port, authenticate: sharedSecretAuthenticator(SECRET), log: logs.log, onSession: () => undefined })
    await assert.rejects(hub.start(), { code: 'CLOUD_LISTEN_FAILED' })
    await hub.stop()
    await hub.stop()
  })
})
