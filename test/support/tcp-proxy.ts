/**
 * A TCP proxy to 127.0.0.1:`target` that can go silent as a half-dead peer does: `freeze()` stops
 * reading on every open connection (bytes sent either way go unanswered and nothing is closed, as
 * when a route vanishes), and with `{ newConnections: true }` also accepts new connections and
 * relays nothing on them; with `{ only }`, it freezes only the connections that reach the target
 * from those ports (the client ports the target sees: one watch's connection, say), and the others
 * and new ones go on. `thaw()` relays again, what was held first, and passes on closes.
 */
import { connect, createServer, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  freeze(options?: { newConnections?: boolean; only?: readonly number[] }): void
  thaw(): void
  /** connections accepted so far */
  accepted(): number
  stop(): Promise<void>
}

interface Pair {
  client: Socket
  upstream: Socket
  frozen: boolean
  end: () => void
}

export async function startTcpProxy(target: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>()
  let freezeNew = false
  let accepted = 0
  const hold = (pair: Pair, frozen: boolean): void => {
    pair.frozen = frozen
    for (const socket of [pair.client, pair.upstream]) {
      if (frozen) socket.pause()
      else socket.resume()
    }
  }
  // not pipe(): it resumes the source at the destination's 'drain', frozen or not
  const relay = (from: Socket, to: Socket, pair: Pair): void => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause()
    })
    to.on('drain', () => {
      if (!pair.frozen) from.resume()
    })
  }
  const server = createServer((client) => {
    accepted++
    const upstream = connect({ host: '127.0.0.1', port: target })
    const pair: Pair = { client, upstream, frozen: false, end: () => undefined }
    pairs.add(pair)
    // a frozen pair passes on no close either: the other side learns nothing until thawed
    const end = (): void => {
      if (pair.frozen) return
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    pair.end = end
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    relay(client, upstream, pair)
    relay(upstream, client, pair)
    if (freezeNew) hold(pair, true)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    freeze: (options = {}) => {
      for (const pair of pairs) if (options.only === undefined || options.only.includes(pair.upstream.localPort ?? -1)) hold(pair, true)
      freezeNew = options.newConnections === true
    },
    thaw: () => {
      freezeNew = false
      for (const pair of pairs) {
        hold(pair, false)
        if (pair.client.destroyed || pair.upstream.destroyed) pair.end()
      }
    },
    accepted: () => accepted,
    stop: async () => {
      for (const pair of pairs) {
        pair.client.destroy()
        pair.upstream.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
