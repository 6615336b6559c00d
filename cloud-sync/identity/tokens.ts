/**
 * Join tokens (`tern gettoken`): `<id>.<secret>` as kubeadm's bootstrap tokens (6 and 16 characters
 * of [a-z0-9]), printed with the fleet CA's pin as `<id>.<secret>@sha256:<hex>`. The cluster keeps
 * only the secret's SHA-256 (82 random bits: a plain hash is enough, no one guesses it), in a Secret
 * `tern-join-token-<id>` of tern's namespace, with its expiry, the node name it is bound to and the
 * uses left. Every replica of `tern cloud` reads the same Secret; a use is taken with a
 * resourceVersion-guarded update, so two replicas cannot spend the last use twice.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto'
import { TernError } from '../../schemas/tern-error.js'
import type { SecretObject } from '../../schemas/identity.js'
import type { IdentityApi } from './identity-api.js'
import { b64, checkedSecret } from './secrets.js'

const ID = /^[a-z0-9]{6}$/
const SECRET = /^[a-z0-9]{16}$/
const PIN = /^sha256:[0-9a-f]{64}$/
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

export const TOKEN_ROLE = 'join-token'

export interface Token {
  id: string
  secret: string
}

export function newToken(): Token {
  const pick = (n: number): string => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')
  return { id: pick(6), secret: pick(16) }
}

export const tokenSecretName = (id: string): string => `tern-join-token-${id}`

/** `<id>.<secret>`, or undefined when `text` is not one. */
export function parseToken(text: string): Token | undefined {
  const [id, secret, ...rest] = text.split('.')
  if (rest.length > 0 || id === undefined || secret === undefined || !ID.test(id) || !SECRET.test(secret)) return undefined
  return { id, secret }
}

/** `<id>.<secret>@sha256:<hex>` as `tern gettoken` prints it; JOIN_TOKEN_INVALID when it is not. */
export function parsePinnedToken(text: string): { token: Token; pin: string } {
  const at = text.lastIndexOf('@')
  const token = at < 0 ? undefined : parseToken(text.slice(0, at))
  const pin = text.slice(at + 1)
  if (token === undefined || !PIN.test(pin)) throw new TernError('JOIN_TOKEN_INVALID', 'the token is not <id>.<secret>@sha256:<64 hex digits> (as tern gettoken prints it)')
  return { token, pin }
}

const hashOf = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex')

export interface TokenSpec {
  ttlMs: number
  node?: string
  usages?: number
}

/** The Secret a new token is stored as. */
export function tokenSecret(token: Token, namespace: string, spec: TokenSpec, now: number): object {
  const expiration = new Date(now + spec.ttlMs).toISOString()
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'tern.io/join-token',
    metadata: {
      name: tokenSecretName(token.id),
      namespace,
      labels: { 'app.kubernetes.io/name': 'tern', 'tern.io/role': TOKEN_ROLE },
      annotations: { 'tern.io/expiration': expiration, ...(spec.node === undefined ? {} : { 'tern.io/node': spec.node }) },
    },
    data: {
      'token-id': b64(token.id),
      'secret-sha256': b64(hashOf(token.secret)),
      expiration: b64(expiration),
      ...(spec.node === undefined ? {} : { node: b64(spec.node) }),
      ...(spec.usages === undefined ? {} : { 'usages-left': b64(String(spec.usages)) }),
    },
  }
}

function field(secret: SecretObject, key: string): string | undefined {
  const value = secret.data[key]
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8')
}

/**
 * Checks `token` for joining `node` and takes one use. Throws JOIN_TOKEN_INVALID (unknown, wrong
 * secret, malformed Secret), JOIN_TOKEN_EXPIRED, JOIN_TOKEN_NODE_MISMATCH, JOIN_TOKEN_USED_UP, or
 * IDENTITY_STORE_FAILED. `beforeUse` runs after the checks and before a use is spent (the caller
 * refuses a node that exists there, without costing the token a use).
 */
export async function useToken(api: IdentityApi, namespace: string, token: Token, node: string, now: number, beforeUse: () => void): Promise<void> {
  const name = tokenSecretName(token.id)
  for (let attempt = 0; attempt < 8; attempt++) {
    let raw: unknown
    try {
      raw = await api.getSecret(namespace, name)
    } catch (err) {
      throw new TernError('IDENTITY_STORE_FAILED', `cannot read the join token: ${(err as Error).message}`, { cause: err })
    }
    if (raw === undefined) throw new TernError('JOIN_TOKEN_INVALID', 'no such join token')
    const secret = checkedSecret(raw, `join token ${token.id}`, 'JOIN_TOKEN_INVALID')
    const stored = field(secret, 'secret-sha256') ?? ''
    const given = hashOf(token.secret)
    if (stored.length !== given.length || !timingSafeEqual(Buffer.from(stored), Buffer.from(given))) throw new TernError('JOIN_TOKEN_INVALID', 'the join token secret is wrong')
    const expiration = Date.parse(field(secret, 'expiration') ?? '')
    if (!(expiration > now)) throw new TernError('JOIN_TOKEN_EXPIRED', `the join token expired at ${field(secret, 'expiration') ?? '(unknown)'}; make a new one with tern gettoken`)
    const bound = field(secret, 'node')
    if (bound !== undefined && bound !== node) throw new TernError('JOIN_TOKEN_NODE_MISMATCH', `the join token is for node ${bound}, not ${node}`)
    const left = field(secret, 'usages-left')
    if (left !== undefined && !(Number(left) > 0)) throw new TernError('JOIN_TOKEN_USED_UP', 'the join token has been used as often as it may be')
    beforeUse()
    if (left === undefined) return
    const updated = { ...secret, data: { ...secret.data, 'usages-left': b64(String(Number(left) - 1)) } }
    try {
      await api.replaceSecret(namespace, name, updated)
      return
    } catch (err) {
      if ((err as { status?: number }).status === 409) continue // another join took a use meanwhile: check again
      if ((err as { status?: number }).status === 404) throw new TernError('JOIN_TOKEN_INVALID', 'no such join token')
      throw new TernError('IDENTITY_STORE_FAILED', `cannot take a use of the join token: ${(err as Error).message}`, { cause: err })
    }
  }
  throw new TernError('IDENTITY_STORE_FAILED', 'the join token kept changing under concurrent joins; try again')
}

/** Parses `--ttl` as Go durations read (`24h`, `90m`, `1h30m`, `45s`). */
export function parseDuration(text: string): number | undefined {
  const parts = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text)
  if (parts === null || text === '') return undefined
  const [h, m, s] = [parts[1], parts[2], parts[3]].map((p) => Number(p ?? 0)) as [number, number, number]
  const ms = ((h * 60 + m) * 60 + s) * 1000
  return ms > 0 ? ms : undefined
}
