/**
 * Who may open a session for a node. CloudHub asks an {@link Authenticator} before it upgrades the
 * HTTP request, and refuses with the status it returns; nothing above the handshake knows how the
 * edge proved itself: a node certificate (cloud-sync/identity/node-identities.ts, mutual TLS,
 * kubeedge-compat.md §5.6) or, for development only, the shared secret below.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { TernError, type ErrorCode } from '../../schemas/tern-error.js'

/**
 * `expiresAt`: when the credential stops being valid (a certificate's notAfter), CloudHub closes the
 * session then; `identity`: what the node proved itself with (a certificate serial), for logs.
 */
export type AuthResult = { ok: true; expiresAt?: number; identity?: string } | { ok: false; status: 401 | 403 | 503; code: ErrorCode; reason: string }

/** Decides whether `request` may open the session of `node` (whose name is already validated). */
export type Authenticator = (request: IncomingMessage, node: string) => AuthResult | Promise<AuthResult>

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
