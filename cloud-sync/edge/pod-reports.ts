/**
 * What edged tells the cloud about pods from the API server, through the report queue (persisted,
 * coalesced per key, re-sent after reconnecting; report-queue.ts): each new status of a pod as the
 * latest report of `podstatus/<ns>/<name>` (only the newest status of a pod is ever sent), and each
 * event, correlated as the kubelet does (event-correlator.ts), as the latest report of its Event
 * name (a repeat while the earlier one waits replaces it, carrying the higher count).
 */
import type { Logger } from 'pino'
import type { EventRecorder } from '../../edged/events.js'
import type { Pod, PodStatus } from '../../schemas/pod.js'
import { podReportResource, POD_REPORT_ROUTE, type PodStatusReport } from '../pod-messages.js'
import { EventCorrelator } from './event-correlator.js'
import type { ReportQueue } from './report-queue.js'

export interface PodReportsOptions {
  queue: Pick<ReportQueue, 'put'>
  node: string
  log: Logger
  now?: () => number
}

export class PodReports {
  readonly #o: PodReportsOptions
  readonly #correlator: EventCorrelator
  /** edged's event recorder */
  readonly recorder: EventRecorder

  constructor(options: PodReportsOptions) {
    this.#o = options
    this.#correlator = new EventCorrelator({ host: options.node, ...(options.now === undefined ? {} : { now: options.now }) })
    this.recorder = { event: (pod, type, reason, message) => this.#event(pod, type, reason, message) }
  }

  /** edged's status hook: the pod's newest status. */
  status(pod: Pod, status: PodStatus): void {
    const { namespace, name } = pod.metadata
    const content: PodStatusReport = { uid: pod.metadata.uid ?? '', status }
    this.#put(`podstatus/${namespace}/${name}`, { ...POD_REPORT_ROUTE, resource: podReportResource('podstatus', namespace, name), content })
  }

  #event(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const { namespace, name, uid } = pod.metadata
    const correlated = this.#correlator.observe({ involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace, name, uid: uid ?? '' }, type, reason, message })
    if (correlated === undefined) return // the spam filter: counted, sent with the next one that passes
    this.#put(`event/${namespace}/${correlated.name}`, { ...POD_REPORT_ROUTE, operation: 'insert', resource: podReportResource('event', namespace, correlated.name), content: correlated.event })
  }

  #put(key: string, report: Parameters<ReportQueue['put']>[1]): void {
    this.#o.queue.put(key, report).catch((err: unknown) => this.#o.log.warn({ err, key }, 'cannot queue a pod report'))
  }
}
