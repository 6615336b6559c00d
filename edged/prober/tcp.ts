/** tcpSocket: success when a TCP connection opens within the timeout (pkg/probe/tcp); the connection is closed at once. */
import type { Clock } from '../../mappers/runtime/clock.js'
import type { Dial } from '../pod-network.js'
import type { ProbeOutcome } from './outcome.js'

export async function tcpProbe(dial: Dial, clock: Clock, host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const attempt = dial(host, port)
  const outcome = await withTimeout(clock, attempt, timeoutMs)
  if (outcome === 'timeout') {
    attempt.then((s) => s.destroy(), () => undefined)
    return { result: 'failure', output: `dial tcp ${host}:${port}: i/o timeout` }
  }
  if (outcome.ok) {
    outcome.value.destroy()
    return { result: 'success', output: '' }
  }
  return { result: 'failure', output: `dial tcp ${host}:${port}: ${(outcome.error as Error).message}` }
}

/** Settles with what `promise` gave, or 'timeout' when `ms` passed on `clock` first. */
export async function withTimeout<T>(clock: Clock, promise: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | 'timeout'> {
  let timer: ReturnType<Clock['setTimeout']> | undefined
  const expired = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimeout(() => resolve('timeout'), ms)
  })
  try {
    return await Promise.race([promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })), expired])
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer)
  }
}
