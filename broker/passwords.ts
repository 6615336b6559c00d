/**
 * Password hashes in Mosquitto's password-file formats, so `mosquitto_passwd` output can be pasted
 * into tern's config and `tern passwd` output into a Mosquitto password file:
 *   `$7$<iterations>$<salt b64>$<hash b64>`  PBKDF2-HMAC-SHA512, 64-byte hash (Mosquitto ≥ 2.0 default)
 *   `$6$<salt b64>$<hash b64>`               SHA-512(password ‖ salt) (Mosquitto 1.x)
 */
import { createHash, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const pbkdf2Async = promisify(pbkdf2)
const DEFAULT_ITERATIONS = 101 // Mosquitto's default for $7$
const HASH_BYTES = 64
const SALT_BYTES = 12

export function hashPassword(password: string, iterations = DEFAULT_ITERATIONS): string {
  const salt = randomBytes(SALT_BYTES)
  const hash = pbkdf2Sync(password, salt, iterations, HASH_BYTES, 'sha512')
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`
}

export type ParsedHash =
  | { kind: 'pbkdf2-sha512'; iterations: number; salt: Buffer; hash: Buffer }
  | { kind: 'sha512'; salt: Buffer; hash: Buffer }

export function parseHash(encoded: string): ParsedHash | undefined {
  const parts = encoded.split('$')
  if (parts[1] === '7' && parts.length === 5) {
    const iterations = Number(parts[2])
    if (!Number.isInteger(iterations) || iterations < 1) return undefined
    return { kind: 'pbkdf2-sha512', iterations, salt: b64(parts[3]), hash: b64(parts[4]) }
  }
  if (parts[1] === '6' && parts.length === 4) return { kind: 'sha512', salt: b64(parts[2]), hash: b64(parts[3]) }
  return undefined
}

function b64(s: string | undefined): Buffer {
  return Buffer.from(s ?? '', 'base64')
}

export async function verifyPassword(password: Buffer, parsed: ParsedHash): Promise<boolean> {
  const actual =
    parsed.kind === 'pbkdf2-sha512'
      ? await pbkdf2Async(password, parsed.salt, parsed.iterations, parsed.hash.length, 'sha512')
      : createHash('sha512').update(password).update(parsed.salt).digest()
  return actual.length === parsed.hash.length && parsed.hash.length > 0 && timingSafeEqual(actual, parsed.hash)
}
