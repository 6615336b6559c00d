/**
 * Who may connect: anonymous clients only on listeners that allow them; named users by their
 * Mosquitto-format password hash. Failures answer CONNACK 5 (not authorised), as Mosquitto 2.0
 * does for MQTT 3.1.1.
 */
import type { UserConfig } from '../schemas/config.js'
import { parseHash, verifyPassword, type ParsedHash } from './passwords.js'

export type AuthOutcome = { ok: true } | { ok: false; reason: 'anonymous-refused' | 'unknown-user' | 'bad-password' }

export interface Authenticator {
  check(username: string | undefined, password: Buffer | undefined, allowAnonymous: boolean): Promise<AuthOutcome>
}

export function createAuthenticator(users: readonly UserConfig[]): Authenticator {
  const hashes = new Map<string, ParsedHash>()
  for (const user of users) {
    const parsed = parseHash(user.passwordHash)
    // The config schema checks the prefix; a hash that still does not parse can never match.
    if (parsed !== undefined) hashes.set(user.username, parsed)
  }
  return {
    async check(username, password, allowAnonymous) {
      if (username === undefined) return allowAnonymous ? { ok: true } : { ok: false, reason: 'anonymous-refused' }
      const hash = hashes.get(username)
      // Mosquitto lets a username without password-file entry connect as if anonymous only when
      // anonymous clients are allowed and no password file is in use; with users configured it refuses.
      if (hash === undefined) {
        return hashes.size === 0 && allowAnonymous ? { ok: true } : { ok: false, reason: 'unknown-user' }
      }
      if (password === undefined || !(await verifyPassword(password, hash))) return { ok: false, reason: 'bad-password' }
      return { ok: true }
    },
  }
}
