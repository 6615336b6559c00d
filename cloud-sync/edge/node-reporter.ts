/**
 * Reports the node's own status to the cloud as a kubelet posts it (node-status.ts): measured every
 * `updateSeconds`, put in the report queue when it differs from the last one put or when
 * `reportSeconds` have passed since, and once at every connect (the cloud creates or updates the
 * Node from that report). The queue persists it and sends the latest one, acknowledged.
 */
import type { Logger } from 'pino'
import type { NodeStatusConfig } from '../../schemas/config.js'
import type { NodeStatusReport } from '../../schemas/node-status.js'
import { realClock, type Clock, type TimerHandle } from '../../mappers/runtime/clock.js'
import { NODE_STATUS_ROUTE, nodeStatusResource } from '../messages.js'
import type { Session } from '../session.js'
import type { MeasureNode } from './node-probe.js'
import { nodeStatusReport, type RuntimeState } from './node-status.js'
import type { ReportQueue } from './report-queue.js'

export interface NodeReporterOptions {
  node: string
  config: NodeStatusConfig
  ternVersion: string
  queue: ReportQueue
  measure: MeasureNode
  /** the container runtime's state, once edged runs (undefined: no runtime to wait for) */
  runtime?: () => RuntimeState | undefined
  /** every status measured, put in the queue or not */
  onReport?: (report: NodeStatusReport) => void
  log: Logger
  clock?: Clock
}

export const NODE_STATUS_KEY = 'node-status'

export class NodeReporter {
  readonly #o: NodeReporterOptions & { clock: Clock }
  #timer: TimerHandle | undefined
  #last: { json: string; at: number } | undefined
  #running: Promise<void> = Promise.resolve()
  #stopped = false

  constructor(options: NodeReporterOptions) {
    this.#o = { clock: realClock, ...options }
  }

  start(): void {
    this.#tick()
  }

  /** Resolves once the measurements asked for so far are done (the first one, after `start`). */
  measured(): Promise<void> {
    return this.#running
  }

  /** A new session: the current status goes to the cloud whether or not it changed. */
  attach(session: Session): void {
    if (session.open) this.#report(true)
  }

  /** Something the status shows changed (the container runtime's state): measured now, put if it differs. */
  remeasure(): void {
    this.#report(false)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer)
    await this.#running
  }

  #tick(): void {
    if (this.#stopped) return
    this.#report(false)
    this.#timer = this.#o.clock.setTimeout(() => this.#tick(), this.#o.config.updateSeconds * 1000)
  }

  /** Measures and puts the report when `force`, changed, or due; one measurement at a time. */
  #report(force: boolean): void {
    this.#running = this.#running.then(async () => {
      if (this.#stopped) return
      try {
        const report = await this.#build()
        this.#o.onReport?.(report)
        const json = JSON.stringify(report)
        const now = this.#o.clock.now()
        const due = this.#last === undefined || this.#last.json !== json || now - this.#last.at >= this.#o.config.reportSeconds * 1000
        if (!force && !due) return
        this.#last = { json, at: now }
        await this.#o.queue.put(NODE_STATUS_KEY, { ...NODE_STATUS_ROUTE, resource: nodeStatusResource(this.#o.node), content: report })
      } catch (err) {
        this.#o.log.warn({ err }, 'cannot measure or queue the node status; next try at the next update')
      }
    })
  }

  async #build(): Promise<NodeStatusReport> {
    const runtime = this.#o.runtime?.()
    return nodeStatusReport(await this.#o.measure(), { config: this.#o.config, ternVersion: this.#o.ternVersion, ...(runtime === undefined ? {} : { runtime }) })
  }
}
