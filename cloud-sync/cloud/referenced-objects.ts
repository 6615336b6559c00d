/**
 * The cluster's ConfigMaps (or Secrets) as `tern cloud` holds them: whole — less managedFields and
 * the last-applied annotation — only while some bound pod references them; of every other one a
 * stub (namespace, name, resourceVersion), so memory grows with what the edge fleet uses, not with
 * the cluster (Helm release Secrets, service-account tokens, every namespace's kube-root-ca.crt),
 * and no Secret data is kept that no node needs.
 *
 * One list and watch over all namespaces, as KubeEdge's EdgeController has (shared informers),
 * with the cache of the kubelet's watch-based manager (data of referenced objects only). The
 * kubelet's one watch per referenced object (pkg/kubelet/util/manager/watch_based_manager.go)
 * would make requests grow with the objects the fleet uses; this adds none at steady state.
 *
 * A reference that appears to an object held as a stub makes a GET of it; until the object is
 * whole (or gone) it is `pending`, so the workload downlink holds back the pods that need it
 * instead of sending them without it. Every watch event of a referenced object is kept whole, so
 * an edit after the reference flows as any other; the GET's answer is taken only at the version
 * the cache holds (a newer one comes through the watch, whole). A reference that goes away turns
 * the object back into a stub: its data is forgotten.
 */
import type { Logger } from 'pino'
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
import type { Validator } from '../../schemas/validate.js'
import type { ConfigMap } from '../../schemas/workloads.js'
import { Informer, objectKey, type ChangeHandler } from './informers.js'
import { Backoff, delay, type BackoffOptions } from './timing.js'
import type { ReferencedResource, WorkloadApi, WorkloadResource } from './workload-api.js'
import { leanMetadata } from './workload-set.js'

/**
 * Objects per list request: ConfigMaps and Secrets are large (up to ~1 MiB each; Helm release
 * Secrets ~100 KiB), and a page is held whole as it arrives. With 2,000 Secrets of 100 KiB the
 * highest RSS was 432 MiB in pages of 500, 289 MiB in pages of 100, 271 MiB in pages of 50
 * (docs/benchmarks.md).
 */
export const REFERENCED_PAGE_SIZE = 100

/** What is kept of an object no pod references. */
export interface ObjectStub {
  stub: true
  metadata: { name: string; namespace: string; resourceVersion?: string }
}

/** ConfigMap or Secret: what the transform keeps of them is their metadata's lean form */
type Whole = { metadata: ConfigMap['metadata'] }

export type Held<T> = T | ObjectStub

export function isStub<T extends Whole>(held: Held<T> | undefined): held is ObjectStub {
  return held !== undefined && 'stub' in held
}

export interface ReferencedObjectsOptions<T> {
  api: WorkloadApi
  resource: ReferencedResource
  validate: Validator<T>
  /** Whether some bound pod references namespace/name now. */
  inUse(namespace: string, name: string): boolean
  log: Logger
  clock?: Clock
  /** list/watch and GET back-off (default 500 ms doubling to 30 s) */
  backoff?: BackoffOptions
}

export class ReferencedObjects<T extends Whole> {
  readonly informer: Informer<T, WorkloadResource, Held<T>>
  readonly #o: ReferencedObjectsOptions<T> & { clock: Clock }
  /** keys with a GET loop running */
  readonly #reading = new Set<string>()
  #abort = new AbortController()
  /** GETs made, for tests and metrics */
  reads = 0

  constructor(options: ReferencedObjectsOptions<T>) {
    this.#o = { ...options, clock: options.clock ?? realClock }
    const { api, resource, validate, log, clock, backoff } = options
    const keep = (object: T): Held<T> => {
      const { name, namespace, resourceVersion } = object.metadata
      if (!options.inUse(namespace, name)) return { stub: true, metadata: { name, namespace, ...(resourceVersion === undefined ? {} : { resourceVersion }) } }
      return { ...object, metadata: leanMetadata(object.metadata) }
    }
    this.informer = new Informer<T, WorkloadResource, Held<T>>({ api, resource, validate, transform: keep, pageSize: REFERENCED_PAGE_SIZE, log, ...(clock === undefined ? {} : { clock }), ...(backoff === undefined ? {} : { backoff }) })
    // A list transforms each page as it arrives: a reference that appeared before its last page is
    // taken finds the object a stub in the cache only then, and reads it as use() would have.
    this.informer.onChange((_old, current) => {
      if (isStub(current) && options.inUse(current.metadata.namespace, current.metadata.name)) this.use(current.metadata.namespace, current.metadata.name)
    })
  }

  /** The object when it is held whole. */
  get(namespace: string, name: string): T | undefined {
    const held = this.informer.get(namespace, name)
    return isStub(held) ? undefined : held
  }

  /** It exists, is referenced and its data is still being read. */
  pending(namespace: string, name: string): boolean {
    return isStub(this.informer.get(namespace, name)) && this.#o.inUse(namespace, name)
  }

  onChange(handler: ChangeHandler<Held<T>>): void {
    this.informer.onChange(handler)
  }

  whenSynced(): Promise<void> {
    return this.informer.whenSynced()
  }

  /** A reference to namespace/name appeared (`inUse` says so now): its data is read if only a stub is held. */
  use(namespace: string, name: string): void {
    if (isStub(this.informer.get(namespace, name))) void this.#read(namespace, name)
  }

  /** The last reference to namespace/name went (`inUse` says so now): its data is forgotten. */
  release(namespace: string, name: string): void {
    this.informer.amend(namespace, name, (held) => (isStub(held) ? held : { stub: true, metadata: { name, namespace, ...(held.metadata.resourceVersion === undefined ? {} : { resourceVersion: held.metadata.resourceVersion }) } }))
  }

  start(): void {
    if (this.#abort.signal.aborted) this.#abort = new AbortController()
    this.informer.start()
  }

  async stop(): Promise<void> {
    this.#abort.abort()
    await this.informer.stop()
  }

  /** GETs namespace/name until the cache holds it whole, it is gone, or nothing references it any more. */
  async #read(namespace: string, name: string): Promise<void> {
    const key = objectKey(namespace, name)
    if (this.#reading.has(key)) return
    this.#reading.add(key)
    const signal = this.#abort.signal
    const backoff = new Backoff(this.#o.backoff ?? { initialMs: 500, maxMs: 30_000 })
    try {
      while (!signal.aborted && this.pending(namespace, name)) {
        let wait: number
        try {
          this.reads++
          const object = await this.#o.api.read(this.#o.resource, namespace, name)
          // Taken, or another version than the stub's: the watch brings that one (whole, as it is in use).
          if (object !== undefined && this.informer.offer(object)) return
          wait = backoff.next()
        } catch (err) {
          wait = backoff.next()
          this.#o.log.warn({ code: 'CLOUD_KUBE_UNAVAILABLE', resource: this.#o.resource, object: key, err: (err as Error).message, retryMs: wait }, 'read of a newly referenced object failed; retrying')
        }
        await delay(this.#o.clock, wait, signal)
      }
    } finally {
      this.#reading.delete(key)
    }
  }
}
