/**
 * What the API server does for pods/log, pods/exec, pods/attach and pods/portforward: find the
 * pod's node (`spec.nodeName`), reach that node's kubelet at its address and
 * `status.daemonEndpoints.kubeletEndpoint.Port` over HTTPS with the API server's kubelet client
 * certificate, on the kubelet's path (pkg/registry/core/pod/strategy.go LogLocation,
 * ExecLocation, AttachLocation, PortForwardLocation), and pass the answer back: a log response
 * streamed, an upgraded connection proxied byte for byte (the UpgradeAwareHandler).
 *
 * As an API server started with `--kubelet-preferred-address-types=InternalIP,Hostname` and
 * without stream translation: kubectl's WebSocket attempt (v5.channel.k8s.io, or port-forward's
 * tunnelled SPDY) is passed on as it came, the kubelet's runtime refuses it, and kubectl falls back
 * to SPDY, which is what an API server with translation sends a kubelet anyway.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import type { Api } from './api.js'
import type { ResourceType } from './registry.js'
import { ApiError, badRequest } from './status.js'
import type { KubeObject } from './store.js'

/** The API server's kubelet client credentials (PEM contents) and the CA it checks kubelets with, if any. */
export interface KubeletClient {
  cert: Buffer
  key: Buffer
  /** --kubelet-certificate-authority; without it the kubelet's certificate is not checked (the API server's default) */
  ca?: Buffer
}

export const NODE_SUBRESOURCES = new Set(['log', 'exec', 'attach', 'portforward'])

/** kubectl's exec/attach flags and the kubelet's names for them (api.ExecStdinParam & co.). */
const STDIO: Array<[string, string]> = [
  ['stdin', 'input'],
  ['stdout', 'output'],
  ['stderr', 'error'],
  ['tty', 'tty'],
]
const LOG_KEYS = ['follow', 'previous', 'tailLines', 'timestamps', 'sinceSeconds', 'sinceTime', 'limitBytes']
const NOT_FORWARDED = new Set(['host', 'authorization', 'content-length'])

interface Location {
  host: string
  port: number
  path: string
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}

/** The kubelet URL of a pod subresource request. */
export function kubeletLocation(api: Api, types: { pods: ResourceType; nodes: ResourceType }, namespace: string, name: string, subresource: string, query: URLSearchParams): Location {
  const pod = api.get(types.pods, namespace, name)
  const spec = record(pod.spec)
  const nodeName = typeof spec.nodeName === 'string' ? spec.nodeName : ''
  if (nodeName === '') throw badRequest(`pod ${name} does not have a host assigned`)
  const node: KubeObject = api.get(types.nodes, '', nodeName)
  const status = record(node.status)
  const addresses = (Array.isArray(status.addresses) ? status.addresses : []).map(record)
  const address = ['InternalIP', 'Hostname'].map((t) => addresses.find((a) => a.type === t)?.address).find((a): a is string => typeof a === 'string')
  if (address === undefined) throw new ApiError(500, 'InternalError', `node ${nodeName} has no address of the preferred types InternalIP, Hostname`)
  const port = Number(record(record(status.daemonEndpoints).kubeletEndpoint).Port ?? 10250) || 10250
  const containers = (Array.isArray(spec.containers) ? spec.containers : []).map((c) => String(record(c).name))
  const container = (): string => {
    const wanted = query.get('container')
    if (wanted !== null && wanted !== '') {
      if (!containers.includes(wanted)) throw badRequest(`container ${wanted} is not valid for pod ${name}`)
      return wanted
    }
    if (containers.length === 1) return containers[0] as string
    throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`)
  }
  const params = new URLSearchParams()
  const seg = encodeURIComponent
  let path: string
  switch (subresource) {
    case 'log':
      for (const key of LOG_KEYS) for (const v of query.getAll(key)) params.append(key, v)
      path = `/containerLogs/${seg(namespace)}/${seg(name)}/${seg(container())}`
      break
    case 'exec':
    case 'attach':
      if (subresource === 'exec') for (const c of query.getAll('command')) params.append('command', c)
      for (const [kubectl, kubelet] of STDIO) if (query.get(kubectl) === 'true' || query.get(kubectl) === '1') params.append(kubelet, '1')
      path = `/${subresource}/${seg(namespace)}/${seg(name)}/${seg(container())}`
      break
    case 'portforward':
      for (const p of query.getAll('ports')) params.append('port', p)
      path = `/portForward/${seg(namespace)}/${seg(name)}`
      break
    default:
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
  }
  const search = params.toString()
  return { host: address, port, path: search === '' ? path : `${path}?${search}` }
}

/** GET pods/log: the kubelet's response streamed through. */
export function proxyLog(location: Location, client: KubeletClient, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = httpsRequest(
      { host: location.host, port: location.port, path: location.path, method: 'GET', cert: client.cert, key: client.key, ...(client.ca === undefined ? { rejectUnauthorized: false } : { ca: client.ca }) },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, { 'Content-Type': answer.headers['content-type'] ?? 'text/plain', 'Cache-Control': 'no-cache, private' })
        res.flushHeaders()
        answer.pipe(res)
        answer.on('end', resolve)
        answer.on('error', () => res.destroy())
      },
    )
    upstream.on('error', (err) => (res.headersSent ? res.destroy() : reject(new ApiError(500, 'InternalError', `error dialing backend: ${err.message}`))))
    res.on('close', () => upstream.destroy())
    req.on('close', () => {
      if (!res.writableEnded) upstream.destroy()
    })
    upstream.end()
  })
}

/** An upgraded exec/attach/portforward connection, proxied to the kubelet byte for byte. */
export function proxyUpgrade(location: Location, client: KubeletClient, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const upstream = tlsConnect({ host: location.host, port: location.port, cert: client.cert, key: client.key, ...(client.ca === undefined ? { rejectUnauthorized: false } : { ca: client.ca }), ALPNProtocols: ['http/1.1'] })
  const lines = [`${req.method ?? 'GET'} ${location.path} HTTP/1.1`, `Host: ${location.host}:${location.port}`]
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const header = req.rawHeaders[i] as string
    if (!NOT_FORWARDED.has(header.toLowerCase())) lines.push(`${header}: ${req.rawHeaders[i + 1] as string}`)
  }
  upstream.once('secureConnect', () => {
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`)
    if (head.length > 0) upstream.write(head)
    socket.pipe(upstream).pipe(socket)
  })
  upstream.on('error', (err: Error) => {
    if (socket.writable && upstream.bytesRead === 0) {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `error dialing backend: ${err.message}`, reason: 'InternalError', code: 500 })
      socket.end(`HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    } else socket.destroy()
  })
  socket.on('error', () => upstream.destroy())
  socket.on('close', () => upstream.destroy())
}
