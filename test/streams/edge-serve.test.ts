/**
 * The edge's stream handler (cloud-sync/streams/edge-serve.ts) when the cloud closes a stream at
 * the awkward moments, over a real WebSocket tunnel (cloud Mux ↔ edge Mux) with real CRI log files
 * on disk and a real TCP listener where the runtime's streaming server would be. The runtime's CRI
 * calls are a stub answering what the handler asks (the end-to-end tests use containerd); it lets a
 * test hold the Exec answer until the cloud has given up. What is checked: the log file is not
 * left open, and the streaming server's connection is closed.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import { edgeStreamHandler } from '../../cloud-sync/streams/edge-serve.js'
import { Mux } from '../../cloud-sync/streams/mux.js'
import type { ContainerRuntime, CriStreaming } from '../../edged/cri/runtime.js'
import { CONTAINER_NAME, POD_NAME, POD_NAMESPACE } from '../../edged/labels.js'
import { eventually } from '../support/edged.js'

const log = pino({ level: 'silent' })

async function openFdsTo(path: string): Promise<number> {
  const names = await readdir('/proc/self/fd')
  const links = await Promise.all(names.map((n) => readlink(`/proc/self/fd/${n}`).catch(() => '')))
  return links.filter((l) => l === path).length
}

describe('edge stream handler: streams the cloud closes early free what they hold (real WebSocket, real files)', function () {
  this.timeout(30_000)
  let dir: string
  let cloud: Mux
  let stop: () => Promise<void>
  let execAnswer: Promise<string>
  let execAsked: () => void
  let execCalled: Promise<void>

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tern-edge-serve-'))
    execCalled = new Promise((resolve) => (execAsked = resolve))
    // only what the handler calls: the container is running (attempt 0); Exec answers execAnswer
    const container = { id: 'c1', metadata: { name: 'app', attempt: 0 }, labels: { [POD_NAMESPACE]: 'default', [POD_NAME]: 'p', [CONTAINER_NAME]: 'app' } }
    const runtime = {
      listContainers: () => Promise.resolve([container]),
      exec: () => {
        execAsked()
        return execAnswer
      },
    } as unknown as ContainerRuntime & CriStreaming
    const server = createHttpServer()
    const wss = new WebSocketServer({ server })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve))
    const edgeSocket = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    new Mux(edgeSocket, { log, onOpen: edgeStreamHandler({ runtime, rootDir: dir, log }) })
    await new Promise((resolve) => edgeSocket.once('open', resolve))
    cloud = new Mux(await accepted, { log })
    stop = async () => {
      cloud.close()
      edgeSocket.terminate()
      wss.close()
      await new Promise((resolve) => server.close(resolve))
      await rm(dir, { recursive: true, force: true })
    }
  })
  afterEach(() => stop())

  it('a followed log whose reader stalled and then left: the edge closes the log file', async () => {
    const containerDir = join(dir, 'pods', 'default_p_u1', 'app')
    await mkdir(containerDir, { recursive: true })
    const file = join(containerDir, '0.log')
    // 8 MB of CRI records, far more than a stream's window
    const line = `2026-01-01T00:00:00.000000000Z stdout F ${'x'.repeat(200)}\n`
    await writeFile(file, line.repeat(40_000))
    const stream = cloud.open({ kind: 'logs', namespace: 'default', pod: 'p', container: 'app', query: { follow: 'true' } })
    stream.on('error', () => undefined)
    stream.pause()
    await eventually(() => Promise.resolve(stream.readableLength > 0), 10_000, 'the first bytes at the cloud')
    // the edge runs into the window and waits for credit
    await new Promise((resolve) => setTimeout(resolve, 500))
    stream.destroy()
    await eventually(async () => (await openFdsTo(file)) === 0, 10_000, 'the log file closed at the edge').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await openFdsTo(file)} descriptors still open`)
    })
  })

  it("an exec the cloud closed while the runtime prepared it: the edge closes its connection to the runtime's streaming server", async () => {
    const connections: Socket[] = []
    const streaming: Server = createServer((socket) => {
      connections.push(socket)
      socket.on('error', () => undefined)
      socket.resume()
    })
    await new Promise<void>((resolve) => streaming.listen(0, '127.0.0.1', resolve))
    try {
      let answer: (url: string) => void = () => undefined
      execAnswer = new Promise((resolve) => (answer = resolve))
      const stream = cloud.open({ kind: 'exec', namespace: 'default', pod: 'p', container: 'app', query: [['command', 'cat'], ['input', '1'], ['output', '1']], method: 'POST', headers: [['Upgrade', 'SPDY/3.1']] })
      stream.on('error', () => undefined)
      await execCalled
      // the client leaves before the runtime has answered
      stream.destroy()
      await eventually(() => Promise.resolve(cloud.size === 0), 5_000, 'the stream gone at the cloud')
      await new Promise((resolve) => setTimeout(resolve, 200))
      answer(`http://127.0.0.1:${(streaming.address() as AddressInfo).port}/exec/token`)
      await eventually(() => Promise.resolve(connections.length === 1), 10_000, 'the edge dialled the streaming server')
      await eventually(() => Promise.resolve(connections.every((c) => c.destroyed || c.readableEnded)), 10_000, "the edge's connection to the streaming server closed")
    } finally {
      for (const c of connections) c.destroy()
      await new Promise((resolve) => streaming.close(resolve))
    }
  })
})
