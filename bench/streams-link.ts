/**
 * Why the stream tunnel is a connection of its own (docs/cloud.md, "kubectl logs, exec and
 * port-forward"): the round trip of a small control message (a ping answered at once, as the
 * session's keepalive) while a stream floods edge → cloud as fast as its credit allows, with the
 * flood and the pings on one WebSocket (as if streams shared the session's connection) and on two.
 * Both go through one simulated uplink: a proxy that forwards edge → cloud at `rate` bytes/s in
 * total, serving the connections in turn (per-flow fair queueing, Linux's default fq_codel), and
 * cloud → edge at once. Real `ws` sockets and the real stream multiplexer (cloud-sync/streams/mux.ts).
 */
import { createServer } from 'node:http'
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net'
import pino from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import { Mux, type TunnelStream } from '../cloud-sync/streams/mux.js'
import { percentiles } from './phases.js'

export interface LinkBenchOptions {
  /** uplink bytes/s shared by the connections */
  rate: number
  /** pings per case, one at a time, `gapMs` apart */
  pings: number
  gapMs: number
}

export const LINK_DEFAULTS: LinkBenchOptions = { rate: 2_000_000, pings: 100, gapMs: 20 }

const log = pino({ level: 'silent' })

/** The shared uplink: edge → cloud chunks of every connection, served round-robin at `rate`. */
function uplink(targetPort: number, rate: number): Promise<{ port: number; close(): void }> {
  const queues: Array<{ chunks: Buffer[]; out: Socket; from: Socket }> = []
  let turn = 0
  const tickMs = 5
  const timer = setInterval(() => {
    let budget = (rate * tickMs) / 1000
    let idle = 0
    while (budget > 0 && queues.length > 0 && idle < queues.length) {
      const q = queues[turn % queues.length] as (typeof queues)[number]
      turn++
      const chunk = q.chunks.shift()
      if (chunk === undefined) {
        idle++
        continue
      }
      idle = 0
      const n = Math.min(chunk.length, Math.max(1, Math.floor(budget)), 1500)
      q.out.write(chunk.subarray(0, n))
      if (n < chunk.length) q.chunks.unshift(chunk.subarray(n))
      budget -= n
      if (q.chunks.length < 4) q.from.resume()
    }
  }, tickMs)
  const server: TcpServer = createTcpServer((from) => {
    const out = connect(targetPort, '127.0.0.1')
    const q = { chunks: [] as Buffer[], out, from }
    queues.push(q)
    from.on('data', (d: Buffer) => {
      q.chunks.push(d)
      // the uplink's own buffer stays small: the sender's socket buffer is where bytes wait
      if (q.chunks.length >= 8) from.pause()
    })
    out.pipe(from)
    const drop = (): void => {
      queues.splice(queues.indexOf(q), 1)
      from.destroy()
      out.destroy()
    }
    from.on('close', drop)
    from.on('error', drop)
    out.on('error', drop)
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => {
          clearInterval(timer)
          server.close()
          for (const q of queues.splice(0)) q.from.destroy()
        },
      }),
    ),
  )
}

async function rtts(echo: TunnelStream, o: LinkBenchOptions): Promise<Float64Array> {
  const samples = new Float64Array(o.pings)
  for (let i = 0; i < o.pings; i++) {
    const started = performance.now()
    await new Promise<void>((resolve) => {
      echo.once('data', () => resolve())
      echo.write('ping')
    })
    samples[i] = performance.now() - started
    await new Promise((r) => setTimeout(r, o.gapMs))
  }
  return samples
}

export type LinkCase = 'idle' | 'one connection' | 'two connections'

/**
 * One case: the round trips of a small message on an echo stream (cloud → edge → cloud, the
 * answer behind whatever the edge sends on its connection), and the flood's bytes/s meanwhile.
 */
async function runCase(kind: LinkCase, o: LinkBenchOptions): Promise<{ case: LinkCase; rttMs: ReturnType<typeof percentiles>; floodBytesPerSecond: number }> {
  const server = createServer()
  const wss = new WebSocketServer({ server, perMessageDeflate: false })
  const cloudMuxes: Mux[] = []
  const accepted: Array<(mux: Mux) => void> = []
  wss.on('connection', (socket) => {
    const mux = new Mux(socket, { log })
    cloudMuxes.push(mux)
    accepted.shift()?.(mux)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const link = await uplink((server.address() as AddressInfo).port, o.rate)
  const edgeSockets: WebSocket[] = []
  // the edge: floods a `flood` stream as fast as its credit allows, echoes an `echo` one
  const connectEdge = async (): Promise<Mux> => {
    const cloudSide = new Promise<Mux>((resolve) => accepted.push(resolve))
    const socket = new WebSocket(`ws://127.0.0.1:${link.port}/`, { perMessageDeflate: false })
    edgeSockets.push(socket)
    new Mux(socket, {
      log,
      onOpen: (stream, request) => {
        stream.on('error', () => undefined)
        stream.reply({ status: 200 })
        if ((request as { kind: string }).kind === 'echo') {
          stream.pipe(stream)
          return
        }
        const chunk = Buffer.alloc(32 * 1024, 0x78)
        const write = (): void => {
          while (!stream.destroyed && stream.write(chunk));
          if (!stream.destroyed) stream.once('drain', write)
        }
        write()
      },
    })
    return cloudSide
  }
  let floodBytes = 0
  const tunnel = await connectEdge()
  if (kind !== 'idle') {
    const flood = tunnel.open({ kind: 'flood' })
    flood.on('data', (d: Buffer) => (floodBytes += d.length))
    flood.on('error', () => undefined)
    await new Promise((r) => setTimeout(r, 1000)) // the flood fills the path
  }
  const echo = (kind === 'two connections' ? await connectEdge() : tunnel).open({ kind: 'echo' })
  echo.on('error', () => undefined)
  const started = performance.now()
  const before = floodBytes
  const samples = await rtts(echo, o)
  const seconds = (performance.now() - started) / 1000
  const result = { case: kind, rttMs: percentiles(samples), floodBytesPerSecond: Math.round((floodBytes - before) / seconds) }
  for (const m of cloudMuxes) m.close()
  for (const s of edgeSockets) s.terminate()
  link.close()
  wss.close()
  await new Promise((resolve) => server.close(resolve))
  return result
}

export async function runLinkBench(o: LinkBenchOptions, say: (line: string) => void): Promise<Array<Awaited<ReturnType<typeof runCase>>>> {
  const results = []
  for (const kind of ['idle', 'one connection', 'two connections'] as const) {
    const r = await runCase(kind, o)
    say(`streams link ${kind}: round trip p50 ${r.rttMs.p50} ms p99 ${r.rttMs.p99} ms, flood ${Math.round(r.floodBytesPerSecond / 1000)} kB/s`)
    results.push(r)
  }
  return results
}
