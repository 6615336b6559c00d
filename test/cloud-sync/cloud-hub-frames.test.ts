/**
 * Malformed frames on a real CloudHub WebSocket: every frame that is not a message envelope — text
 * that is not JSON, binary garbage, a large frame under `maxPayload`, JSON with no usable `msg_id`
 * — is answered with an `error` CLOUD_MESSAGE_INVALID, and the session stays open and keeps serving
 * (README, "Wire protocol"). Only a frame over `maxPayload` ends the session (1009).
 */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import WebSocket from 'ws'
import { sharedSecretAuthenticator } from '../../cloud-sync/link/auth.js'
import { CloudHub } from '../../cloud-sync/link/cloud-hub.js'
import { DEFAULT_PROJECT_ID, eventsPath } from '../../cloud-sync/link/protocol.js'
import { keepalive, message, Operations, Sources, type Envelope } from '../../cloud-sync/messages.js'
import type { Session } from '../../cloud-sync/session.js'

const SECRET = 'correct-horse-battery-staple'
const MAX_PAYLOAD = 64 * 1024

describe('cloud-sync link: CloudHub answers every malformed frame with CLOUD_MESSAGE_INVALID', function () {
  let hub: CloudHub
  let port: number
  const sessions: Session[] = []
  const sockets: WebSocket[] = []

  before(async function () {
    hub = new CloudHub({ host: '127.0.0.1', port: 0, authenticate: sharedSecretAuthenticator(SECRET), maxPayload: MAX_PAYLOAD, closeGraceMs: 200, log: pino({ level: 'silent' }), onSession: (s) => sessions.push(s) })
    port = (await hub.start()).port
  })
  after(async function () {
    for (const socket of sockets) socket.terminate()
    await hub.stop()
  })

  /** A bare `ws` client holding an edge session; every frame it receives is kept, parsed. */
  async function connect(node: string): Promise<{ socket: WebSocket; frames: Envelope[]; closed: Promise<number> }> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${eventsPath(DEFAULT_PROJECT_ID, node)}`, { headers: { Authorization: `Bearer ${SECRET}` } })
    sockets.push(socket)
    const frames: Envelope[] = []
    socket.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as Envelope))
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)))
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    return { socket, frames, closed }
  }

  /** Sends `frame`, then waits for the answer to it (frames are answered in order). */
  async function answerTo(client: { socket: WebSocket; frames: Envelope[] }, frame: string | Buffer, binary = false): Promise<Envelope> {
    const before = client.frames.length
    client.socket.send(frame, { binary })
    const deadline = Date.now() + 5000
    while (client.frames.length === before) {
      if (Date.now() > deadline) throw new Error(`no answer to ${String(frame).slice(0, 40)}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return client.frames[before] as Envelope
  }

  function assertInvalid(answer: Envelope, parent: string): void {
    assert.equal(answer.route.operation, Operations.error)
    assert.equal(answer.header.parent_msg_id, parent)
    assert.equal((answer.content as { code: string }).code, 'CLOUD_MESSAGE_INVALID')
  }

  it('answers text that is not JSON, binary garbage, a 60 KiB garbage frame, and JSON with no or a bad msg_id; the session stays open', async function () {
    const client = await connect('edge-frames')
    const cases: Array<{ what: string; frame: string | Buffer; binary?: boolean; parent?: string }> = [
      { what: 'text that is not JSON', frame: 'not json {' },
      { what: 'binary garbage', frame: randomBytes(512), binary: true },
      { what: 'a large garbage frame under maxPayload', frame: 'x'.repeat(60 * 1024) },
      { what: 'JSON that is not an object', frame: '42' },
      { what: 'null', frame: 'null' },
      { what: 'an envelope with no msg_id', frame: JSON.stringify({ header: { timestamp: 1 }, route: { source: 'twin', group: 'twin', operation: 'update', resource: 'x' } }) },
      { what: 'an envelope whose msg_id is a number', frame: JSON.stringify({ header: { msg_id: 7, timestamp: 1 }, route: {} }) },
      { what: 'an envelope whose msg_id is too long to echo', frame: JSON.stringify({ header: { msg_id: 'm'.repeat(300), timestamp: 1 }, route: {} }) },
      { what: 'an envelope with a msg_id but no route', frame: JSON.stringify({ header: { msg_id: 'bad-1', timestamp: 1 } }), parent: 'bad-1' },
    ]
    for (const c of cases) {
      const answer = await answerTo(client, c.frame, c.binary)
      assertInvalid(answer, c.parent ?? '')
      assert.ok(answer.header.msg_id.length > 0, c.what)
    }
    // still served: a keepalive gets its pong, and the hub holds the node's session
    const pong = await answerTo(client, JSON.stringify(keepalive('ping')))
    assert.equal(pong.route.operation, Operations.keepalive)
    assert.equal(pong.content, 'pong')
    assert.equal(hub.sessions.get('edge-frames')?.open, true)
  })

  it('a tern Session drops an answer to a malformed frame (parent_msg_id "") without dispatching it', async function () {
    const client = await connect('edge-quiet')
    const session = hub.sessions.get('edge-quiet') as Session
    const dispatched: Envelope[] = []
    session.onMessage((m) => dispatched.push(m))
    const answer = await answerTo(client, 'garbage')
    // echo the hub's own answer back: it is an answer to nothing pending, so it must be dropped
    // silently, not dispatched and not answered (two tern ends never trade errors forever)
    client.socket.send(JSON.stringify(answer))
    const real = message({ source: Sources.edge, group: 'twin', operation: Operations.update, resource: 'device/default/d/state/update' }, { state: 'online' })
    client.socket.send(JSON.stringify(real))
    const deadline = Date.now() + 5000
    while (dispatched.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    assert.deepEqual(dispatched, [real])
    assert.equal(client.frames.length, 1, 'the echoed answer was not answered')
  })

  it('closes the session with 1009 for a frame over maxPayload', async function () {
    const client = await connect('edge-huge')
    client.socket.send('y'.repeat(MAX_PAYLOAD + 1))
    assert.equal(await client.closed, 1009)
  })
})
