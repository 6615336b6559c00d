/**
 * The edge's stream tunnel (cloud-sync/streams/edge-tunnel.ts) masks its WebSocket frames with a
 * zero key inside TLS, and with random keys over plain ws (RFC 6455 §5.3, §10.3): seen on the
 * wire by a CloudHub stand-in that answers the upgrade itself, opens a stream and reads the raw
 * frame of the edge's reply. A zero key is what lets ws skip masking at the edge and unmasking
 * at the cloud, byte by byte in JavaScript, for every byte of exec output and logs.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer as createHttp, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttps } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import pino from 'pino'
import { encodeJson, FrameType } from '../../cloud-sync/streams/frames.js'
import { EdgeTunnel } from '../../cloud-sync/streams/edge-tunnel.js'
import type { Session } from '../../cloud-sync/session.js'
import { makeTestPki, type TestPki } from '../support/pki.js'
import { scratchDir } from '../support/resources.js'

const log = pino({ level: 'silent' })
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** The masking keys of the first `count` frames the edge sends on its tunnel, after the cloud opens `count` streams. */
async function edgeMasks(server: Server, scheme: 'ws' | 'wss', ca: Buffer | undefined, count: number): Promise<string[]> {
  const upgraded: Duplex[] = []
  const keys = new Promise<string[]>((resolve, reject) => {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
      upgraded.push(socket)
      const accept = createHash('sha1').update(`${String(request.headers['sec-websocket-key'])}${GUID}`).digest('base64')
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
      for (let id = 1; id <= count; id++) {
        const frame = encodeJson(FrameType.open, id * 2 - 1, { kind: 'logs' })
        socket.write(Buffer.concat([Buffer.from([0x82, frame.length]), frame]))
      }
      let got = Buffer.alloc(0)
      const found: string[] = []
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk])
        // client frames: FIN+opcode, MASK bit + 7-bit length (the replies are short), 4-byte key, payload
        while (got.length >= 6 && got.length >= 6 + ((got[1] ?? 0) & 0x7f)) {
          if (((got[1] ?? 0) & 0x80) === 0) reject(new Error('an unmasked client frame'))
          found.push(got.subarray(2, 6).toString('hex'))
          got = got.subarray(6 + ((got[1] ?? 0) & 0x7f))
          if (found.length === count) resolve(found.slice())
        }
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const session = { open: true, onClose: () => undefined } as unknown as Session
  const tunnel = new EdgeTunnel({
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    node: 'n1',
    projectId: 'p',
    credentials: () => ({ secret: 'x' }),
    ...(ca === undefined ? {} : { ca }),
    serve: (stream) => {
      stream.on('error', () => undefined)
      stream.reply({ status: 200 })
    },
    log,
  })
  tunnel.attach(session)
  try {
    return await keys
  } finally {
    tunnel.stop()
    for (const socket of upgraded) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
}

describe('stream tunnel: the edge masks its frames with a zero key inside TLS only (RFC 6455 §10.3)', function () {
  this.timeout(30_000)
  let pki: TestPki
  let dir: Awaited<ReturnType<typeof scratchDir>>

  before(async () => {
    dir = await scratchDir()
    pki = await makeTestPki(dir.path)
  })
  after(() => dir.remove())

  it('over wss: every frame of the edge has the zero masking key', async () => {
    const [cert, key, ca] = await Promise.all([pki.read(pki.server.cert), pki.read(pki.server.key), pki.read(pki.ca)])
    const keys = await edgeMasks(createHttps({ cert, key }), 'wss', ca, 3)
    assert.deepEqual(keys, ['00000000', '00000000', '00000000'])
  })

  it('over plain ws: random masking keys, as RFC 6455 wants where an intermediary may read the bytes', async () => {
    const keys = await edgeMasks(createHttp(), 'ws', undefined, 3)
    assert.equal(new Set(keys).size, 3, `keys ${keys.join(' ')}`)
    assert.ok(!keys.includes('00000000'))
  })
})
