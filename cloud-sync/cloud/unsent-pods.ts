/**
 * The final delete of pods no edge node will ever make it for: pods bound to an edge node that
 * tern cloud cannot send it, because its pod informer refuses them (CLOUD_OBJECT_INVALID: the
 * schema the edge's store checks too). The node never hears of such a pod, so it never runs it and
 * never reports it terminated; without this, `kubectl delete` left it Terminating for ever. The
 * kubelet's rule (status_manager canBeDeleted) is that a pod with nothing running may go at once,
 * so once the pod is being deleted (deletionTimestamp) tern cloud deletes it with grace 0 and its
 * uid as precondition, as the edge's final delete would (pod-deletes.ts).
 *
 * A pod is never deleted under a node that may still run it:
 * - only pods bound to an edge Node (labelled node-role.kubernetes.io/edge) are taken: another
 *   node's kubelet deletes its own, and a pod bound to no existing Node is the pod garbage
 *   collector's (kube-controller-manager's podgc deletes it);
 * - a pod that was sent while valid and turned invalid (the node was then told to stop it, with
 *   the pod's grace period) is deleted only once the deletion's grace period is over (its
 *   deletionTimestamp). That memory lasts as long as the process; the API server itself refuses
 *   what makes a pod invalid here, so the case needs a server that stores what it should not.
 *
 * Failures (other than 404: gone; 409: the name has another uid now) are retried with back-off.
 */
import type { Logger } from 'pino'
import { realClock, type Clock, type TimerHandle } from '../../mappers/runtime/clock.js'
import { KubeRequestError } from './kube-api.js'
import type { InvalidHandler } from './informers.js'
import { Backoff, type BackoffOptions } from './timing.js'

export interface UnsentPodsOptions {
  /** the workload downlink's pod informer: its invalid pods */
  pods: { onInvalid(handler: InvalidHandler<{ metadata: { uid?: string } }>): void }
  /** the edge Nodes (PodController's informer): which names are edge nodes, and when that changes */
  nodes: { get(namespace: string, name: string): unknown; onChange(handler: () => void): void }
  /** the kubelet's final delete (WorkloadApi.deletePod) */
  deletePod(namespace: string, name: string, uid: string): Promise<boolean>
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
    this.#o.pods.onInvalid((key, object, replaced) => this.#invalid(key, object, replaced?.metadata.uid))
    this.#o.nodes.onChange(() => {
      for (const pod of this.#pods.values()) this.#schedule(pod)
    })
  }

  stop(): void {
    this.#running = false
    for (const pod of this.#pods.values()) this.#cancel(pod)
  }

  #invalid(key: string, object: unknown, replacedUid: string | undefined): void {
    const old = this.#pods.get(key)
    const seen = object === undefined ? undefined : fieldsOf(object)
    if (old !== undefined && old.uid !== seen?.uid) {
      this.#cancel(old)
      this.#pods.delete(key)
    }
    if (seen === undefined) return
    const pod = this.#pods.get(key) ?? { ...seen, due: undefined, sent: false, timer: undefined, backoff: new Backoff(this.#o.retry ?? { initialMs: 1000, maxMs: 30_000 }) }
    pod.sent ||= replacedUid === seen.uid
    pod.due = seen.deletionTimestamp === undefined ? undefined : pod.sent ? Date.parse(seen.deletionTimestamp) : 0
    this.#pods.set(key, pod)
    this.#schedule(pod)
  }

  #schedule(pod: Unsent, afterMs = 0): void {
    this.#cancel(pod)
    if (!this.#running || pod.due === undefined || this.#o.nodes.get('', pod.node) === undefined) return
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
      if (await this.#o.deletePod(pod.namespace, pod.name, pod.uid)) this.#o.log.info({ ...where, sent: pod.sent }, 'pod deleted by tern cloud: it could not be sent to its node (CLOUD_OBJECT_INVALID), so no node will report it terminated')
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

/** What an invalid pod must have for its final delete, read defensively (it failed its schema). */
function fieldsOf(object: unknown): { namespace: string; name: string; uid: string; node: string; deletionTimestamp: string | undefined } | undefined {
  const pod = object as { metadata?: Record<string, unknown>; spec?: Record<string, unknown> } | null
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined)
  const namespace = text(pod?.metadata?.namespace)
  const name = text(pod?.metadata?.name)
  const uid = text(pod?.metadata?.uid)
  const node = text(pod?.spec?.nodeName)
  if (namespace === undefined || name === undefined || uid === undefined || node === undefined) return undefined
  return { namespace, name, uid, node, deletionTimestamp: text(pod?.metadata?.deletionTimestamp) }
}
