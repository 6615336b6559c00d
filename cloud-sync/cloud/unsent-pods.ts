/**
 * What a kubelet would say and do about pods bound to an edge node that the node can never be
 * sent, since no node will: pods tern cloud's pod informer refuses (CLOUD_OBJECT_INVALID: the
 * schema the edge's store checks too), and pods the node refused when they were sent (it answered
 * the `update` with an error: its store's schema, or its link's limits, from another tern version).
 *
 * - Status: as the kubelet's rejectPod, phase Failed with reason PodUnsendable and the message
 *   "Pod was rejected: <why>", and a Warning Event, written once per pod (PodController.reject:
 *   the status budget and the Event budget). A Failed pod stays Failed: the pod informer treats a
 *   pod with that status as invalid too (isUnsendable), so one that turns valid later is still
 *   never sent, as a kubelet never starts a pod whose phase is terminal.
 * - Final delete: the node never runs such a pod and never reports it terminated; without this,
 *   `kubectl delete` left it Terminating for ever. The kubelet's rule (status_manager
 *   canBeDeleted) is that a pod with nothing running may go at once, so once the pod is being
 *   deleted (deletionTimestamp) tern cloud deletes it with grace 0 and its uid as precondition, as
 *   the edge's final delete would (pod-deletes.ts).
 *
 * A pod is never deleted under a node that may still run it:
 * - only pods bound to an edge Node (labelled node-role.kubernetes.io/edge) are taken: another
 *   node's kubelet deletes its own, and a pod bound to no existing Node is the pod garbage
 *   collector's (kube-controller-manager's podgc deletes it);
 * - a pod that was sent while valid and turned invalid, or whose node refused a newer version of
 *   it (the node was then told to stop the version it had, with the pod's grace period), is
 *   deleted only once the deletion's grace period is over (its deletionTimestamp). That memory
 *   lasts as long as the process; the API server itself refuses what makes a pod invalid here, so
 *   the case needs a server that stores what it should not, or two tern versions.
 *
 * Failures (other than 404: gone; 409: the name has another uid now) are retried with back-off.
 */
import type { Logger } from 'pino'
import { realClock, type Clock, type TimerHandle } from '../../mappers/runtime/clock.js'
import type { ErrorContent } from '../messages.js'
import type { Problem } from '../../schemas/validate.js'
import { KubeRequestError } from './kube-api.js'
import type { InvalidHandler } from './informers.js'
import type { PodRejection } from './pod-uplink.js'
import { Backoff, type BackoffOptions } from './timing.js'

/** The status reason of a pod no node can be sent (a kubelet rejectPod reason, as `OutOfcpu`). */
export const UNSENDABLE_REASON = 'PodUnsendable'

/** How much of the problems the status message and Event carry (kubectl describe shows it whole). */
const WHY_MAX_CHARS = 400

/** Whether tern cloud wrote a pod's refusal in its status: Failed, reason PodUnsendable (final). */
export function isUnsendable(pod: unknown): boolean {
  const status = (pod as { status?: { phase?: unknown; reason?: unknown } } | null)?.status
  return status?.phase === 'Failed' && status.reason === UNSENDABLE_REASON
}

/** A node's refusal of a pod: `held`, it had acknowledged an earlier version of that uid. */
export type RefusedHandler = (node: string, pod: { metadata: { namespace: string; name: string; uid?: string; deletionTimestamp?: string } }, error: ErrorContent, held: boolean) => void

export interface UnsentPodsOptions {
  /** the workload downlink's pod informer: its invalid pods */
  pods: { onInvalid(handler: InvalidHandler<{ metadata: { uid?: string } }>): void }
  /** the workload downlink: the pods nodes refused (Workloads) */
  refusals: { onRefused(handler: RefusedHandler): void }
  /** the edge Nodes (PodController's informer): which names are edge nodes, and when that changes */
  nodes: { get(namespace: string, name: string): unknown; onChange(handler: () => void): void }
  /** the kubelet's final delete (WorkloadApi.deletePod) */
  deletePod(namespace: string, name: string, uid: string): Promise<boolean>
  /** the kubelet's rejectPod: Failed status and Warning Event (PodController.reject) */
  reject(pod: PodRejection): void
  log: Logger
  clock?: Clock
  /** retry back-off after a failed delete; default 1 s doubling to 30 s */
  retry?: BackoffOptions
}

interface Unsent {
  namespace: string
  name: string
  uid: string
  node: string
  /** ms since the epoch the delete may go; undefined while the pod is not being deleted */
  due: number | undefined
  /** a valid version of this uid was in the cache, so its node may have run it */
  sent: boolean
  /** its node refused it (then `sent` says whether the node held an earlier version) */
  refused: boolean
  /** its status says so already, or it is being written */
  rejected: boolean
  /** what is wrong, for the status message */
  why: string
  timer: TimerHandle | undefined
  backoff: Backoff
}

export class UnsentPods {
  readonly #o: UnsentPodsOptions & { clock: Clock }
  /** informer key (`<ns>/<name>`) → the invalid pod */
  readonly #pods = new Map<string, Unsent>()
  #running = false

  constructor(options: UnsentPodsOptions) {
    this.#o = { ...options, clock: options.clock ?? realClock }
  }

  /** Subscribes to the informers (before they start, so no invalid pod is missed). */
  start(): void {
    if (this.#running) return
    this.#running = true
    this.#o.pods.onInvalid((key, object, replaced, problems) => this.#invalid(key, object, replaced?.metadata.uid, problems))
    this.#o.refusals.onRefused((node, pod, error, held) => this.#refused(node, pod, error, held))
    this.#o.nodes.onChange(() => {
      for (const pod of this.#pods.values()) this.#schedule(pod)
    })
  }

  stop(): void {
    this.#running = false
    for (const pod of this.#pods.values()) this.#cancel(pod)
  }

  #invalid(key: string, object: unknown, replacedUid: string | undefined, problems: readonly Problem[] | undefined): void {
    const seen = object === undefined ? undefined : fieldsOf(object)
    const why = `tern cloud cannot send it to its node: CLOUD_OBJECT_INVALID: ${(problems ?? []).map((p) => `${p.path}: ${p.message}`).join('; ')}`
    const pod = this.#track(key, seen, why)
    if (pod === undefined || seen === undefined) return
    if (!pod.refused) pod.sent ||= replacedUid === seen.uid
    // a pod that finished before it turned invalid keeps its phase (terminal phases never change)
    pod.rejected ||= isUnsendable(object) || isTerminal(object)
    this.#due(pod, seen.deletionTimestamp)
  }

  #refused(node: string, object: Parameters<RefusedHandler>[1], error: ErrorContent, held: boolean): void {
    const { namespace, name, uid, deletionTimestamp } = object.metadata
    if (uid === undefined || uid === '') return
    const key = `${namespace}/${name}`
    const fresh = this.#pods.get(key)?.uid !== uid
    const pod = this.#track(key, { namespace, name, uid, node, deletionTimestamp }, `node ${node} refused it: ${error.code}: ${error.reason}`)
    if (pod === undefined) return
    if (fresh) {
      pod.refused = true
      pod.sent = held
    }
    this.#due(pod, deletionTimestamp)
  }

  /** The entry of the pod `seen` under `key` (a new one for another uid); none when it is gone or valid again. */
  #track(key: string, seen: Fields | undefined, why: string): Unsent | undefined {
    const old = this.#pods.get(key)
    if (old !== undefined && old.uid !== seen?.uid) {
      this.#cancel(old)
      this.#pods.delete(key)
    }
    if (seen === undefined) return undefined
    const pod = this.#pods.get(key) ?? { ...seen, due: undefined, sent: false, refused: false, rejected: false, why: why.slice(0, WHY_MAX_CHARS), timer: undefined, backoff: new Backoff(this.#o.retry ?? { initialMs: 1000, maxMs: 30_000 }) }
    this.#pods.set(key, pod)
    return pod
  }

  #due(pod: Unsent, deletionTimestamp: string | undefined): void {
    pod.due = deletionTimestamp === undefined ? undefined : pod.sent ? Date.parse(deletionTimestamp) : 0
    this.#schedule(pod)
  }

  #schedule(pod: Unsent, afterMs = 0): void {
    this.#cancel(pod)
    if (!this.#running || this.#o.nodes.get('', pod.node) === undefined) return
    if (!pod.rejected) {
      pod.rejected = true
      const { node, namespace, name, uid, why } = pod
      this.#o.reject({ node, namespace, name, uid, reason: UNSENDABLE_REASON, message: why })
    }
    if (pod.due === undefined) return
    const wait = Math.max(afterMs, (Number.isNaN(pod.due) ? 0 : pod.due) - this.#o.clock.now())
    pod.timer = this.#o.clock.setTimeout(() => {
      pod.timer = undefined
      void this.#delete(pod)
    }, wait)
  }

  #cancel(pod: Unsent): void {
    if (pod.timer !== undefined) this.#o.clock.clearTimeout(pod.timer)
    pod.timer = undefined
  }

  async #delete(pod: Unsent): Promise<void> {
    const where = { node: pod.node, pod: `${pod.namespace}/${pod.name}`, uid: pod.uid }
    try {
      if (await this.#o.deletePod(pod.namespace, pod.name, pod.uid)) this.#o.log.info({ ...where, sent: pod.sent, why: pod.why }, 'pod deleted by tern cloud: its node cannot be sent it, so no node will report it terminated')
      this.#done(pod)
    } catch (err) {
      if (err instanceof KubeRequestError && err.status === 409) return this.#done(pod) // the name has another pod now
      const retryMs = pod.backoff.next()
      this.#o.log.warn({ code: 'CLOUD_KUBE_UNAVAILABLE', ...where, err: (err as Error).message, retryMs }, 'cannot delete a pod no node can be sent; retrying')
      if (this.#pods.get(`${pod.namespace}/${pod.name}`) === pod) this.#schedule(pod, retryMs)
    }
  }

  #done(pod: Unsent): void {
    const key = `${pod.namespace}/${pod.name}`
    if (this.#pods.get(key) === pod) this.#pods.delete(key)
  }
}

interface Fields {
  namespace: string
  name: string
  uid: string
  node: string
  deletionTimestamp: string | undefined
}

function isTerminal(pod: unknown): boolean {
  const phase = (pod as { status?: { phase?: unknown } } | null)?.status?.phase
  return phase === 'Failed' || phase === 'Succeeded'
}

/** What an invalid pod must have for its final delete, read defensively (it failed its schema). */
function fieldsOf(object: unknown): Fields | undefined {
  const pod = object as { metadata?: Record<string, unknown>; spec?: Record<string, unknown> } | null
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined)
  const namespace = text(pod?.metadata?.namespace)
  const name = text(pod?.metadata?.name)
  const uid = text(pod?.metadata?.uid)
  const node = text(pod?.spec?.nodeName)
  if (namespace === undefined || name === undefined || uid === undefined || node === undefined) return undefined
  return { namespace, name, uid, node, deletionTimestamp: text(pod?.metadata?.deletionTimestamp) }
}
