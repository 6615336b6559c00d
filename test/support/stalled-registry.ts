/**
 * A registry that never answers: a TCP listener on 127.0.0.1 inside containerd's private network
 * namespace (test/support/containerd.ts) that takes connections, reads the requests and sends
 * nothing back, so a pull from it waits until its deadline or until the registry stops.
 * containerd pulls from a loopback registry over plain HTTP (its default for localhost), so
 * `requests()` shows each request line it sent.
 */
import { startChild } from './resources.js'

export interface StalledRegistry {
  /** `127.0.0.1:<port>`, the registry part of an image reference */
  host: string
  /** the first line of each request received (e.g. `GET /v2/ HTTP/1.1`) */
  requests(): string[]
  /** connections open now (pulls being held) */
  held(): number
  /** Stops the registry: every held connection ends (the pulls fail). */
  close(): Promise<void>
}

const SERVER = `
const net = require('node:net')
let open = 0
const server = net.createServer((socket) => {
  console.log('open ' + ++open)
  socket.on('error', () => undefined)
  socket.on('close', () => console.log('open ' + --open))
  socket.once('data', (d) => console.log('request ' + d.toString('latin1').split('\\r\\n')[0]))
})
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port))
`

/** `namespacePid`: a process in the network namespace to listen in (containerd's). */
export async function startStalledRegistry(namespacePid: number): Promise<StalledRegistry> {
  const child = startChild('nsenter', [`--net=/proc/${namespacePid}/ns/net`, '--', process.execPath, '-e', SERVER])
  let port: string
  try {
    port = (await child.waitForLine((l) => l.startsWith('listening '), 30_000)).split(' ')[1] ?? ''
  } catch (err) {
    await child.kill9()
    throw err
  }
  const lines = (prefix: string): string[] =>
    child
      .output()
      .split('\n')
      .filter((l) => l.startsWith(prefix))
      .map((l) => l.slice(prefix.length))
  return {
    host: `127.0.0.1:${port}`,
    requests: () => lines('request '),
    held: () => Number(lines('open ').at(-1) ?? '0'),
    close: () => child.stop(5_000),
  }
}
