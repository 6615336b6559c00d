/**
 * Who may open a session for a node. CloudHub asks an {@link Authenticator} before it upgrades the
 * HTTP request, and refuses with the status it returns; nothing above the handshake knows how the
 * edge proved itself. Today that is a shared secret; the mTLS authenticator that replaces it
 * (kubeedge-compat.md §5.6: the peer certificate from `request.socket`, CN `system:node:<node>`,
 * O `system:nodes`, 403 when the CN names another node) plugs in here with no change to the
 * message layer — CloudHub then also asks for client certificates (`requestCert`).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { TernError, type ErrorCode } from '../../schemas/errors.js'

export type AuthResult = { ok: true } | { ok: false; status: 401 | 403; code: ErrorCode; reason: string }

/** Decides whether `request` may open the session of `node` (whose name is already validated). */
export type Authenticator = (request: IncomingMessage, node: string) => AuthResult

/** A secret usable as an RFC 6750 bearer token: visible ASCII, no spaces. */
const SECRET = /^[\x21-\x7e]+$/

/** The `Authorization` header value an edge sends. */
export function bearer(secret: string): string {
  checkSecret(secret)
  return `Bearer ${secret}`
}

/**
 * Every node presents the same secret as `Authorization: Bearer <secret>`. Compared in constant
 * time; both sides are hashed first so the comparison neither fails on nor leaks the length.
 */
export function sharedSecretAuthenticator(secret: string): Authenticator {
  checkSecret(secret)
  const expected = digest(secret)
  return (request) => {
    const header = request.headers.authorization
    const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header)
    if (match === null) return { ok: false, status: 401, code: 'CLOUD_AUTH_FAILED', reason: 'no bearer secret in the Authorization header' }
    if (!timingSafeEqual(digest(match[1] as string), expected)) return { ok: false, status: 401, code: 'CLOUD_AUTH_FAILED', reason: 'wrong secret' }
    return { ok: true }
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

export function isBearerSecret(secret: string): boolean {
  return SECRET.test(secret)
}

function checkSecret(secret: string): void {
  if (!isBearerSecret(secret)) throw new TernError('CLOUD_CONFIG_INVALID', 'the cloud link secret must be non-empty visible ASCII without spaces')
}
