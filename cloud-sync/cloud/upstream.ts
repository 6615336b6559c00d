/**
 * Upstream: edge twin and state reports → `Device.status` (kubeedge-compat.md §4.2, DESIGN.md §6
 * "status patches are coalesced per device and rate-limited").
 *
 * - A report is accepted only for a Device in the informer cache whose `spec.nodeName` is the
 *   session's node (the node its certificate names); a Device of another node is answered with
 *   CLOUD_NOT_OWNER (logged with the node's name), one that does not exist with
 *   CLOUD_DEVICE_UNKNOWN (the edge drops both). A
 *   report whose content does not match its schema is answered with CLOUD_MESSAGE_INVALID.
 * - Accepted reports fold into one pending status per device (newer values win); a worker drains
 *   the pending map at most `qps` patches per second (token bucket, `burst`), at most `workers`
 *   patches at a time and one per device, each ONE merge patch on `devices/<name>/status`.
 * - Every edge message folded into a patch is acknowledged only after the patch succeeded; a 404
 *   answers them with CLOUD_DEVICE_UNKNOWN; a 400/422 (the API server will never take this status)
 *   with CLOUD_STATUS_WRITE_FAILED; any other failure puts the status back in the queue (behind
 *   newer reports) and retries it with back-off, unacknowledged (the edge keeps re-sending; a
 *   re-send of a message already queued is recognised by its msg_id and not counted twice, and a
 *   re-send that crossed its answer is answered again, not written again).
 */
import type { Logger } from 'pino'
import type { Device } from '../../schemas/device.js'
import { twinType } from '../../schemas/vocabulary.js'
import { realClock, type Clock, type TimerHandle } from '../../mappers/runtime/clock.js'
import type { ErrorCode } from '../../schemas/errors.js'
import { errorResponse, Operations, parseReportResource, response, Sources, validateStateReport, validateTwinReport, type Envelope, type StateReport, type TwinReport } from '../messages.js'
import type { Session } from '../session.js'
import { objectKey, type DeviceInformers } from './informers.js'
import { KubeRequestError, type KubeApi } from './kube-api.js'
import { declaredProperties, emptyPending, foldStateReport, foldTwinReport, mergePending, statusPatch, type PendingStatus } from './status-patch.js'
import { Backoff, TokenBucket, type BackoffOptions } from './timing.js'

/** How many acknowledged report ids are remembered (a re-send crosses an answer within seconds). */
const ACKED_REMEMBERED = 10_000

export interface UpstreamOptions {
  informers: DeviceInformers
  api: KubeApi
  log: Logger
  clock?: Clock
  /** status patches per second, sustained (default 50) */
  qps?: number
  /** status patches allowed in a burst (default 100) */
  burst?: number
  /** status patches in flight at once, never two for one device (default 4) */
  workers?: number
  /** back-off of a device whose patch failed (default 500 ms doubling to 30 s) */
  retry?: BackoffOptions
}

export interface UpstreamMetrics {
  /** twin and state reports received (re-sends of a queued report not counted) */
  reportsReceived: number
  /** reports answered with an error (invalid, unknown device, wrong node, 404) */
  reportsRefused: number
  /** reports folded into a status that was already waiting */
  coalesced: number
  patchesWritten: number
  patchFailures: number
  /** reports acknowledged after their patch */
  acked: number
  /** devices whose status is being written */
  writing: number
  /** the status write budget (qps/burst): tokens left now, and the most there can be */
  budget: { available: number; burst: number }
  /** devices with a status waiting to be written (gauge) */
  pending: number
}

interface Report {
  session: Session
  message: Envelope
}

/** A device's status waiting to be written, and the reports it answers. */
interface Batch {
  namespace: string
  name: string
  node: string
  status: PendingStatus
  reports: Map<string, Report>
  notBefore: number
  backoff: Backoff | undefined
}

export class Upstream {
  readonly #o: Required<Omit<UpstreamOptions, 'clock'>> & { clock: Clock }
  readonly #bucket: TokenBucket
  /** device key → batch, in arrival order */
  readonly #pending = new Map<string, Batch>()
  /** device key → batch being written */
  readonly #writing = new Map<string, Batch>()
  readonly #writes = new Set<Promise<void>>()
  /** device key → status we wrote and its resourceVersion, until the informer has caught up */
  readonly #written = new Map<string, { resourceVersion: string; status: Device['status'] }>()
  readonly #metrics: Omit<UpstreamMetrics, 'pending' | 'writing' | 'budget'> = { reportsReceived: 0, reportsRefused: 0, coalesced: 0, patchesWritten: 0, patchFailures: 0, acked: 0 }
  /** ids of reports acknowledged lately: a re-send crossing the answer is answered again, not re-applied */
  readonly #acked = new Set<string>()
  #timer: { handle: TimerHandle; at: number } | undefined
  #running = false
  #subscribed = false

  constructor(options: UpstreamOptions) {
    this.#o = { qps: 50, burst: 100, workers: 4, retry: { initialMs: 500, maxMs: 30_000 }, ...options, clock: options.clock ?? realClock }
    this.#bucket = new TokenBucket({ qps: this.#o.qps, burst: this.#o.burst, clock: this.#o.clock })
  }

  metrics(): UpstreamMetrics {
    return { ...this.#metrics, pending: this.#pending.size, writing: this.#writing.size, budget: { available: this.#bucket.available, burst: this.#bucket.burst } }
  }

  start(): void {
    if (!this.#subscribed) {
      this.#subscribed = true
      // Forget a written status once the informer has it (or the device is gone).
      this.#o.informers.devices.onChange((old, current) => {
        const d = current ?? old
        if (d === undefined) return
        const key = objectKey(d.metadata.namespace, d.metadata.name)
        const written = this.#written.get(key)
        if (written !== undefined && (current === undefined || Number(current.metadata.resourceVersion) >= Number(written.resourceVersion))) this.#written.delete(key)
      })
    }
    this.#running = true
    this.#pump()
  }

  /** Stops writing; waits for patches in flight. Reports not written stay unacknowledged (the edge re-sends). */
  async stop(): Promise<void> {
    this.#running = false
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer.handle)
    this.#timer = undefined
    await Promise.all([...this.#writes])
    this.#pending.clear()
  }

  attach(session: Session): void {
    session.onMessage((message) => {
      if (parseReportResource(message.route.resource) === undefined) return // not a device report: another controller's
      if (this.#o.informers.synced) this.#receive(session, message)
      else void this.#o.informers.whenSynced().then(() => this.#receive(session, message))
    })
  }

  #receive(session: Session, message: Envelope): void {
    if (!this.#running) return // unanswered: the edge re-sends to whoever serves it next
    const r = parseReportResource(message.route.resource)
    if (r === undefined) return
    const key = objectKey(r.namespace, r.name)
    const id = message.header.msg_id
    if (this.#acked.has(id)) {
      // A re-send that crossed our answer: already written, answer it again.
      session.send(response(message, Sources.cloud))
      return
    }
    for (const queued of [this.#pending.get(key)?.reports, this.#writing.get(key)?.reports]) {
      if (queued?.has(id) !== true) continue
      queued.set(id, { session, message }) // a re-send: answer it on the newest session
      return
    }
    this.#metrics.reportsReceived++
    const accepted = this.#accept(session, message, r.namespace, r.name, r.kind)
    if (accepted === undefined) return
    const { device, twin, state } = accepted
    const declared = new Set(declaredProperties(device))
    if (twin !== undefined && !Object.keys(twin.twin).some((name) => declared.has(name))) {
      // Only undeclared properties: nothing to write (KubeEdge ignores them too).
      this.#metrics.acked++
      return session.send(response(message, Sources.cloud))
    }
    let batch = this.#pending.get(key)
    if (batch === undefined) {
      batch = { namespace: r.namespace, name: r.name, node: session.node, status: emptyPending(), reports: new Map(), notBefore: 0, backoff: undefined }
      this.#pending.set(key, batch)
    } else this.#metrics.coalesced++
    if (twin !== undefined) foldTwinReport(batch.status, twin, declared, (p) => this.#modelType(device, p))
    if (state !== undefined) foldStateReport(batch.status, state)
    batch.node = session.node
    batch.reports.set(id, { session, message })
    this.#pump()
  }

  /** The report's device and content, or undefined after refusing it (invalid, unknown, another node's). */
  #accept(session: Session, message: Envelope, namespace: string, name: string, kind: 'twin' | 'state'): { device: Device; twin?: TwinReport; state?: StateReport } | undefined {
    const key = objectKey(namespace, name)
    const log = this.#o.log.child({ node: session.node, device: key, kind })
    if (message.route.operation !== Operations.update) {
      this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', `operation ${message.route.operation} is not update`)
      return undefined
    }
    const checked = kind === 'twin' ? validateTwinReport(message.content) : validateStateReport(message.content)
    if (!checked.ok) {
      const reason = checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')
      log.warn({ code: 'CLOUD_MESSAGE_INVALID', reason }, 'invalid report; refused')
      this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', reason)
      return undefined
    }
    const device = this.#o.informers.devices.get(namespace, name)
    if (device === undefined) {
      log.info({ code: 'CLOUD_DEVICE_UNKNOWN' }, 'report for a device that does not exist; refused')
      this.#refuse(session, message, 'CLOUD_DEVICE_UNKNOWN', `device ${key} does not exist`)
      return undefined
    }
    if (device.spec.nodeName !== session.node) {
      // The session's node is authenticated (its certificate): a report about another node's device is refused and logged.
      log.warn({ code: 'CLOUD_NOT_OWNER', boundTo: device.spec.nodeName ?? null }, 'report for a device of another node; refused')
      this.#refuse(session, message, 'CLOUD_NOT_OWNER', `device ${key} is not bound to node ${session.node}`)
      return undefined
    }
    return kind === 'twin' ? { device, twin: checked.value as TwinReport } : { device, state: checked.value as StateReport }
  }

  #modelType(device: Device, property: string): string | undefined {
    const model = this.#o.informers.models.get(device.metadata.namespace, device.spec.deviceModelRef.name)
    const type = model?.spec.properties?.find((p) => p.name === property)?.type
    return type === undefined ? undefined : twinType(type)
  }

  #refuse(session: Session, message: Envelope, code: ErrorCode, reason: string): void {
    this.#metrics.reportsRefused++
    session.send(errorResponse(message, Sources.cloud, { code, reason }))
  }

  /** Starts as many writes as workers, tokens and back-offs allow; else wakes up when one may start. */
  #pump(): void {
    if (!this.#running) return
    const now = this.#o.clock.now()
    while (this.#writing.size < this.#o.workers) {
      let next: [string, Batch] | undefined
      let earliest = Infinity
      for (const entry of this.#pending) {
        if (this.#writing.has(entry[0])) continue
        if (entry[1].notBefore <= now) {
          next = entry
          break
        }
        earliest = Math.min(earliest, entry[1].notBefore)
      }
      if (next === undefined) {
        if (earliest !== Infinity) this.#wakeAt(earliest)
        return
      }
      const wait = this.#bucket.take()
      if (wait > 0) {
        this.#wakeAt(now + wait)
        return
      }
      this.#pending.delete(next[0])
      this.#writing.set(next[0], next[1])
      const write = this.#write(next[0], next[1])
      this.#writes.add(write)
      void write.finally(() => {
        this.#writes.delete(write)
        this.#writing.delete(next[0])
        this.#pump()
      })
    }
  }

  #wakeAt(at: number): void {
    if (this.#timer !== undefined && this.#timer.at <= at) return
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer.handle)
    const handle = this.#o.clock.setTimeout(() => {
      this.#timer = undefined
      this.#pump()
    }, at - this.#o.clock.now())
    this.#timer = { handle, at }
  }

  async #write(key: string, batch: Batch): Promise<void> {
    const log = this.#o.log.child({ device: key, node: batch.node })
    const device = this.#o.informers.devices.get(batch.namespace, batch.name)
    if (device === undefined) return this.#answer(batch, 'CLOUD_DEVICE_UNKNOWN', `device ${key} is gone`)
    if (device.spec.nodeName !== batch.node) return this.#answer(batch, 'CLOUD_NOT_OWNER', `device ${key} is no longer bound to node ${batch.node}`)
    const patch = statusPatch(this.#currentStatus(key, device), declaredProperties(device), batch.status)
    if (patch === undefined) return this.#answer(batch)
    try {
      const stored = (await this.#o.api.patchDeviceStatus(batch.namespace, batch.name, patch)) as Device
      this.#metrics.patchesWritten++
      const rv = stored?.metadata?.resourceVersion
      if (typeof rv === 'string') this.#written.set(key, { resourceVersion: rv, status: stored.status })
      this.#answer(batch)
    } catch (err) {
      this.#metrics.patchFailures++
      const status = err instanceof KubeRequestError ? err.status : undefined
      if (status === 404) {
        log.info({ code: 'CLOUD_DEVICE_UNKNOWN' }, 'device deleted before its status was written')
        return this.#answer(batch, 'CLOUD_DEVICE_UNKNOWN', `device ${key} does not exist`)
      }
      if (status === 400 || status === 422) {
        log.warn({ code: 'CLOUD_STATUS_WRITE_FAILED', status, err: (err as Error).message }, 'the API server refused the status; reports dropped')
        return this.#answer(batch, 'CLOUD_STATUS_WRITE_FAILED', (err as Error).message)
      }
      const backoff = batch.backoff ?? new Backoff(this.#o.retry)
      const wait = backoff.next()
      log.warn({ code: 'CLOUD_STATUS_WRITE_FAILED', status, err: (err as Error).message, retryMs: wait }, 'status patch failed; retrying')
      const newer = this.#pending.get(key)
      this.#pending.delete(key)
      this.#pending.set(key, {
        ...batch,
        node: newer?.node ?? batch.node,
        status: mergePending(batch.status, newer?.status),
        reports: new Map([...batch.reports, ...(newer?.reports ?? [])]),
        notBefore: this.#o.clock.now() + wait,
        backoff,
      })
    }
  }

  /** The freshest status we know: the informer's, or the one we wrote if the watch has not caught up. */
  #currentStatus(key: string, device: Device): Device['status'] {
    const written = this.#written.get(key)
    if (written === undefined) return device.status
    const mine = Number(written.resourceVersion)
    const cached = Number(device.metadata.resourceVersion)
    if (Number.isSafeInteger(mine) && Number.isSafeInteger(cached) && mine > cached) return written.status
    this.#written.delete(key)
    return device.status
  }

  /** Keeps the ids of recently acknowledged reports (bounded, oldest forgotten first). */
  #remember(id: string): void {
    this.#acked.add(id)
    if (this.#acked.size <= ACKED_REMEMBERED) return
    for (const old of this.#acked) {
      this.#acked.delete(old)
      if (this.#acked.size <= ACKED_REMEMBERED) break
    }
  }

  /** Acknowledges (no code) or refuses every report folded into `batch`. */
  #answer(batch: Batch, code?: ErrorCode, reason = ''): void {
    for (const { session, message } of batch.reports.values()) {
      if (code === undefined) {
        this.#metrics.acked++
        this.#remember(message.header.msg_id)
        session.send(response(message, Sources.cloud))
      } else {
        this.#metrics.reportsRefused++
        session.send(errorResponse(message, Sources.cloud, { code, reason }))
      }
    }
  }
}
