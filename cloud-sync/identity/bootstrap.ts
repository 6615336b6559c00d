/**
 * The bootstrap endpoints on CloudHub's TLS port, for nodes that have no certificate yet
 * (kubeedge-compat.md §5.6, on one port instead of KubeEdge's 10002):
 *
 * - `GET /ca.crt`: the fleet CA certificate, PEM. Unauthenticated: the node trusts it only when
 *   its SHA-256 matches the pin of its join token.
 * - `POST /node.crt` with `Authorization: Bearer <id>.<secret>` and a PEM CSR as the body (at
 *   most 8 KiB, read within 10 s): a node certificate, as JSON `{node, cert, ca, notAfter}`.
 *   Refusals are JSON `{code, reason}` with the HTTP status of the code (400, 401, 403, 409, 413, 503).
 *
 * Renewal does not come here: a node renews over its authenticated session (renewal.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { TernError, type ErrorCode } from '../../schemas/tern-error.js'
import type { NodeIdentities } from './node-identities.js'
import { parseToken } from './tokens.js'
import { MAX_CSR_BYTES } from './x509.js'

export const CA_PATH = '/ca.crt'
export const NODE_CERT_PATH = '/node.crt'

const BODY_TIMEOUT_MS = 10_000

const STATUS: Partial<Record<ErrorCode, number>> = {
  NODE_CSR_INVALID: 400,
  JOIN_TOKEN_INVALID: 401,
  JOIN_TOKEN_EXPIRED: 401,
  JOIN_TOKEN_USED_UP: 401,
  JOIN_TOKEN_NODE_MISMATCH: 403,
  JOIN_NODE_EXISTS: 409,
  IDENTITY_STORE_FAILED: 503,
}

/** CloudHub's `serve` hook: true when the request was one of the bootstrap endpoints. */
export function bootstrapHandler(identities: NodeIdentities, caPem: string, log: Logger): (request: IncomingMessage, response: ServerResponse) => boolean {
  const blog = log.child({ part: 'bootstrap' })
  return (request, response) => {
    const path = (request.url ?? '').split('?', 1)[0]
    if (path === CA_PATH) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, { code: 'USAGE', reason: 'GET only' })
      response.writeHead(200, { 'Content-Type': 'application/x-pem-file', 'Content-Length': Buffer.byteLength(caPem), 'Cache-Control': 'no-store' }).end(request.method === 'HEAD' ? undefined : caPem)
      return true
    }
    if (path !== NODE_CERT_PATH) return false
    if (request.method !== 'POST') return reply(response, 405, { code: 'USAGE', reason: 'POST a PEM certificate request' })
    const remote = request.socket.remoteAddress
    void readBody(request, MAX_CSR_BYTES)
      .then(async (body) => {
        const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')
        const token = match === null ? undefined : parseToken(match[1] as string)
        if (token === undefined) throw new TernError('JOIN_TOKEN_INVALID', 'no join token <id>.<secret> in the Authorization header')
        const issued = await identities.join(token, body)
        reply(response, 200, issued)
      })
      .catch((err: unknown) => {
        if (err instanceof BodyError) {
          blog.warn({ code: 'NODE_CSR_INVALID', remote, reason: err.message }, 'join request refused')
          reply(response, err.status, { code: 'NODE_CSR_INVALID', reason: err.message })
          if (err.status === 413 || err.status === 408) request.destroy()
          return
        }
        const code: ErrorCode = err instanceof TernError ? err.code : 'IDENTITY_STORE_FAILED'
        const status = STATUS[code] ?? 500
        // the token's secret is never logged: only its id, when it parsed
        blog.warn({ code, remote, reason: (err as Error).message }, 'join request refused')
        reply(response, status, { code, reason: (err as Error).message })
      })
    return true
  }
}

class BodyError extends Error {
  constructor(
    readonly status: 400 | 408 | 413,
    message: string,
  ) {
    super(message)
  }
}

/** The body as UTF-8, at most `limit` bytes (else 413 before reading more), within BODY_TIMEOUT_MS (else 408). */
function readBody(request: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? NaN)
    if (declared > limit) return reject(new BodyError(413, `the certificate request is larger than ${limit} bytes`))
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => fail(new BodyError(408, `the certificate request did not arrive within ${BODY_TIMEOUT_MS} ms`)), BODY_TIMEOUT_MS)
    const fail = (err: Error): void => {
      clearTimeout(timer)
      request.removeAllListeners('data')
      reject(err)
    }
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) return fail(new BodyError(413, `the certificate request is larger than ${limit} bytes`))
      chunks.push(chunk)
    })
    request.on('end', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('utf8'))
    })
    request.on('error', (err) => fail(new BodyError(400, err.message)))
  })
}

function reply(response: ServerResponse, status: number, body: unknown): true {
  if (response.headersSent) return true
  const text = JSON.stringify(body)
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...(status >= 400 ? { Connection: 'close' } : {}) }).end(text)
  return true
}
