/**
 * Sessions of the web view: an opaque random id in an HttpOnly, SameSite=Strict cookie, a CSRF
 * token the page sends back in a header on every write, and the user's ACL decisions (the
 * broker's own, broker/acl.ts). In memory, bounded and expiring: a restart logs everyone out.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Acl, ClientAccess } from '../broker/acl.js'

export const COOKIE = 'tern_ui'
/** the client id the ACL sees for the web view (rules with `%c` match it) */
export const WEB_CLIENT_ID = 'tern-web'

export interface Session {
  readonly id: string
  readonly csrf: string
  /** undefined: anonymous (loopback only) */
  readonly username: string | undefined
  readonly access: ClientAccess
  expires: number
}

export interface SessionOptions {
  acl: Acl
  now: () => number
  /** a session unused this long is gone, ms */
  idleMs?: number
  /** most sessions at once; the least recently used goes first */
  max?: number
}

export class Sessions {
  readonly #o: Required<SessionOptions>
  /** in least-recently-used order: a session used is moved to the end */
  readonly #sessions = new Map<string, Session>()

  constructor(options: SessionOptions) {
    this.#o = { idleMs: 8 * 3600_000, max: 1000, ...options }
  }

  create(username: string | undefined): Session {
    if (this.#sessions.size >= this.#o.max) this.#sessions.delete(this.#sessions.keys().next().value as string)
    const session: Session = {
      id: token(),
      csrf: token(),
      username,
      access: this.#o.acl.forClient({ clientId: WEB_CLIENT_ID, username }),
      expires: this.#o.now() + this.#o.idleMs,
    }
    this.#sessions.set(session.id, session)
    return session
  }

  /** The live session of a request's cookie header, its idle time restarted; undefined if none. */
  fromCookie(header: string | undefined): Session | undefined {
    const id = cookieValue(header, COOKIE)
    const session = id === undefined ? undefined : this.#sessions.get(id)
    if (session === undefined) return undefined
    this.#sessions.delete(session.id)
    if (session.expires <= this.#o.now()) return undefined
    session.expires = this.#o.now() + this.#o.idleMs
    this.#sessions.set(session.id, session)
    return session
  }

  delete(session: Session): void {
    this.#sessions.delete(session.id)
  }

  cookie(session: Session, secure: boolean): string {
    return `${COOKIE}=${session.id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${Math.round(this.#o.idleMs / 1000)}${secure ? '; Secure' : ''}`
  }
}

export function clearedCookie(): string {
  return `${COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0`
}

/** True when `sent` is the session's CSRF token (compared in constant time). */
export function csrfMatches(session: Session, sent: string | string[] | undefined): boolean {
  if (typeof sent !== 'string') return false
  const a = Buffer.from(sent)
  const b = Buffer.from(session.csrf)
  return a.length === b.length && timingSafeEqual(a, b)
}

function token(): string {
  return randomBytes(24).toString('base64url')
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
