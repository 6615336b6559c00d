/**
 * Login attempts, limited per client address and per username, so a password cannot be guessed
 * at the speed of the network: after `maxFailures` failed logins within `windowMs`, further
 * attempts from that address or for that username are refused unchecked until the window that
 * counted them has passed. Both tables are bounded (oldest entry dropped), so a flood of addresses
 * costs a fixed amount of memory.
 */
export interface LoginLimitOptions {
  maxFailures: number
  windowMs: number
  /** most addresses and usernames remembered each */
  maxEntries: number
}

export const LOGIN_LIMIT_DEFAULTS: LoginLimitOptions = { maxFailures: 5, windowMs: 60_000, maxEntries: 4096 }

interface Window {
  start: number
  failures: number
}

export class LoginLimit {
  readonly #o: LoginLimitOptions
  readonly #byAddress = new Map<string, Window>()
  readonly #byUser = new Map<string, Window>()

  constructor(options: Partial<LoginLimitOptions> = {}) {
    this.#o = { ...LOGIN_LIMIT_DEFAULTS, ...options }
  }

  /** ms until an attempt is admitted again; 0 = admitted now */
  retryAfter(address: string, username: string, now: number): number {
    return Math.max(this.#wait(this.#byAddress, address, now), this.#wait(this.#byUser, username, now))
  }

  failed(address: string, username: string, now: number): void {
    this.#count(this.#byAddress, address, now)
    this.#count(this.#byUser, username, now)
  }

  /** A success clears the username's failures (not the address's: one address may try many names). */
  succeeded(username: string): void {
    this.#byUser.delete(username)
  }

  #wait(table: Map<string, Window>, key: string, now: number): number {
    const w = table.get(key)
    if (w === undefined || now - w.start >= this.#o.windowMs) return 0
    return w.failures >= this.#o.maxFailures ? w.start + this.#o.windowMs - now : 0
  }

  #count(table: Map<string, Window>, key: string, now: number): void {
    let w = table.get(key)
    if (w === undefined || now - w.start >= this.#o.windowMs) {
      table.delete(key)
      if (table.size >= this.#o.maxEntries) table.delete(table.keys().next().value as string)
      w = { start: now, failures: 0 }
      table.set(key, w)
    }
    w.failures++
  }
}
