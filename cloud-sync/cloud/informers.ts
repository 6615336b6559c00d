/**
 * Informers for Devices and DeviceModels in all namespaces: list (in pages, pager.ts), then watch
 * from the list's resourceVersion; a watch that ends is resumed from the last version seen (events
 * and bookmarks); a 410 Gone (the version was compacted away) relists and reports the difference as
 * changes; failures retry with back-off. Every object from the API server is validated with its
 * schema at this boundary; an invalid one is logged once with its problems and treated as absent
 * (a valid object that turns invalid is reported as deleted), and handed as it came to `onInvalid`
 * handlers, for the few who must still act on it (a pod no node can be sent must still go away).
 *
 * Why not client-node's `makeInformer`: its ListWatch relists on 410 but stops for good after any
 * other error (`doneHandler(err)` only calls the error callbacks), does not validate, and is
 * single-namespace-path oriented; the loop below is small and does all three.
 */
import type { Logger } from 'pino'
import type { Device, DeviceModel } from '../../schemas/device.js'
import * as checks from '../../schemas/generated/validators.js'
import { validator, type Problem, type Validator } from '../../schemas/validate.js'
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
import { KubeRequestError, type KubeApi, type KubeList, type KubeResource, type PageRequest, type WatchEvent, type WatchHandle, type WatchHandlers } from './kube-api.js'
import { PageSizer } from './page-size.js'
import { DEFAULT_PAGE_SIZE, ListExpiredError, listPages } from './pager.js'
import { Backoff, delay, type BackoffOptions } from './timing.js'

interface Named {
  metadata: { name: string; namespace: string; resourceVersion?: string }
}

type WatchEnding = { events: number; startedAt: number } & ({ kind: 'gone'; from: string } | { kind: 'error'; err: KubeRequestError; relist: boolean } | { kind: 'closed' })

export type ChangeHandler<T> = (old: T | undefined, current: T | undefined) => void

/**
 * Told of every invalid version of an object as it arrives (`object`, as the API server sent it,
 * `replaced`, the valid version it puts out of the cache, if any, and what is wrong with it), and
 * with `object` undefined once the object is gone or valid again.
 */
export type InvalidHandler<T> = (key: string, object: unknown, replaced: T | undefined, problems?: readonly Problem[]) => void

/** What an informer needs of an API seam: list (a page of) and watch one resource (KubeApi, IdentityApi). */
export interface ListWatch<R extends string> {
  list(resource: R, page?: PageRequest): Promise<KubeList>
  watch(resource: R, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle>
}

export interface InformerOptions<T, R extends string = KubeResource, C = T> {
  api: ListWatch<R>
  resource: R
  validate: Validator<T>
  log: Logger
  clock?: Clock
  /** back-off after a failed list or watch; default 500 ms doubling to 30 s */
  backoff?: BackoffOptions
  /**
   * Applied to every valid object before it is cached (client-go's SetTransform): drops what no
   * handler reads, to keep the cache small; undefined leaves the object out, as absent (not invalid).
   * Without it the object is cached as it came (C is T).
   */
  transform?: (object: T) => C | undefined
  /** objects per list request (`limit`) at most; default {@link DEFAULT_PAGE_SIZE}, as client-go (fewer when they are large: page-size.ts) */
  pageSize?: number
}

/** A listed object as a page leaves it until the last page is in: transformed, or invalid as it came. */
type Checked<C> = { ok: true; value: C | undefined } | { ok: false; object: unknown; problems: Problem[] }

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`
}

/** One resource type, cluster-wide: a validated cache (of C, what the transform keeps of each T) plus change notifications. */
export class Informer<T extends Named, R extends string = KubeResource, C extends Named = T> {
  readonly #o: InformerOptions<T, R, C> & { clock: Clock }
  readonly #objects = new Map<string, C>()
  /** key → resourceVersion of the last invalid version logged (log once per version) */
  readonly #invalid = new Map<string, string>()
  readonly #handlers: Array<ChangeHandler<C>> = []
  readonly #invalidHandlers: Array<InvalidHandler<C>> = []
  readonly #backoff: Backoff
  /** page limits, from the bytes of the pages of this resource's lists so far */
  readonly #pages: PageSizer
  #abort = new AbortController()
  #running: Promise<void> | undefined
  #watch: WatchHandle | undefined
  #rv = ''
  /** what the list under way has taken so far, for amend() */
  #listing: Map<string, Checked<C>> | undefined
  #synced = false
  #syncWaiters: Array<() => void> = []
  /** lists done so far (1 + relists), for tests and metrics */
  lists = 0

  constructor(options: InformerOptions<T, R, C>) {
    this.#o = { ...options, clock: options.clock ?? realClock }
    this.#backoff = new Backoff(options.backoff ?? { initialMs: 500, maxMs: 30_000 })
    this.#pages = new PageSizer({ maxObjects: options.pageSize ?? DEFAULT_PAGE_SIZE })
  }

  get synced(): boolean {
    return this.#synced
  }

  /** Resolves once the first list is in the cache (at once if it is); never rejects. */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve()
    return new Promise((resolve) => this.#syncWaiters.push(resolve))
  }

  onChange(handler: ChangeHandler<C>): void {
    this.#handlers.push(handler)
  }

  onInvalid(handler: InvalidHandler<C>): void {
    this.#invalidHandlers.push(handler)
  }

  get(namespace: string, name: string): C | undefined {
    return this.#objects.get(objectKey(namespace, name))
  }

  list(): C[] {
    return [...this.#objects.values()]
  }

  /**
   * An object read out of band (a GET) is cached as a watch event's would be, transformed afresh
   * (the transform may keep more of it now), when the cache holds that very resourceVersion of it;
   * any other version is left alone: the watch brings the newer one. Returns whether it was taken.
   */
  offer(object: unknown): boolean {
    const key = keyOf(object)
    const rv = resourceVersionOf(object)
    if (key === undefined || rv === undefined || this.#objects.get(key)?.metadata.resourceVersion !== rv) return false
    const current = this.#check(key, object)
    if (current === undefined) return false
    this.#set(key, current, true)
    return true
  }

  /**
   * Re-caches what is held under namespace/name as `next` makes it (less of it, when a handler
   * needs less now), and what a list under way holds of it for the cache.
   */
  amend(namespace: string, name: string, next: (cached: C) => C): void {
    const key = objectKey(namespace, name)
    const listed = this.#listing?.get(key)
    if (listed?.ok === true && listed.value !== undefined) this.#listing?.set(key, { ok: true, value: next(listed.value) })
    const cached = this.#objects.get(key)
    if (cached !== undefined) this.#set(key, next(cached), true)
  }

  start(): void {
    if (this.#running !== undefined) return
    this.#abort = new AbortController()
    this.#running = this.#run(this.#abort.signal)
  }

  async stop(): Promise<void> {
    this.#abort.abort()
    this.#watch?.stop()
    this.#watch = undefined
    const running = this.#running
    this.#running = undefined
    await running
  }

  async #run(signal: AbortSignal): Promise<void> {
    const log = this.#o.log
    while (!signal.aborted) {
      if (this.#rv === '') {
        try {
          if (!(await this.#list(signal))) return
        } catch (err) {
          log.warn({ code: 'CLOUD_KUBE_UNAVAILABLE', resource: this.#o.resource, err: (err as Error).message }, 'list failed; retrying')
          await delay(this.#o.clock, this.#backoff.next(), signal)
          continue
        }
      }
      const ending = await this.#watchOnce(signal)
      if (signal.aborted) return
      // Progress (any event) ends a run of failures; a watch that ends at once, again and again, backs off.
      if (ending.events > 0) this.#backoff.reset()
      if (ending.kind === 'gone') {
        log.info({ resource: this.#o.resource, resourceVersion: ending.from }, 'watch version expired (410); relisting')
        this.#rv = ''
      } else if (ending.kind === 'error') {
        // An ERROR event from the server relists (as client-go's reflector does); a broken connection resumes.
        log.warn({ code: 'CLOUD_KUBE_UNAVAILABLE', resource: this.#o.resource, status: ending.err?.status, err: ending.err?.message, relist: ending.relist }, 'watch failed; retrying after back-off')
        if (ending.relist) this.#rv = ''
        await delay(this.#o.clock, this.#backoff.next(), signal)
      } else if (ending.events === 0 && this.#o.clock.now() - ending.startedAt < 1000) {
        await delay(this.#o.clock, this.#backoff.next(), signal)
      }
    }
  }

  /**
   * Lists into the cache; false when aborted. In pages: each validated and transformed as it
   * arrives (only what the transform keeps waits for the last page), and the cache replaced when
   * the last page is in, so a failed page leaves it as it was and handlers see one list's
   * differences. A continue token that expired mid-list (its version compacted away while paging)
   * starts a paged list afresh, once at once, then after back-off: client-go's fallback, one list
   * without a limit, holds every object as sent at once (with 2,000 Secrets of 100 KiB, a highest
   * RSS of 1.17 GB against 289 MiB in pages of 100; docs/benchmarks.md). Its own function so no page is
   * reachable from the suspended frame of #run, which V8 keeps across later awaits.
   */
  async #list(signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const listed = new Map<string, Checked<C>>()
      this.#listing = listed
      const take = (object: unknown): void => {
        const key = keyOf(object)
        if (key !== undefined) listed.set(key, this.#validate(object))
      }
      try {
        const paged = await listPages((page) => this.#o.api.list(this.#o.resource, page), this.#pages, take, signal)
        if (paged === undefined) return false
        this.#listing = undefined
        this.lists++
        this.#replace(listed)
        this.#rv = paged.resourceVersion
        this.#o.log.debug({ resource: this.#o.resource, objects: listed.size, pages: paged.pages, bytes: paged.bytes, largestPage: paged.largestPage, resourceVersion: paged.resourceVersion }, 'listed')
        this.#markSynced()
        return true
      } catch (err) {
        if (!(err instanceof ListExpiredError) || attempt > 0) throw err
        this.#o.log.info({ resource: this.#o.resource, pages: err.pages }, 'list version expired between pages (410); listing again')
      } finally {
        this.#listing = undefined
      }
    }
  }

  #watchOnce(signal: AbortSignal): Promise<WatchEnding> {
    const from = this.#rv
    const startedAt = this.#o.clock.now()
    let events = 0
    let gone = false
    let failed: { err: KubeRequestError } | undefined
    this.#watch = undefined
    return new Promise((resolve) => {
      let finished = false
      const finish = (err?: KubeRequestError): void => {
        if (finished) return
        finished = true
        signal.removeEventListener('abort', onAbort)
        if (gone || err?.status === 410) resolve({ kind: 'gone', from, events, startedAt })
        else if (failed !== undefined) resolve({ kind: 'error', err: failed.err, relist: true, events, startedAt })
        else if (err !== undefined) resolve({ kind: 'error', err, relist: false, events, startedAt })
        else resolve({ kind: 'closed', events, startedAt })
      }
      const onAbort = (): void => finish()
      signal.addEventListener('abort', onAbort, { once: true })
      const handle = (event: WatchEvent): void => {
        if (finished || gone || failed !== undefined) return
        if (event.type !== 'ERROR') events++
        if (event.type === 'ERROR') {
          if (event.status.code === 410) gone = true
          else failed = { err: new KubeRequestError(event.status.message ?? 'watch ERROR event', event.status.code) }
          this.#watch?.stop()
          return
        }
        this.#apply(event)
      }
      this.#o.api.watch(this.#o.resource, from, { event: handle, done: finish }).then(
        (h) => {
          if (finished || gone || failed !== undefined) h.stop()
          else this.#watch = h
        },
        (err: unknown) => finish(err as KubeRequestError),
      )
    })
  }

  #apply(event: Exclude<WatchEvent, { type: 'ERROR' }>): void {
    const rv = resourceVersionOf(event.object)
    if (event.type !== 'BOOKMARK') {
      const key = keyOf(event.object)
      if (key !== undefined) {
        if (event.type === 'DELETED') {
          this.#forgetInvalid(key)
          this.#set(key, undefined)
        } else this.#set(key, this.#check(key, event.object))
      }
    }
    if (rv !== undefined && rv !== '') this.#rv = rv
  }

  /** A fresh list: everything in it is current, everything cached and not in it was deleted. */
  #replace(listed: Map<string, Checked<C>>): void {
    for (const [key, checked] of listed) this.#set(key, this.#take(key, checked))
    for (const key of [...this.#objects.keys()]) if (!listed.has(key)) this.#set(key, undefined)
    for (const key of [...this.#invalid.keys()]) if (!listed.has(key)) this.#forgetInvalid(key)
  }

  #check(key: string, object: unknown): C | undefined {
    return this.#take(key, this.#validate(object))
  }

  #validate(object: unknown): Checked<C> {
    const checked = this.#o.validate(object)
    if (!checked.ok) return { ok: false, object, problems: checked.problems }
    // without a transform the cache holds T itself (C defaults to T)
    return { ok: true, value: this.#o.transform === undefined ? (checked.value as unknown as C) : this.#o.transform(checked.value) }
  }

  /** What the cache is to hold under `key` for `checked`; an invalid version is logged once and told to onInvalid handlers. */
  #take(key: string, checked: Checked<C>): C | undefined {
    if (checked.ok) {
      this.#forgetInvalid(key)
      return checked.value
    }
    const rv = resourceVersionOf(checked.object) ?? ''
    if (this.#invalid.get(key) !== rv) {
      this.#invalid.set(key, rv)
      this.#o.log.warn({ code: 'CLOUD_OBJECT_INVALID', resource: this.#o.resource, object: key, resourceVersion: rv, problems: checked.problems }, 'invalid object from the API server; treated as absent')
    }
    this.#tellInvalid(key, checked.object, this.#objects.get(key), checked.problems)
    return undefined
  }

  #forgetInvalid(key: string): void {
    if (this.#invalid.delete(key)) this.#tellInvalid(key, undefined, undefined)
  }

  #tellInvalid(key: string, object: unknown, replaced: C | undefined, problems?: readonly Problem[]): void {
    for (const handler of this.#invalidHandlers) {
      try {
        handler(key, object, replaced, problems)
      } catch (err) {
        this.#o.log.error({ err, resource: this.#o.resource, object: key }, 'invalid-object handler threw')
      }
    }
  }

  /** `again`: the same version cached anew (offer, amend), which a watch or list never repeats. */
  #set(key: string, current: C | undefined, again = false): void {
    const old = this.#objects.get(key)
    if (old === undefined && current === undefined) return
    if (old === current) return
    if (!again && old !== undefined && current !== undefined && old.metadata.resourceVersion === current.metadata.resourceVersion && current.metadata.resourceVersion !== undefined) return
    if (current === undefined) this.#objects.delete(key)
    else this.#objects.set(key, current)
    for (const handler of this.#handlers) {
      try {
        handler(old, current)
      } catch (err) {
        this.#o.log.error({ err, resource: this.#o.resource, object: key }, 'change handler threw')
      }
    }
  }

  #markSynced(): void {
    if (this.#synced) return
    this.#synced = true
    for (const wake of this.#syncWaiters.splice(0)) wake()
  }
}

function keyOf(object: unknown): string | undefined {
  const meta = (object as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata
  if (typeof meta?.name !== 'string') return undefined
  // cluster-scoped objects (Nodes) have no namespace: their key has an empty one
  if (meta.namespace !== undefined && typeof meta.namespace !== 'string') return undefined
  return objectKey(meta.namespace ?? '', meta.name)
}

function resourceVersionOf(object: unknown): string | undefined {
  const rv = (object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion
  return typeof rv === 'string' ? rv : undefined
}

export interface DeviceInformersOptions {
  api: KubeApi
  log: Logger
  clock?: Clock
  backoff?: BackoffOptions
}

/** The two informers the cloud controllers share. */
export class DeviceInformers {
  readonly devices: Informer<Device>
  readonly models: Informer<DeviceModel>

  constructor(options: DeviceInformersOptions) {
    const common = { api: options.api, clock: options.clock, backoff: options.backoff }
    this.devices = new Informer<Device>({ ...common, resource: 'devices', validate: validator(checks.Device), log: options.log.child({ informer: 'devices' }) })
    this.models = new Informer<DeviceModel>({ ...common, resource: 'devicemodels', validate: validator(checks.DeviceModel), log: options.log.child({ informer: 'devicemodels' }) })
  }

  get synced(): boolean {
    return this.devices.synced && this.models.synced
  }

  async whenSynced(): Promise<void> {
    await Promise.all([this.models.whenSynced(), this.devices.whenSynced()])
  }

  start(): void {
    this.models.start()
    this.devices.start()
  }

  async stop(): Promise<void> {
    await Promise.all([this.devices.stop(), this.models.stop()])
  }
}
