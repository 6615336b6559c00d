/**
 * The ports `tern edge` and `tern cloud` listen on when their config names none: tests and benches
 * must never need them free (another run, or someone's node on the machine, may hold them).
 * `holdDefaultPorts` takes them for a while, so a test shows that what it starts does not use them.
 */
import { createServer, type Server } from 'node:net'
import { HTTP_LISTEN_DEFAULT } from '../../schemas/http-listener.js'

const httpPort = Number(HTTP_LISTEN_DEFAULT.slice(HTTP_LISTEN_DEFAULT.lastIndexOf(':') + 1))

/** Every default listener: edge and cloud metrics (9464), the edge broker (1883), CloudHub (10000), the stream endpoint (10350). */
export const DEFAULT_PORTS: readonly number[] = [httpPort, 1883, 10_000, 10_350]

/**
 * Listens on 127.0.0.1 on every default port that is free (one another process holds is taken
 * already, which is what the caller wants) and resolves with a function that lets them go. A
 * listener on a wildcard address (CloudHub's default 0.0.0.0) cannot bind beside these.
 */
export async function holdDefaultPorts(ports: readonly number[] = DEFAULT_PORTS): Promise<() => Promise<void>> {
  const held: Server[] = []
  for (const port of ports) {
    const server = createServer((socket) => socket.destroy())
    const bound = await new Promise<boolean>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)))
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true))
    })
    if (bound) held.push(server)
  }
  return async () => {
    await Promise.all(held.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
  }
}
