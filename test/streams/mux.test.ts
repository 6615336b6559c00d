/**
 * The stream tunnel's multiplexing (cloud-sync/streams/mux.ts) over a real WebSocket on port 0:
 * credit flow control bounds what a stream that nobody reads holds at either end, other streams on
 * the same tunnel go on meanwhile, a stream closed at one end is closed at the other, and a peer
 * that sends beyond its credit loses the stream.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import pino from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import { encodeCredit, encodeFrame, FrameType } from '../../cloud-sync/streams/frames.js'
import { DEFAULT_WINDOW, MAX_CONTROL, MAX_DATA, Mux, type TunnelStream } from '../../cloud-sync/streams/mux.js'
import { eventually } from '../support/edged.js'

const log = pino({ level: 'silent' })

interface Pair {
  cloud: Mux
  /** the cloud Mux's socket */
  cloudSocket: WebSocket
  edgeSocket: WebSocket
  /** bytes each flood stream at the edge has written so far */
  produced: Map<number, number>
  stop(): Promise<void>
}

/** A cloud Mux and an edge Mux that floods `flood` streams (as fast as back-pressure lets it) and echoes `echo` ones. */
async function pair(): Promise<Pair> {
  const server = createServer()
  const wss = new WebSocketServer({ server })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve))
  const edgeSocket = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`)
  const produced = new Map<number, number>()
  new Mux(edgeSocket, {
    log,
    onOpen: (stream, request) => {
      stream.on('error', () => undefined)
      stream.reply({ status: 200 })
      if ((request as { kind: string }).kind === 'echo') {
        stream.pipe(stream)
        return
      }
      produced.set(stream.id, 0)
      const chunk = Buffer.alloc(16 * 1024, 0x78)
      const write = (): void => {
        while (!stream.destroyed) {
          produced.set(stream.id, (produced.get(stream.id) ?? 0) + chunk.length)
          if (!stream.write(chunk)) {
            stream.once('drain', write)
            return
          }
        }
      }
      write()
    },
  })
  await new Promise((resolve) => edgeSocket.once('open', resolve))
  const cloudSocket = await accepted
  const cloud = new Mux(cloudSocket, { log })
  return {
    cloud,
    cloudSocket,
    edgeSocket,
    produced,
    stop: async () => {
      cloud.close()
      edgeSocket.terminate()
      wss.close()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('stream tunnel multiplexing: credit flow control (real WebSocket)', function () {
  this.timeout(30_000)
  let p: Pair
  beforeEach(async () => {
    p = await pair()
  })
  afterEach(() => p.stop())

  it('a stream nobody reads holds at most its window at the receiver and stops its producer; another stream goes on; read later, everything arrives', async () => {
    const stalled = p.cloud.open({ kind: 'flood' })
    stalled.on('error', () => undefined)
    stalled.pause()
    await eventually(() => Promise.resolve((p.produced.get(stalled.id) ?? 0) > 0), 10_000, 'the flood started')
    // let it run into the window, then check it stays there
    await new Promise((r) => setTimeout(r, 500))
    const held = stalled.readableLength
    const producedThen = p.produced.get(stalled.id) ?? 0
    assert.ok(held <= DEFAULT_WINDOW, `the cloud holds ${held} bytes of the stalled stream, more than the window`)
    // what the edge wrote: the window in flight, its writable buffer and one chunk it was told to hold
    assert.ok(producedThen <= DEFAULT_WINDOW + MAX_DATA + 16 * 1024 * 2, `the edge produced ${producedThen} bytes for a reader that took none`)
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(p.produced.get(stalled.id), producedThen, 'the producer is stopped while the reader is stalled')

    const echo = p.cloud.open({ kind: 'echo' })
    const back: Buffer[] = []
    echo.on('data', (d: Buffer) => back.push(d))
    const message = Buffer.alloc(600_000, 0x61)
    echo.end(message)
    await eventually(() => Promise.resolve(Buffer.concat(back).length === message.length), 10_000, 'the echo stream round-tripping 600 kB past the window')

    let taken = 0
    stalled.pipe(new Writable({ write: (chunk: Buffer, _e, done) => ((taken += chunk.length), done()) }))
    await eventually(() => Promise.resolve(taken > 4 * DEFAULT_WINDOW), 10_000, 'the stalled stream flowing once read')
  })

  it('closing a stream at the cloud closes it at the edge (its producer stops), and the tunnel stays usable', async () => {
    const edgeClosed = new Promise<void>((resolve) => p.edgeSocket.on('message', (d: Buffer) => d[0] === FrameType.reset && resolve()))
    const stream = p.cloud.open({ kind: 'flood' })
    stream.on('error', () => undefined)
    await eventually(() => Promise.resolve((p.produced.get(stream.id) ?? 0) > 0), 10_000, 'the flood started')
    stream.destroy()
    await eventually(() => Promise.resolve(p.cloud.size === 0), 5_000, 'the stream forgotten at the cloud')
    const stopped = p.produced.get(stream.id)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(p.produced.get(stream.id), stopped, 'the edge stopped producing')
    void edgeClosed
    const echo = p.cloud.open({ kind: 'echo' })
    const back: Buffer[] = []
    echo.on('data', (d: Buffer) => back.push(d))
    echo.end('still here')
    await eventually(() => Promise.resolve(Buffer.concat(back).toString() === 'still here'), 5_000, 'a new stream on the same tunnel')
  })

  it('a peer sending beyond its credit loses the stream (STREAM_PROTOCOL_ERROR)', async () => {
    const stream: TunnelStream = p.cloud.open({ kind: 'echo' })
    stream.pause()
    const failed = new Promise<Error>((resolve) => stream.once('error', resolve))
    // the edge's socket, used raw: one window and one byte more, without waiting for credit
    for (let sent = 0; sent < DEFAULT_WINDOW; sent += MAX_DATA) p.edgeSocket.send(encodeFrame(FrameType.data, stream.id, Buffer.alloc(MAX_DATA, 1)))
    p.edgeSocket.send(encodeFrame(FrameType.data, stream.id, Buffer.alloc(1, 1)))
    assert.equal(((await failed) as Error & { code?: string }).code, 'STREAM_PROTOCOL_ERROR')
  })

  it('a peer granting credit beyond the window loses the stream (STREAM_PROTOCOL_ERROR)', async () => {
    const stream = p.cloud.open({ kind: 'echo' })
    const failed = new Promise<Error>((resolve) => stream.once('error', resolve))
    p.edgeSocket.send(encodeCredit(stream.id, 1))
    assert.equal(((await failed) as Error & { code?: string }).code, 'STREAM_PROTOCOL_ERROR')
  })

  it('a frame larger than the protocol allows, or one that is not a frame, closes the tunnel; its streams end with STREAM_CLOSED', async () => {
    for (const bad of [encodeFrame(FrameType.data, 1, Buffer.alloc(MAX_DATA + 1)), encodeFrame(FrameType.reply, 1, Buffer.alloc(MAX_CONTROL + 1)), Buffer.from([FrameType.data, 0, 0]), Buffer.from([99, 0, 0, 0, 1])]) {
      const pp = await pair()
      try {
        const stream = pp.cloud.open({ kind: 'echo' })
        const failed = new Promise<Error>((resolve) => stream.once('error', resolve))
        pp.edgeSocket.send(bad)
        assert.equal(((await failed) as Error & { code?: string }).code, 'STREAM_CLOSED')
        assert.ok(pp.cloud.closed, 'the tunnel is closed')
      } finally {
        await pp.stop()
      }
    }
  })

  it('frames of streams that do not exist get no answer: a peer that sends them and reads nothing cannot make this side buffer', async () => {
    const marker = p.cloud.open({ kind: 'echo' })
    marker.on('error', () => undefined)
    await new Promise((resolve) => setTimeout(resolve, 100))
    // the edge stops reading its socket, then sends 300,000 small frames of unknown streams and,
    // last, one byte on a stream the cloud has: when that arrives, the cloud has handled the rest
    ;(p.edgeSocket as unknown as { _socket: { pause(): void } })._socket.pause()
    for (let i = 0; i < 300_000; i++) p.edgeSocket.send(encodeFrame(FrameType.data, 1_000_001 + 2 * (i % 1000), Buffer.alloc(1)))
    p.edgeSocket.send(encodeFrame(FrameType.data, marker.id, Buffer.from('!')))
    await new Promise((resolve) => marker.once('data', resolve))
    assert.ok(p.cloudSocket.bufferedAmount < 64 * 1024, `the cloud buffers ${p.cloudSocket.bufferedAmount} bytes for a peer that reads nothing`)
    assert.equal(p.cloud.closed, false)
  })
})
