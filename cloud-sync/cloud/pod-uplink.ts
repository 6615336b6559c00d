/**
 * Upstream of what a kubelet writes (cloud-sync/pod-messages.ts): edge nodes' pod statuses → PATCH
 * `pods/<name>/status`, and their events → Events, each written by a {@link KeyedWriter}:
 *
 * - **pod status**: only the newest status of a pod is written (coalesced by pod), one strategic
 *   merge patch carrying `metadata.uid` (the kubelet's precondition: a pod recreated under the
 *   same name is not written over), within the status budget shared with Device status;
 * - **events**: a repeat of an Event (same name) patches count, lastTimestamp and message; a new
 *   one is created; within their own budget, so a burst of events never delays a status;
 * - **ownership**: a report about a pod that is not bound to the session's node, or whose uid is
 *   not the pod's, is refused with CLOUD_NOT_OWNER and logged (so is an event about such a pod):
 *   checked when the report arrives and again when it is written (from the informer's cache, or a
 *   GET of a pod the cache has not seen yet: at most UNSEEN_PODS_PER_NODE such reports of a node
 *   wait at once, more are refused). A pod gone meanwhile: CLOUD_NOT_OWNER, dropped.
 * - A report whose content does not match its schema, or a status of more than
 *   POD_STATUS_MAX_BYTES: CLOUD_MESSAGE_INVALID; a status or Event the API server refuses
 *   (400/413/422): CLOUD_STATUS_WRITE_FAILED; other failures are retried with
 *   back-off and the report stays unanswered (the edge re-sends).
 *
 * tern cloud writes a kubelet's refusal itself for pods no node can be sent (`reject`, for
 * unsent-pods.ts): the same Failed status and Warning Event, in the same writers and budgets.
 */
import type { Logger } from 'pino'
import type { Clock } from '../../mappers/runtime/clock.js'
import { POD_STATUS_MAX_BYTES } from '../../schemas/cloud-link-limits.js'
import type { ErrorCode } from '../../schemas/errors.js'
import { errorResponse, Operations, Sources, type Envelope } from '../messages.js'
import { parsePodReportResource, validateEventReport, validatePodStatusReport, type EventReport, type PodReportKind, type PodStatusReport } from '../pod-messages.js'
import { RefusalLog } from '../refusal-log.js'
import type { Session } from '../session.js'
import type { CoreApi } from './core-api.js'
import { KeyedWriter, type Refusal } from './keyed-writer.js'
import { KubeRequestError } from './kube-api.js'
import { podStatusPatch } from './replace-list.js'
import type { BackoffOptions, TokenBucket } from './timing.js'

/** What ownership is checked on: the node a pod is bound to, and its uid; and its status as last seen (its podIPs and hostIPs). */
interface PodBinding {
  metadata: { uid?: string }
  spec: { nodeName?: string }
  status?: unknown
}

/** The cache of pods bound to a node that ownership is checked against. */
export interface BoundPods {
  readonly synced: boolean
  whenSynced(): Promise<void>
  get(namespace: string, name: string): PodBinding | undefined
}

export interface PodUplinkOptions {
  api: CoreApi
  /** pods bound to a node: the workload downlink's pod informer (one watch of pods for both) */
  pods: BoundPods
  /** pod status patches: the status budget (shared with Device status) */
  statusBucket: TokenBucket
  /** Event writes */
  eventBucket: TokenBucket
  log: Logger
  clock: Clock
  workers: number
  retry: BackoffOptions
}

/**
 * Reports of one node about pods this cloud's cache has not seen, waiting for the GET that checks
 * them. A pod a node runs is in the cache unless it was created a moment ago (another replica sent
 * it down first): a few at a time cover that; more are refused at once, so a node naming pods
 * that do not exist cannot spend the API budget other nodes' statuses share.
 */
export const UNSEEN_PODS_PER_NODE = 8

interface PendingStatus {
  node: string
  namespace: string
  name: string
  report: PodStatusReport
}

interface PendingEvent {
  node: string
  namespace: string
  name: string
  event: EventReport
  /** written by tern cloud itself: the event's source is kept, not the node's kubelet */
  own?: boolean
}

/** A pod tern cloud refuses on its node's behalf, and why (the kubelet's rejectPod reason and message). */
export interface PodRejection {
  node: string
  namespace: string
  name: string
  uid: string
  reason: string
  message: string
}

/** The component of the Events tern cloud writes itself. */
export const CLOUD_COMPONENT = 'tern-cloud'

const newest = <T>(older: T, newer: T | undefined): T => newer ?? older

export class PodUplink {
  readonly #o: PodUplinkOptions
  readonly #statuses: KeyedWriter<PendingStatus>
  readonly #events: KeyedWriter<PendingEvent>
  /** Events this process created or patched (namespace/name): a repeat is patched, not created */
  readonly #written = new Set<string>()
  /** refusals, logged once per node, code and episode */
  readonly #refusals: RefusalLog
  /** node → writer keys of its reports about pods the cache has not seen, until written */
  readonly #unseen = new Map<string, Set<string>>()
  #running = false

  constructor(options: PodUplinkOptions) {
    this.#o = options
    this.#refusals = new RefusalLog(options.log, () => options.clock.now())
    const common = { clock: options.clock, workers: options.workers, retry: options.retry, merge: newest }
    this.#statuses = new KeyedWriter<PendingStatus>({ ...common, bucket: options.statusBucket, lane: 'pod-status', log: options.log.child({ writer: 'podstatus' }), write: (_, v) => this.#writeStatus(v) })
    this.#events = new KeyedWriter<PendingEvent>({ ...common, bucket: options.eventBucket, log: options.log.child({ writer: 'events' }), write: (_, v) => this.#writeEvent(v) })
  }

  metrics(): { statuses: ReturnType<KeyedWriter<PendingStatus>['metrics']>; events: ReturnType<KeyedWriter<PendingEvent>['metrics']> } {
    return { statuses: this.#statuses.metrics(), events: this.#events.metrics() }
  }

  start(): void {
    this.#running = true
    this.#statuses.start()
    this.#events.start()
  }

  async stop(): Promise<void> {
    this.#running = false
    await Promise.all([this.#statuses.stop(), this.#events.stop()])
  }

  /**
   * The kubelet's rejectPod, written by tern cloud: status phase Failed with the reason and the
   * message "Pod was rejected: <message>", and a Warning Event with the reason and message.
   */
  reject(pod: PodRejection): void {
    const { node, namespace, name, uid, reason, message } = pod
    const now = new Date(this.#o.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z')
    this.#statuses.put(`${namespace}/${name}`, () => ({ node, namespace, name, report: { uid, status: { phase: 'Failed', reason, message: `Pod was rejected: ${message}` } } }))
    const eventName = `${name}.${this.#o.clock.now().toString(16)}`
    const event: EventReport = {
      involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace, name, uid },
      reason,
      message: message.slice(0, 1024),
      type: 'Warning',
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: CLOUD_COMPONENT },
    }
    this.#events.put(`${namespace}/${eventName}`, () => ({ node, namespace, name: eventName, event, own: true }))
  }

  attach(session: Session): void {
    session.onMessage((message) => {
      const target = parsePodReportResource(message.route.resource)
      if (target === undefined || !this.#running) return
      if (this.#o.pods.synced) this.#receive(session, message, target)
      else void this.#o.pods.whenSynced().then(() => this.#receive(session, message, target))
    })
  }

  #receive(session: Session, message: Envelope, target: { kind: PodReportKind; namespace: string; name: string }): void {
    const { kind, namespace, name } = target
    const key = `${namespace}/${name}`
    const writer = kind === 'podstatus' ? this.#statuses : this.#events
    if (writer.known(session, message, key)) return
    const fields = { node: session.node, [kind === 'podstatus' ? 'pod' : 'event']: key }
    const operation = message.route.operation
    if (kind === 'podstatus' ? operation !== Operations.update : operation !== 'insert' && operation !== Operations.update) {
      return this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', `operation ${operation} is not ${kind === 'podstatus' ? 'update' : 'insert'}`, fields)
    }
    const checked = kind === 'podstatus' ? validatePodStatusReport(message.content) : validateEventReport(message.content)
    if (!checked.ok) return this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', checked.problems.map((p) => `${p.path}: ${p.message}`).join('; '), fields)
    if (kind === 'podstatus') {
      const report = checked.value as PodStatusReport
      const size = JSON.stringify(report.status).length
      if (size > POD_STATUS_MAX_BYTES) return this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', `the status is ${size} bytes of JSON, more than ${POD_STATUS_MAX_BYTES}`, fields)
      const refusal = this.#ownership(this.#o.pods.get(namespace, name), session.node, namespace, name, report.uid, true) ?? this.#admitUnseen(session.node, namespace, name, `podstatus ${key}`)
      if (refusal !== undefined) return this.#refuse(session, message, refusal.code, refusal.reason, fields)
      return this.#statuses.submit(session, message, key, () => ({ node: session.node, namespace, name, report }))
    }
    const event = checked.value as EventReport
    const about = event.involvedObject
    if (about.namespace !== namespace) return this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', `the event is in ${namespace} about a pod in ${about.namespace}`, fields)
    const refusal = this.#ownership(this.#o.pods.get(about.namespace, about.name), session.node, about.namespace, about.name, about.uid, true) ?? this.#admitUnseen(session.node, about.namespace, about.name, `event ${key}`)
    if (refusal !== undefined) return this.#refuse(session, message, refusal.code, refusal.reason, fields)
    this.#events.submit(session, message, key, () => ({ node: session.node, namespace, name, event }))
  }

  /** Takes a place among `node`'s reports about unseen pods (a refusal when none is left); nothing for a pod the cache has. */
  #admitUnseen(node: string, namespace: string, name: string, writerKey: string): Refusal | undefined {
    if (this.#o.pods.get(namespace, name) !== undefined) return undefined
    let waiting = this.#unseen.get(node)
    if (waiting?.has(writerKey) === true) return undefined
    if ((waiting?.size ?? 0) >= UNSEEN_PODS_PER_NODE) return { code: 'CLOUD_NOT_OWNER', reason: `pod ${namespace}/${name} does not exist (not seen by this cloud, and ${UNSEEN_PODS_PER_NODE} reports of the node about unseen pods wait to be checked)` }
    if (waiting === undefined) this.#unseen.set(node, (waiting = new Set()))
    waiting.add(writerKey)
    return undefined
  }

  /**
   * The reports of a writer key were written or refused: their places are free, for every node
   * (reports of two nodes about one pod are coalesced into one write, named after the newest's).
   */
  #checked(writerKey: string): void {
    for (const [node, waiting] of this.#unseen) {
      if (waiting.delete(writerKey) && waiting.size === 0) this.#unseen.delete(node)
    }
  }

  /** Why `node` may not report on the pod (undefined: it may; `unseen` pods pass until written). */
  #ownership(pod: PodBinding | undefined, node: string, namespace: string, name: string, uid: string, unseen: boolean): Refusal | undefined {
    if (pod === undefined) return unseen ? undefined : { code: 'CLOUD_NOT_OWNER', reason: `pod ${namespace}/${name} does not exist` }
    if (pod.spec.nodeName !== node) return { code: 'CLOUD_NOT_OWNER', reason: `pod ${namespace}/${name} is not bound to node ${node}` }
    if (pod.metadata.uid !== uid) return { code: 'CLOUD_NOT_OWNER', reason: `pod ${namespace}/${name} has uid ${pod.metadata.uid}, not ${uid}` }
    return undefined
  }

  /** The pod as the informer has it, else as the API server has it (undefined: it does not exist). */
  async #pod(namespace: string, name: string): Promise<PodBinding | undefined> {
    const cached = this.#o.pods.get(namespace, name)
    if (cached !== undefined) return cached
    const got = (await this.#o.api.getPod(namespace, name)) as PodBinding | undefined
    return got?.metadata === undefined ? undefined : got
  }

  async #writeStatus(v: PendingStatus): Promise<Refusal | undefined> {
    const outcome = await this.#writeStatusChecked(v)
    this.#checked(`podstatus ${v.namespace}/${v.name}`) // not on a throw: the write is retried
    return outcome
  }

  async #writeStatusChecked(v: PendingStatus): Promise<Refusal | undefined> {
    const pod = await this.#pod(v.namespace, v.name)
    const refusal = this.#ownership(pod, v.node, v.namespace, v.name, v.report.uid, false)
    if (refusal !== undefined) return this.#logged(refusal, v.node)
    try {
      await this.#o.api.patchPodStatus(v.namespace, v.name, podStatusPatch(v.report.uid, v.report.status, pod?.status))
      return undefined
    } catch (err) {
      return this.#outcome(err, v.node, `pod ${v.namespace}/${v.name}`)
    }
  }

  async #writeEvent(v: PendingEvent): Promise<Refusal | undefined> {
    const outcome = await this.#writeEventChecked(v)
    this.#checked(`event ${v.namespace}/${v.name}`)
    return outcome
  }

  async #writeEventChecked(v: PendingEvent): Promise<Refusal | undefined> {
    const about = v.event.involvedObject
    const refusal = this.#ownership(await this.#pod(about.namespace, about.name), v.node, about.namespace, about.name, about.uid, false)
    if (refusal !== undefined) return this.#logged(refusal, v.node)
    const key = `${v.namespace}/${v.name}`
    const { count, lastTimestamp, message } = v.event
    try {
      if (this.#written.has(key)) {
        try {
          await this.#o.api.patchEvent(v.namespace, v.name, { count, lastTimestamp, message })
          return undefined
        } catch (err) {
          if (!(err instanceof KubeRequestError && err.status === 404)) throw err
          this.#written.delete(key) // expired (events live an hour): created again
        }
      }
      try {
        await this.#o.api.createEvent(v.namespace, this.#eventBody(v))
      } catch (err) {
        if (!(err instanceof KubeRequestError && err.status === 409)) throw err
        await this.#o.api.patchEvent(v.namespace, v.name, { count, lastTimestamp, message }) // created by an earlier run
      }
      this.#written.add(key)
      return undefined
    } catch (err) {
      return this.#outcome(err, v.node, `event ${key}`)
    }
  }

  #eventBody(v: PendingEvent): object {
    const e = v.event
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: v.name, namespace: v.namespace },
      involvedObject: { apiVersion: 'v1', ...e.involvedObject },
      reason: e.reason,
      message: e.message,
      type: e.type,
      count: e.count,
      firstTimestamp: e.firstTimestamp,
      lastTimestamp: e.lastTimestamp,
      // the node is the authenticated session's, whatever the edge wrote
      ...(v.own === true ? { source: e.source, reportingComponent: e.source.component } : { source: { component: 'kubelet', host: v.node }, reportingComponent: 'kubelet', reportingInstance: v.node }),
    }
  }

  /** A failed write: a refusal the edge must not retry, or thrown again to retry. */
  #outcome(err: unknown, node: string, what: string): Refusal {
    const status = err instanceof KubeRequestError ? err.status : undefined
    if (status === 404) return this.#logged({ code: 'CLOUD_NOT_OWNER', reason: `${what} does not exist` }, node)
    if (status === 409) return this.#logged({ code: 'CLOUD_NOT_OWNER', reason: `${what}: the uid precondition failed (recreated)` }, node)
    // 413: larger than the API server takes (its request or object limit); re-sending cannot help
    if (status === 400 || status === 413 || status === 422) {
      this.#refusals.warn(node, 'CLOUD_STATUS_WRITE_FAILED', { node, status, err: (err as Error).message }, `the API server refused ${what}; dropped`)
      return { code: 'CLOUD_STATUS_WRITE_FAILED', reason: (err as Error).message }
    }
    throw err
  }

  #logged(refusal: Refusal, node: string): Refusal {
    this.#refusals.info(node, refusal.code, { node, reason: refusal.reason }, 'pod report refused when written')
    return refusal
  }

  #refuse(session: Session, message: Envelope, code: ErrorCode, reason: string, fields: Record<string, string>): void {
    this.#refusals.warn(session.node, code, { ...fields, reason }, code === 'CLOUD_NOT_OWNER' ? 'pod report about a pod the node does not own; refused' : 'invalid pod report; refused')
    session.send(errorResponse(message, Sources.cloud, { code, reason }))
  }
}
