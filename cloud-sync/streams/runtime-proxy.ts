/**
 * Opens the runtime's streaming session for a stream: a TCP connection to the URL the CRI call
 * answered (containerd's streaming server on this host), with the upgrade request written as the
 * API server sent it to us, path and Host replaced. What follows, the runtime's HTTP answer
 * (101 Switching Protocols) and the SPDY or WebSocket frames, passes through untouched, as the
 * kubelet's proxy passes it (its UpgradeAwareHandler).
 */
import { connect, type Socket } from 'node:net'
import { TernError } from '../../schemas/tern-error.js'

/** How long connecting to the streaming server may take, ms. */
const CONNECT_TIMEOUT_MS = 10_000

export async function proxyToRuntime(url: string, method: string, headers: ReadonlyArray<readonly [string, string]>): Promise<Socket> {
  const target = new URL(url)
  if (target.protocol !== 'http:') throw new TernError('STREAM_RUNTIME_FAILED', `the runtime's streaming URL ${url} is not http:// (TLS streaming servers are not supported)`)
  const port = Number(target.port || 80)
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: target.hostname.replace(/^\[|\]$/g, ''), port })
    const timer = setTimeout(() => s.destroy(new Error('connect timed out')), CONNECT_TIMEOUT_MS)
    s.once('connect', () => {
      clearTimeout(timer)
      s.removeAllListeners('error')
      resolve(s)
    })
    s.once('error', (err) => {
      clearTimeout(timer)
      reject(new TernError('STREAM_RUNTIME_FAILED', `cannot reach the runtime's streaming server at ${target.host}: ${err.message}`, { cause: err }))
    })
  })
  socket.on('error', () => socket.destroy())
  const lines = [`${method} ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`]
  for (const [name, value] of headers) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value) || name.toLowerCase() === 'host') continue
    lines.push(`${name}: ${value}`)
  }
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  return socket
}
