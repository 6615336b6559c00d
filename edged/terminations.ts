/**
 * Edged's deletion bookkeeping: which pods are being stopped, by when, and which it has reported
 * terminated while their source still lists them. A termination's deadline is when its grace period
 * ends, counted on this node's clock from when edged heard of it; a later deletion with a shorter
 * grace period (a second `kubectl delete --grace-period=N`) moves it earlier and never later, as the
 * kubelet's pod workers keep the shortest grace period of a pod already terminating. Kills read
 * what is left of it, so a kill begun again (after a restart of `tern edge`, or one hurried by a
 * shorter deletion) does not start the whole period over.
 */
import type { Pod } from '../schemas/pod.js'
import type { Clock } from '../mappers/runtime/clock.js'
import { podGraceSeconds } from './kuberuntime/pod-sync.js'
import { uidOf } from './pod-store.js'

export interface Stopping {
  pod: Pod
  source: string
  /** ms since the epoch, on `clock`: the grace period ends */
  deadline: number
}

export class Terminations {
  readonly #clock: Clock
  /** pods gone from their source, or being deleted, whose runtime objects are still being stopped */
  readonly #stopping = new Map<string, Stopping>()
  /**
   * Pods being deleted (deletionTimestamp) whose termination is over while their source still
   * lists them (until the final delete lands): uid → source. Not stopped or reported again.
   */
  readonly #finished = new Map<string, string>()

  constructor(clock: Clock) {
    this.#clock = clock
  }

  /**
   * Starts a pod's termination, or takes its newest version (the newest deletion's grace period)
   * into one under way. True when that moved the deadline earlier: a kill in progress must hurry.
   */
  stop(pod: Pod, source: string): boolean {
    const uid = uidOf(pod)
    const candidate = this.#clock.now() + podGraceSeconds(pod) * 1000
    const old = this.#stopping.get(uid)
    const deadline = old === undefined ? candidate : Math.min(old.deadline, candidate)
    this.#stopping.set(uid, { pod, source, deadline })
    return old !== undefined && deadline < old.deadline
  }

  /**
   * Pods being deleted that `source` no longer lists before their termination is over: deleted for
   * good meanwhile (`--force --grace-period=0`), so stopped at once, as the kubelet begins immediate
   * cleanup of a pod force-deleted. Returns the uids whose deadline that moved earlier.
   */
  forceDeleted(source: string, present: ReadonlySet<string>): string[] {
    const hurried: string[] = []
    for (const [uid, s] of this.#stopping) {
      if (s.source !== source || present.has(uid) || s.pod.metadata.deletionTimestamp === undefined) continue
      if (this.stop({ ...s.pod, metadata: { ...s.pod.metadata, deletionGracePeriodSeconds: 0 } }, source)) hurried.push(uid)
    }
    return hurried
  }

  /** A pod listed again as desired (a static pod's manifest back): its termination is called off. */
  cancel(uid: string): void {
    this.#stopping.delete(uid)
  }

  get(uid: string): Stopping | undefined {
    return this.#stopping.get(uid)
  }

  has(uid: string): boolean {
    return this.#stopping.has(uid)
  }

  uids(): IterableIterator<string> {
    return this.#stopping.keys()
  }

  /** Whole seconds left until the deadline (0 once past), or undefined when the pod is not being stopped. */
  graceLeft(uid: string): number | undefined {
    const stopping = this.#stopping.get(uid)
    return stopping === undefined ? undefined : Math.max(0, Math.ceil((stopping.deadline - this.#clock.now()) / 1000))
  }

  /** Nothing of the pod runs any more: its termination is over (and remembered while its source lists it as being deleted). */
  over(uid: string): Stopping | undefined {
    const stopping = this.#stopping.get(uid)
    this.#stopping.delete(uid)
    if (stopping?.pod.metadata.deletionTimestamp !== undefined) this.#finished.set(uid, stopping.source)
    return stopping
  }

  /** Records as over the termination of a pod that never ran (it was refused). */
  overBeforeStart(uid: string, source: string): void {
    this.#finished.set(uid, source)
  }

  finished(uid: string): boolean {
    return this.#finished.has(uid)
  }

  /** Forgets the finished pods of `source` it no longer lists (their final delete landed). */
  keepFinished(source: string, present: ReadonlySet<string>): void {
    for (const [uid, from] of this.#finished) if (from === source && !present.has(uid)) this.#finished.delete(uid)
  }
}
