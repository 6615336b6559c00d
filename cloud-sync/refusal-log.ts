/**
 * Logs refusals of what edge nodes send once per node, code and episode instead of once per
 * message: a node that floods the link with reports it may not make (another node's pod, malformed
 * frames) gets every one answered with its error, but the log gets one line when the refusals start
 * and then at most one a minute while they go on, carrying how many were refused since the line
 * before (`suppressed`). A node quiet for a minute starts a new episode, logged again at once.
 * `node` keys the episode; the caller's logger or fields name it in the line.
 */
import type { Logger } from 'pino'
import type { ErrorCode } from '../schemas/errors.js'

/** How long one line stands for the refusals of a node and code after it. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000
/** Episodes remembered at once; past it the oldest is forgotten (its next refusal logs again). */
const EPISODES_REMEMBERED = 10_000

interface Episode {
  loggedAt: number
  suppressed: number
}

export class RefusalLog {
  readonly #log: Logger
  readonly #now: () => number
  readonly #episodes = new Map<string, Episode>()

  constructor(log: Logger, now: () => number = Date.now) {
    this.#log = log
    this.#now = now
  }

  warn(node: string, code: ErrorCode, fields: Record<string, unknown>, msg: string): void {
    this.#write('warn', node, code, fields, msg)
  }

  info(node: string, code: ErrorCode, fields: Record<string, unknown>, msg: string): void {
    this.#write('info', node, code, fields, msg)
  }

  #write(level: 'warn' | 'info', node: string, code: ErrorCode, fields: Record<string, unknown>, msg: string): void {
    const key = `${node}\u0000${code}`
    const now = this.#now()
    const episode = this.#episodes.get(key)
    if (episode !== undefined && now - episode.loggedAt < REFUSAL_LOG_INTERVAL_MS) {
      episode.suppressed++
      return
    }
    const suppressed = episode?.suppressed ?? 0
    this.#episodes.delete(key) // re-inserted last: the map's order is the order of logging
    this.#episodes.set(key, { loggedAt: now, suppressed: 0 })
    if (this.#episodes.size > EPISODES_REMEMBERED) this.#episodes.delete(this.#episodes.keys().next().value as string)
    this.#log[level]({ code, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, msg)
  }
}
