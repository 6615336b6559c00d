/**
 * httpGet as the kubelet runs it (pkg/probe/http): GET with `User-Agent: kube-probe/…` and
 * `Accept` of any type unless the probe's headers say otherwise, no keep-alive, HTTPS without verifying
 * the certificate, redirects to the same host followed (at most 10), a redirect elsewhere taken as
 * a warning (success). The whole exchange, redirects included, is bounded by the timeout.
 */
import { request, type IncomingMessage, type RequestOptions } from 'node:http'
import { isIP, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Clock } from '../../mappers/runtime/clock.js'
import type { Dial } from '../pod-network.js'
import { clip, MAX_PROBE_OUTPUT, type ProbeOutcome } from './outcome.js'
import { withTimeout } from './tcp.js'

export interface HttpGetTarget {
  scheme: 'HTTP' | 'HTTPS'
  host: string
  port: number
  path: string
  headers: Array<{ name: string; value: string }>
}

export interface HttpGetResponse {
  status: number
  body: string
  /** The URL that answered (after redirects). */
  url: string
}

const MAX_REDIRECTS = 10

/** One GET, following same-host redirects; rejects on a transport error or the timeout. */
export async function httpGet(dial: Dial, clock: Clock, target: HttpGetTarget, timeoutMs: number): Promise<HttpGetResponse> {
  const inFlight = new Set<{ destroy(): void }>()
  const outcome = await withTimeout(clock, follow(dial, target, inFlight), timeoutMs)
  if (outcome === 'timeout') {
    for (const r of inFlight) r.destroy()
    throw new Error(`Get "${formatUrl(target)}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)
  }
  if (!outcome.ok) throw outcome.error
  return outcome.value
}

/** The probe's verdict on a response: 2xx success, 3xx warning (a redirect not followed), else failure. */
export async function httpProbe(dial: Dial, clock: Clock, target: HttpGetTarget, timeoutMs: number): Promise<ProbeOutcome> {
  try {
    const res = await httpGet(dial, clock, target, timeoutMs)
    if (res.status >= 200 && res.status < 300) return { result: 'success', output: clip(res.body) }
    if (res.status >= 300 && res.status < 400) return { result: 'warning', output: `Probe terminated redirects, Response body: ${clip(res.body)}` }
    return { result: 'failure', output: `HTTP probe failed with statuscode: ${res.status}` }
  } catch (err) {
    return { result: 'failure', output: (err as Error).message }
  }
}

export function formatUrl(t: HttpGetTarget): string {
  const host = isIP(t.host) === 6 ? `[${t.host}]` : t.host
  const path = t.path.startsWith('/') ? t.path : `/${t.path}`
  return `${t.scheme.toLowerCase()}://${host}:${t.port}${path}`
}

async function follow(dial: Dial, target: HttpGetTarget, inFlight: Set<{ destroy(): void }>): Promise<HttpGetResponse> {
  let url = new URL(formatUrl(target))
  for (let hop = 0; ; hop++) {
    const res = await once(dial, url, target, inFlight)
    const location = res.headers.location
    const status = res.statusCode ?? 0
    const body = await readCapped(res)
    if (status < 300 || status >= 400 || location === undefined || hop >= MAX_REDIRECTS) return { status, body, url: url.href }
    const next = new URL(location, url)
    // the kubelet follows a redirect only to the same host; elsewhere it stops with the 3xx
    if (next.hostname !== url.hostname || (next.protocol !== 'http:' && next.protocol !== 'https:')) return { status, body, url: url.href }
    url = next
  }
}

function once(dial: Dial, url: URL, target: HttpGetTarget, inFlight: Set<{ destroy(): void }>): Promise<IncomingMessage> {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80)
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/tern', Accept: '*/*', Connection: 'close' }
  for (const h of target.headers) headers[h.name] = h.value
  return new Promise((resolve, reject) => {
    const req = request({
      method: 'GET',
      host,
      port,
      path: `${url.pathname}${url.search}`,
      headers,
      createConnection: (_opts: unknown, done: (err: Error | null, socket?: Socket) => void) => {
        dial(host, port).then((socket) => {
          if (url.protocol !== 'https:') return done(null, socket)
          const secure = tlsConnect({ socket, rejectUnauthorized: false, servername: isIP(host) === 0 ? host : undefined })
          inFlight.add(secure)
          done(null, secure)
        }, (err: Error) => done(err))
        return undefined
      },
      // Node's typings know only the synchronous form; http.request also takes (options, callback)
    } as unknown as RequestOptions)
    inFlight.add(req)
    req.once('response', resolve)
    req.once('error', reject)
    req.end()
  })
}

/** Reads at most MAX_PROBE_OUTPUT bytes of the body and drops the rest. */
function readCapped(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_PROBE_OUTPUT) chunks.push(chunk)
      size += chunk.length
    })
    const done = (): void => resolve(Buffer.concat(chunks).subarray(0, MAX_PROBE_OUTPUT).toString('utf8'))
    res.once('end', done)
    res.once('error', done)
    res.once('aborted', done)
  })
}
