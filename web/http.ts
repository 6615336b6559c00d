/** Small HTTP helpers of the web view: JSON answers with stable error codes, bounded bodies, headers. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import type { ErrorCode } from '../schemas/errors.js'
import type { Problem } from '../schemas/validate.js'

export const MAX_BODY_BYTES = 8192

/** The page loads only its own script and style; nothing may frame it. */
export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export function sendError(res: ServerResponse, status: number, errorCode: ErrorCode, reason: string, extra: { problems?: readonly Problem[]; headers?: Record<string, string> } = {}): void {
  sendJson(res, status, { errorCode, reason, ...(extra.problems === undefined ? {} : { problems: extra.problems }) }, extra.headers)
}

export type Body = { ok: true; value: unknown } | { ok: false; reason: string }

/** A JSON body of at most MAX_BODY_BYTES; anything else is refused without reading further. */
export async function readJson(req: IncomingMessage): Promise<Body> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return { ok: false, reason: 'the body must be application/json' }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return { ok: false, reason: `the body is larger than ${MAX_BODY_BYTES} bytes` }
    chunks.push(chunk)
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) }
  } catch {
    return { ok: false, reason: 'the body is not valid JSON' }
  }
}

/**
 * A request from another site's page carries that site in Origin: refused for every write. (A
 * cross-site form cannot set the JSON content type or the CSRF header either; this is the third lock.)
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}

/**
 * Whether the request came over loopback and names a loopback host: only then is an anonymous
 * viewer admitted, as the bus admits anonymous clients on its loopback listener. The Host check
 * keeps out a page that rebinds its own DNS name to 127.0.0.1.
 */
export function loopbackRequest(req: IncomingMessage): boolean {
  const local = req.socket.localAddress ?? ''
  const host = hostName(req.headers.host ?? '')
  return isLoopbackAddress(local) && (host === 'localhost' || isLoopbackAddress(host))
}

function isLoopbackAddress(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'))
}

function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'))
  const colon = host.lastIndexOf(':')
  return colon < 0 ? host : host.slice(0, colon)
}
