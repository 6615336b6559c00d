/**
 * Edged's side of admission: whether a pod new to edged may run (the Node's spec decides, through
 * admission.ts), what a refused pod reports, and remembering the refusal until its source drops
 * the pod. A verdict survives a restart through the stored statuses: a pod refused before stays
 * refused, a pod admitted before stays admitted, whatever the Node's spec says now.
 */
import type { Logger } from 'pino'
import type { Pod, PodStatus } from '../schemas/pod.js'
import type { Clock } from '../mappers/runtime/clock.js'
import { REJECTED_PREFIX, type Rejection } from './admission.js'
import type { EventRecorder } from './events.js'
import { podName } from './kuberuntime/pod-sync.js'
import { uidOf } from './pod-store.js'
import type { RefusedPod } from './sources/source.js'
import type { StatusManager } from './status-manager.js'

/** The status reason of a pod edged cannot run as its source gave it (EDGED_POD_INVALID). */
export const INVALID_REASON = 'PodInvalid'

/** What edged keeps of a pod its source refused: its metadata and no containers (nothing of it runs). */
export function refusedPod(refused: RefusedPod): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: refused.metadata, spec: { containers: [] } } as unknown as Pod
}

/** Why a pod may not run beside `active`, the pods admitted and not finished (NodeAdmission). */
export interface NodeCheck {
  check(pod: Pod, active: readonly Pod[]): Rejection | undefined
}

export interface PodAdmissionOptions {
  statuses: StatusManager
  events: EventRecorder
  clock: Clock
  /** the node's address now (the refused pod's hostIP) */
  hostIP: () => string
  log: Logger
  /** admission of new pods against the Node and the pods admitted before (undefined: every pod is admitted) */
  node: NodeCheck | undefined
}

export class PodAdmission {
  readonly #o: PodAdmissionOptions
  /** pods refused: never run, reported Failed until their source drops them */
  readonly #rejected = new Map<string, Pod>()

  constructor(options: PodAdmissionOptions) {
    this.#o = options
  }

  rejected(uid: string): boolean {
    return this.#rejected.has(uid)
  }

  /** Forgets the refused pods not in `present` (their sources dropped them), with their statuses. */
  async keepOnly(present: ReadonlySet<string>): Promise<void> {
    for (const [uid] of this.#rejected) {
      if (present.has(uid)) continue
      this.#rejected.delete(uid)
      await this.#o.statuses.remove(uid)
    }
  }

  /** Forgets a refused pod and its status (it is being deleted); false when it was not refused. */
  async forget(uid: string): Promise<boolean> {
    if (!this.#rejected.delete(uid)) return false
    await this.#o.statuses.remove(uid)
    return true
  }

  /** A pod its source refused (EDGED_POD_INVALID, `message` says why): reported Failed and remembered, once. */
  async refuse(pod: Pod, message: string): Promise<void> {
    if (this.#rejected.has(uidOf(pod))) return
    await this.#reject(pod, { reason: INVALID_REASON, message: `${REJECTED_PREFIX}${message}` })
  }

  /** Whether a pod new to edged may run beside `active` (the pods admitted and not finished); a refused one is reported and remembered. */
  async admit(pod: Pod, active: readonly Pod[]): Promise<boolean> {
    const rejection = this.#verdict(pod, uidOf(pod), active)
    if (rejection === undefined) return true
    await this.#reject(pod, rejection)
    return false
  }

  #verdict(pod: Pod, uid: string, active: readonly Pod[]): Rejection | undefined {
    const before = this.#o.statuses.previous(uid)
    if (before?.phase === 'Failed' && before.message?.startsWith(REJECTED_PREFIX) === true) return { reason: before.reason ?? '', message: before.message }
    if (before !== undefined) return undefined
    return this.#o.node?.check(pod, active)
  }

  /** The kubelet's rejectPod: a Warning event and the status Failed with the reason; nothing runs. */
  async #reject(pod: Pod, rejection: Rejection): Promise<void> {
    this.#rejected.set(uidOf(pod), pod)
    this.#o.log.warn({ pod: podName(pod), uid: uidOf(pod), reason: rejection.reason }, rejection.message)
    this.#o.events.event(pod, 'Warning', rejection.reason, rejection.message.slice(REJECTED_PREFIX.length))
    const status: PodStatus = { phase: 'Failed', reason: rejection.reason, message: rejection.message, conditions: [], containerStatuses: [], hostIP: this.#o.hostIP(), startTime: new Date(this.#o.clock.now()).toISOString() }
    await this.#o.statuses.set(pod, status, false)
  }
}
