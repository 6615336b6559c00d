/**
 * The keepalive watchdog both hubs put on a session: it fires once when nothing was received for
 * `timeoutMs` (Session.lastReceivedAt moves on every frame, keepalives included). One timer per
 * session, re-armed to the remaining time instead of polling.
 */
import type { Clock, TimerHandle } from '../../mappers/runtime/clock.js'
import type { Session } from '../session.js'

export function watchKeepalive(session: Session, options: { timeoutMs: number; clock: Clock; onTimeout(silentMs: number): void }): void {
  const { timeoutMs, clock } = options
  let handle: TimerHandle | undefined
  const check = (): void => {
    handle = undefined
    if (!session.open) return
    const silent = clock.now() - session.lastReceivedAt
    if (silent >= timeoutMs) options.onTimeout(silent)
    else handle = clock.setTimeout(check, timeoutMs - silent)
  }
  handle = clock.setTimeout(check, Math.max(0, session.lastReceivedAt + timeoutMs - clock.now()))
  session.onClose(() => {
    if (handle !== undefined) clock.clearTimeout(handle)
    handle = undefined
  })
}

/** Calls `tick` every `intervalMs` until the session closes. */
export function every(session: Session, options: { intervalMs: number; clock: Clock; tick(): void }): void {
  const { intervalMs, clock } = options
  let handle: TimerHandle | undefined
  const run = (): void => {
    if (!session.open) return
    options.tick()
    if (session.open) handle = clock.setTimeout(run, intervalMs)
  }
  handle = clock.setTimeout(run, intervalMs)
  session.onClose(() => {
    if (handle !== undefined) clock.clearTimeout(handle)
    handle = undefined
  })
}
