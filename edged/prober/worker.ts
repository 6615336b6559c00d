/**
 * One probe of one container, as the kubelet's prober worker (pkg/kubelet/prober/worker.go): runs
 * every periodSeconds once initialDelaySeconds have passed since the container started; a result
 * changes only after failureThreshold failures or successThreshold successes in a row; liveness and
 * readiness wait until the container has started (its startup probe succeeded); a liveness or
 * startup failure puts the worker on hold until the container is replaced (a new id); a probe that
 * could not run (the container is gone) leaves the result as it was.
 */
import type { Clock, TimerHandle } from '../../mappers/runtime/clock.js'
import type { Probe } from '../../schemas/pod.js'
import type { ProbeOutcome } from './outcome.js'

export type ProbeKind = 'liveness' | 'readiness' | 'startup'
export type ProbeResult = 'success' | 'failure' | 'unknown'

/** The kubelet's initial results: a container is alive and not ready until probed, its start unknown. */
export const INITIAL_RESULT: Record<ProbeKind, ProbeResult> = { liveness: 'success', readiness: 'failure', startup: 'unknown' }

export interface WorkerHooks {
  clock: Clock
  /** Runs the probe's action against the container as it is now. */
  run(probe: Probe): Promise<ProbeOutcome>
  /** False while liveness and readiness must wait for the startup probe. */
  mayProbe(kind: ProbeKind): boolean
  /** The result changed (after the thresholds); `output` is the last run's. */
  onResult(kind: ProbeKind, result: ProbeResult, output: string): void
}

export class ProbeWorker {
  #result: ProbeResult
  #lastRun: ProbeResult = 'unknown'
  #runLength = 0
  #onHold = false
  #stopped = false
  #timer: TimerHandle | undefined
  #inFlight = false

  constructor(
    readonly kind: ProbeKind,
    readonly probe: Probe,
    private readonly hooks: WorkerHooks,
    /** When the container started (ms since the epoch): initialDelaySeconds count from it. */
    startedAtMs: number,
  ) {
    this.#result = INITIAL_RESULT[kind]
    const delay = (probe.initialDelaySeconds ?? 0) * 1000 - (hooks.clock.now() - startedAtMs)
    this.#schedule(Math.max(0, delay))
  }

  get result(): ProbeResult {
    return this.#result
  }

  /** Probes now instead of at the next period (the kubelet's manual trigger of readiness after startup). */
  trigger(): void {
    if (this.#stopped || this.#inFlight || this.#timer === undefined) return
    this.hooks.clock.clearTimeout(this.#timer)
    this.#schedule(0)
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer !== undefined) this.hooks.clock.clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #schedule(ms: number): void {
    if (this.#stopped) return
    this.#timer = this.hooks.clock.setTimeout(() => void this.#tick(), ms)
  }

  async #tick(): Promise<void> {
    this.#timer = undefined
    const started = this.hooks.clock.now()
    if (!this.#onHold && this.hooks.mayProbe(this.kind)) {
      this.#inFlight = true
      try {
        const outcome = await this.hooks.run(this.probe)
        if (!this.#stopped) this.#record(outcome)
      } finally {
        this.#inFlight = false
      }
    }
    const period = (this.probe.periodSeconds ?? 10) * 1000
    this.#schedule(Math.max(0, started + period - this.hooks.clock.now()))
  }

  #record(outcome: ProbeOutcome): void {
    if (outcome.result === 'error') return // the kubelet throws away a probe that could not run
    const result: ProbeResult = outcome.result === 'failure' ? 'failure' : 'success'
    if (result === this.#lastRun) this.#runLength++
    else {
      this.#lastRun = result
      this.#runLength = 1
    }
    const threshold = result === 'failure' ? (this.probe.failureThreshold ?? 3) : (this.probe.successThreshold ?? 1)
    if (this.#runLength < threshold) return
    const changed = result !== this.#result
    this.#result = result
    if (result === 'failure' && this.kind !== 'readiness') {
      // the container will be killed: probe it no more until a new one replaces it
      this.#onHold = true
      this.#runLength = 0
    }
    if (changed || (result === 'failure' && this.kind !== 'readiness')) this.hooks.onResult(this.kind, result, outcome.output)
  }
}
