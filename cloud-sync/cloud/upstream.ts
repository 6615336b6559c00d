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
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
import type { ErrorCode } from '../../schemas/errors.js'
import { errorResponse, Operations, parseReportResource, response, Sources, validateStateReport, validateTwinReport, type Envelope, type StateReport, type TwinReport } from '../messages.js'
import { RefusalLog } from '../refusal-log.js'
import type { Session } from '../session.js'
import { objectKey, type DeviceInformers } from './informers.js'
import { KubeRequestError, type KubeApi } from './kube-api.js'
import { declaredProperties, emptyPending, foldStateReport, foldTwinReport, mergePending, statusPatch, type PendingStatus } from './status-patch.js'
import { KeyedWriter, type Refusal } from './keyed-writer.js'
import { TokenBucket, type BackoffOptions } from './timing.js'

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
  /** the status budget, when shared with other writers (default: its own, of `qps` and `burst`) */
  bucket?: TokenBucket
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

/** A device's status waiting to be written. */
interface Pending {
  namespace: string
  name: string
  node: string
  status: PendingStatus
}

export class Upstream {
  readonly #o: Required<Omit<UpstreamOptions, 'clock' | 'bucket'>> & { clock: Clock }
  readonly #writer: KeyedWriter<Pending>
  readonly #bucket: TokenBucket
  /** device key → status we wrote and its resourceVersion, until the informer has caught up */
  readonly #written = new Map<string, { resourceVersion: string; status: Device['status'] }>()
  /** `refusedPatches`: patches the API server answered 404/400/422 (failures the writer does not see) */
  readonly #metrics = { reportsReceived: 0, reportsRefused: 0, patchesWritten: 0, acked: 0, refusedPatches: 0 }
  /** refusals, logged once per node, code and episode */
  readonly #refusals: RefusalLog
  #running = false
  #subscribed = false

  constructor(options: UpstreamOptions) {
    this.#o = { qps: 50, burst: 100, workers: 4, retry: { initialMs: 500, maxMs: 30_000 }, ...options, clock: options.clock ?? realClock }
    this.#refusals = new RefusalLog(this.#o.log, () => this.#o.clock.now())
    this.#bucket = options.bucket ?? new TokenBucket({ qps: this.#o.qps, burst: this.#o.burst, clock: this.#o.clock })
    this.#writer = new KeyedWriter<Pending>({
      bucket: this.#bucket,
      lane: 'device-status',
      clock: this.#o.clock,
      log: this.#o.log,
      workers: this.#o.workers,
      retry: this.#o.retry,
      write: (key, pending) => this.#write(key, pending),
      merge: (older, newer) => ({ ...older, node: newer?.node ?? older.node, status: mergePending(older.status, newer?.status) }),
    })
  }

  metrics(): UpstreamMetrics {
    const w = this.#writer.metrics()
    const { refusedPatches, ...own } = this.#metrics
    return {
      ...own,
      reportsRefused: own.reportsRefused + w.refused,
      coalesced: w.coalesced,
      patchFailures: w.failures + refusedPatches,
      acked: own.acked + w.acked,
      pending: w.pending,
      writing: w.writing,
      budget: { available: this.#bucket.available, burst: this.#bucket.burst },
    }
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
    this.#writer.start()
  }

  /** Stops writing; waits for patches in flight. Reports not written stay unacknowledged (the edge re-sends). */
  async stop(): Promise<void> {
    this.#running = false
    await this.#writer.stop()
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
    if (this.#writer.known(session, message, key)) return
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
    this.#writer.submit(session, message, key, (previous) => {
      const pending = previous ?? { namespace: r.namespace, name: r.name, node: session.node, status: emptyPending() }
      if (twin !== undefined) foldTwinReport(pending.status, twin, declared, (p) => this.#modelType(device, p))
      if (state !== undefined) foldStateReport(pending.status, state)
      pending.node = session.node
      return pending
    })
  }

  /** The report's device and content, or undefined after refusing it (invalid, unknown, another node's). */
  #accept(session: Session, message: Envelope, namespace: string, name: string, kind: 'twin' | 'state'): { device: Device; twin?: TwinReport; state?: StateReport } | undefined {
    const key = objectKey(namespace, name)
    const fields = { node: session.node, device: key, kind }
    if (message.route.operation !== Operations.update) {
      this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', `operation ${message.route.operation} is not update`)
      return undefined
    }
    const checked = kind === 'twin' ? validateTwinReport(message.content) : validateStateReport(message.content)
    if (!checked.ok) {
      const reason = checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')
      this.#refusals.warn(session.node, 'CLOUD_MESSAGE_INVALID', { ...fields, reason }, 'invalid report; refused')
      this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', reason)
      return undefined
    }
    const device = this.#o.informers.devices.get(namespace, name)
    if (device === undefined) {
      this.#refusals.info(session.node, 'CLOUD_DEVICE_UNKNOWN', fields, 'report for a device that does not exist; refused')
      this.#refuse(session, message, 'CLOUD_DEVICE_UNKNOWN', `device ${key} does not exist`)
      return undefined
    }
    if (device.spec.nodeName !== session.node) {
      // The session's node is authenticated (its certificate): a report about another node's device is refused and logged.
      this.#refusals.warn(session.node, 'CLOUD_NOT_OWNER', { ...fields, boundTo: device.spec.nodeName ?? null }, 'report for a device of another node; refused')
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

  /** Writes a device's pending status; a refusal for what re-sending cannot change, throws to retry. */
  async #write(key: string, pending: Pending): Promise<Refusal | undefined> {
    const log = this.#o.log.child({ device: key, node: pending.node })
    const device = this.#o.informers.devices.get(pending.namespace, pending.name)
    if (device === undefined) return { code: 'CLOUD_DEVICE_UNKNOWN', reason: `device ${key} is gone` }
    if (device.spec.nodeName !== pending.node) return { code: 'CLOUD_NOT_OWNER', reason: `device ${key} is no longer bound to node ${pending.node}` }
    const patch = statusPatch(this.#currentStatus(key, device), declaredProperties(device), pending.status)
    if (patch === undefined) return undefined
    try {
      const stored = (await this.#o.api.patchDeviceStatus(pending.namespace, pending.name, patch)) as Device
      this.#metrics.patchesWritten++
      const rv = stored?.metadata?.resourceVersion
      if (typeof rv === 'string') this.#written.set(key, { resourceVersion: rv, status: stored.status })
      return undefined
    } catch (err) {
      const status = err instanceof KubeRequestError ? err.status : undefined
      if (status === 404 || status === 400 || status === 422) this.#metrics.refusedPatches++
      if (status === 404) {
        log.info({ code: 'CLOUD_DEVICE_UNKNOWN' }, 'device deleted before its status was written')
        return { code: 'CLOUD_DEVICE_UNKNOWN', reason: `device ${key} does not exist` }
      }
      if (status === 400 || status === 422) {
        log.warn({ code: 'CLOUD_STATUS_WRITE_FAILED', status, err: (err as Error).message }, 'the API server refused the status; reports dropped')
        return { code: 'CLOUD_STATUS_WRITE_FAILED', reason: (err as Error).message }
      }
      throw err
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
}
