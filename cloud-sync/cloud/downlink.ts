/**
 * The machinery of an acked, level-triggered downlink to the edge nodes (DESIGN.md §6), shared by
 * the device downlink (downstream.ts) and the workload downlink (workloads.ts); what differs —
 * which objects a node should have, what of them the edge cares about — comes in a
 * {@link DownlinkSpec}.
 *
 * - `attach(session)`: once the informers have synced, the node gets a `resync` with its whole set
 *   (authoritative, so nothing is queued for offline nodes); a refused resync is sent again after
 *   a back-off. An edge may take a resync but refuse some objects in it (its answer names them):
 *   each is handled as a refused `update` of it. Changes that happen while it is in flight are
 *   collected and reconciled once it is acknowledged.
 * - `touch(node, resources)`: level-based. Per node the downlink remembers what it told the edge
 *   (resourceVersion, uid and the part the edge cares about of each object) and, for every
 *   resource a change touches, compares that with what the node should have now; only a
 *   difference goes out, as an acked `update` or `delete` of the resource.
 * - One request per node and object in flight: a newer change cancels the older request
 *   (KubeEdge's keyed queue keeps only the newest version of each object).
 */
import { isDeepStrictEqual } from 'node:util'
import type { Logger } from 'pino'
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
import { TernError } from '../../schemas/tern-error.js'
import { message, Operations, resyncRefusals, Sources, type Envelope, type ErrorContent } from '../messages.js'
import type { Session } from '../session.js'
import { Backoff } from './timing.js'

/** `route.group` of downstream object messages (KubeEdge: group `resource`). */
export const RESOURCE_GROUP = 'resource'

/** The fields of metadata every object sent down has. */
export interface Meta {
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string }
}

export type Change<O> = { op: 'update'; resource: string; object: O } | { op: 'delete'; resource: string }

export interface DownlinkSpec<O extends Meta> {
  /** `route.resource` of the resync */
  resyncResource: string
  /** Whether the informers behind `set` and `want` have their first lists. */
  whenSynced(): Promise<void>
  /** The node's whole set: the resync content and the objects it holds, by resource. */
  set(node: string): { content: unknown; objects: ReadonlyMap<string, O> }
  /** What `node` should have for `resource` now (undefined: nothing). */
  want(node: string, resource: string): O | undefined
  /** The part of an object the edge acts on: a change of it goes out, any other change does not. */
  essence(resource: string, object: O): unknown
  /** The object as sent to the edge. */
  forEdge(resource: string, object: O): unknown
  /** Changes go out by rank, then by resource (so the edge never holds an object whose dependency it lacks). */
  rank(change: Change<O>): number
  /**
   * A resync content too large for one frame, split for an edge that announced `capabilities`: the
   * objects of `early` (resources of the set) are sent as updates and the `parts` as resyncs first,
   * each in its own frame, and the resync follows with `content` once the edge answered them all.
   * `oversize`: the resync cannot go (it is not sent; tried again after a back-off, as a refused
   * one). Without it the content goes as it is.
   */
  split?(content: unknown, capabilities: ReadonlySet<string>): { early: string[]; parts: unknown[]; content: unknown; oversize?: string }
  /**
   * The edge answered an `update` of `resource` with an error: it refused that version and changed
   * nothing. `held`: the node had acknowledged an earlier version of the same object (same uid),
   * which it still has.
   */
  refused?(node: string, resource: string, object: O, error: ErrorContent, held: boolean): void
}

export interface DownlinkOptions<O extends Meta> {
  spec: DownlinkSpec<O>
  log: Logger
  clock?: Clock
  /** first delay before a refused resync is sent again (doubles up to 30 s); default 1000 ms */
  resyncRetryMs?: number
}

export interface DownlinkMetrics {
  resyncs: number
  updates: number
  deletes: number
  /** requests cancelled because a newer change of the same object replaced them */
  superseded: number
  /** requests the edge answered with an error */
  refused: number
}

interface Known {
  resourceVersion: string
  uid: string | undefined
  essence: unknown
  /** the node answered the request that told it this version */
  acked?: boolean
}

/** One connected node: what it has been told, and what is in flight. */
interface NodeLink {
  session: Session
  /** resource → the version the node has or will have once the request in flight lands */
  view: Map<string, Known>
  inflight: Map<string, Envelope>
  /** resources touched while the resync is in flight */
  dirty: Set<string>
  resyncing: boolean
  /** the resync could not go for its size (logged once as an error) */
  tooLarge: boolean
  backoff: Backoff
  /** resolves `attach`'s promise: the first resync was answered, or the link ended */
  settled: () => void
}

export class Downlink<O extends Meta> {
  readonly #o: Required<DownlinkOptions<O>>
  readonly #links = new Map<string, NodeLink>()
  readonly #metrics: DownlinkMetrics = { resyncs: 0, updates: 0, deletes: 0, superseded: 0, refused: 0 }
  #running = false

  constructor(options: DownlinkOptions<O>) {
    this.#o = { resyncRetryMs: 1000, ...options, clock: options.clock ?? realClock }
  }

  metrics(): DownlinkMetrics {
    return { ...this.#metrics }
  }

  /** Nodes with an attached session. */
  nodes(): string[] {
    return [...this.#links.keys()]
  }

  /** Whether `node` has an attached session. */
  serves(node: string): boolean {
    return this.#links.has(node)
  }

  /** Whether `node` has been told about `resource` (or is being told). */
  holds(node: string, resource: string): boolean {
    return this.#links.get(node)?.view.has(resource) === true
  }

  start(): void {
    this.#running = true
  }

  /** Forgets every node; sessions belong to CloudHub and stay open. */
  stop(): void {
    this.#running = false
    for (const link of this.#links.values()) link.settled()
    this.#links.clear()
  }

  /**
   * Starts serving a connected node: a resync once the informers have synced, then changes.
   * Resolves once the node answered its first resync (or the link ended), so a downlink that must
   * follow this one (workloads after devices) can wait for it.
   */
  async attach(session: Session): Promise<void> {
    if (!this.#running || !session.open) return
    const node = session.node
    let settled!: () => void
    const done = new Promise<void>((resolve) => (settled = resolve))
    const link: NodeLink = { session, view: new Map(), inflight: new Map(), dirty: new Set(), resyncing: true, tooLarge: false, backoff: new Backoff({ initialMs: this.#o.resyncRetryMs, maxMs: 30_000 }), settled }
    this.#links.get(node)?.settled()
    this.#links.set(node, link)
    session.onClose(() => {
      link.settled()
      if (this.#links.get(node) === link) this.#links.delete(node)
    })
    await this.#o.spec.whenSynced()
    if (this.#current(link)) this.#resync(link)
    else link.settled()
    return done
  }

  /** Reconciles `resources` of `node`, when it is served. */
  touch(node: string, resources: Iterable<string>): void {
    if (!this.#running) return
    const link = this.#links.get(node)
    if (link !== undefined) this.#reconcile(link, resources)
  }

  #current(link: NodeLink): boolean {
    return this.#running && link.session.open && this.#links.get(link.session.node) === link
  }

  #resync(link: NodeLink): void {
    const node = link.session.node
    const spec = this.#o.spec
    const set = spec.set(node)
    link.view.clear()
    for (const [resource, object] of set.objects) link.view.set(resource, this.#known(resource, object))
    link.dirty.clear()
    link.resyncing = true
    const { early, parts, content, oversize } = spec.split?.(set.content, link.session.capabilities) ?? { early: [], parts: [], content: set.content }
    if (oversize !== undefined) return this.#retryResync(link, 'CLOUD_RESYNC_TOO_LARGE', oversize)
    if (early.length === 0 && parts.length === 0) return this.#sendResync(link, content, set.objects)
    const updates = early.map((resource) => {
      const object = set.objects.get(resource) as O
      this.#metrics.updates++
      return link.session.request(message({ source: Sources.cloud, group: RESOURCE_GROUP, operation: Operations.update, resource }, spec.forEdge(resource, object), { resourceversion: object.metadata.resourceVersion ?? '' }))
    })
    this.#o.log.debug({ node, resource: spec.resyncResource, early: early.length, parts: parts.length + 1 }, 'resync too large for one frame: sent in several')
    Promise.all([Promise.all(updates), this.#sendParts(link, parts)]).then(
      ([answers, refusedPart]) => {
        if (!this.#current(link)) return
        const refused = answers.filter((a) => a.route.operation === Operations.error)
        this.#metrics.refused += refused.length
        for (const answer of refused) this.#o.log.warn({ node, resource: answer.route.resource, answer: answer.content as ErrorContent }, 'the edge refused an object sent ahead of its resync')
        if (refusedPart !== undefined) {
          this.#metrics.refused++
          return this.#retryResync(link, 'CLOUD_MESSAGE_INVALID', refusedPart.content)
        }
        this.#sendResync(link, content, set.objects)
      },
      (err: unknown) => {
        link.settled()
        if (!(err instanceof TernError && (err.code === 'CLOUD_REQUEST_SUPERSEDED' || err.code === 'CLOUD_LINK_CLOSED'))) this.#o.log.error({ err, node }, 'sending objects ahead of a resync failed')
      },
    )
  }

  /**
   * The parts of a resync before its last, one at a time (each is up to half a frame: one in
   * flight holds the node's link and tern cloud's memory to one); resolves with the edge's refusal
   * of one, which ends them.
   */
  async #sendParts(link: NodeLink, parts: unknown[]): Promise<Envelope | undefined> {
    for (const part of parts) {
      if (!this.#current(link)) return undefined
      const answer = await link.session.request(message({ source: Sources.cloud, group: RESOURCE_GROUP, operation: Operations.resync, resource: this.#o.spec.resyncResource }, part))
      if (answer.route.operation === Operations.error) return answer
    }
    return undefined
  }

  /** The resync could not go (`code`), or the edge refused it (`answer`): sent again after a back-off. */
  #retryResync(link: NodeLink, code: 'CLOUD_RESYNC_TOO_LARGE' | 'CLOUD_MESSAGE_INVALID', answer: unknown): void {
    const node = link.session.node
    const resource = this.#o.spec.resyncResource
    link.settled()
    const wait = link.backoff.next()
    if (code === 'CLOUD_RESYNC_TOO_LARGE') {
      const level = link.tooLarge ? 'debug' : 'error'
      link.tooLarge = true
      this.#o.log[level]({ code, node, resource, reason: answer, retryMs: wait }, 'the resync cannot be sent to the node; it keeps what it holds and gets no changes of these objects meanwhile')
    } else this.#o.log.warn({ node, resource, answer, retryMs: wait }, 'the edge refused the resync; sending it again')
    this.#o.clock.setTimeout(() => {
      if (this.#current(link)) this.#resync(link)
    }, wait)
  }

  #sendResync(link: NodeLink, content: unknown, objects: ReadonlyMap<string, O>): void {
    const node = link.session.node
    const spec = this.#o.spec
    const msg = message({ source: Sources.cloud, group: RESOURCE_GROUP, operation: Operations.resync, resource: spec.resyncResource }, content)
    this.#metrics.resyncs++
    this.#o.log.debug({ node, resource: spec.resyncResource, objects: objects.size }, 'resync sent')
    link.session.request(msg).then(
      (answer) => {
        if (!this.#current(link)) return
        if (answer.route.operation === Operations.error) {
          this.#metrics.refused++
          return this.#retryResync(link, 'CLOUD_MESSAGE_INVALID', answer.content)
        }
        link.settled()
        link.backoff.reset()
        link.resyncing = false
        for (const known of link.view.values()) known.acked = true
        this.#refusedInResync(link, objects, answer.content)
        const dirty = [...link.dirty]
        link.dirty.clear()
        this.#reconcile(link, dirty)
      },
      (err: unknown) => {
        link.settled()
        this.#requestFailed(node, msg, err)
      },
    )
  }

  /**
   * The objects of an acknowledged resync the edge refused (it applied the others), handled as a
   * refused `update` of each: what the node holds of one is what it held before (`held`), so its
   * view keeps the version sent, unacknowledged unless the node kept an earlier one, and a later
   * change (or the object's end) still goes out.
   */
  #refusedInResync(link: NodeLink, objects: ReadonlyMap<string, O>, content: unknown): void {
    const node = link.session.node
    for (const { resource, held, ...error } of resyncRefusals(content)) {
      const object = objects.get(resource)
      const known = link.view.get(resource)
      if (object === undefined || known === undefined) continue
      known.acked = held
      this.#metrics.refused++
      this.#o.log.warn({ node, resource, operation: Operations.resync, answer: error, held }, 'the edge refused a change')
      this.#o.spec.refused?.(node, resource, object, error, held)
    }
  }

  #reconcile(link: NodeLink, resources: Iterable<string>): void {
    if (link.resyncing) {
      for (const r of resources) link.dirty.add(r)
      return
    }
    const { spec } = this.#o
    const node = link.session.node
    const changes: Array<Change<O>> = []
    for (const resource of new Set(resources)) {
      const want = spec.want(node, resource)
      const have = link.view.get(resource)
      if (want === undefined && have !== undefined) changes.push({ op: 'delete', resource })
      else if (want !== undefined && (have === undefined || have.uid !== want.metadata.uid || !isDeepStrictEqual(have.essence, spec.essence(resource, want)))) changes.push({ op: 'update', resource, object: want })
    }
    changes.sort((a, b) => spec.rank(a) - spec.rank(b) || (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0))
    for (const change of changes) this.#send(link, change)
  }

  #send(link: NodeLink, change: Change<O>): void {
    const { resource } = change
    let msg: Envelope
    const before = link.view.get(resource)
    let sent: Known | undefined
    if (change.op === 'update') {
      const k = this.#known(resource, change.object)
      sent = k
      link.view.set(resource, k)
      msg = message({ source: Sources.cloud, group: RESOURCE_GROUP, operation: Operations.update, resource }, this.#o.spec.forEdge(resource, change.object), { resourceversion: k.resourceVersion })
      this.#metrics.updates++
    } else {
      const k = link.view.get(resource)
      link.view.delete(resource)
      const [namespace, , name] = resource.split('/')
      const metadata = { name, namespace, ...(k?.uid === undefined ? {} : { uid: k.uid }), ...(k === undefined ? {} : { resourceVersion: k.resourceVersion }) }
      msg = message({ source: Sources.cloud, group: RESOURCE_GROUP, operation: Operations.delete, resource }, { metadata }, k === undefined ? {} : { resourceversion: k.resourceVersion })
      this.#metrics.deletes++
    }
    const older = link.inflight.get(resource)
    if (older !== undefined) {
      this.#metrics.superseded++
      link.session.cancel(older)
    }
    link.inflight.set(resource, msg)
    const node = link.session.node
    link.session.request(msg).then(
      (answer) => {
        if (link.inflight.get(resource) === msg) link.inflight.delete(resource)
        if (answer.route.operation !== Operations.error) {
          if (sent !== undefined) sent.acked = true
          return
        }
        this.#metrics.refused++
        const error = errorOf(answer.content)
        this.#o.log.warn({ node, resource, operation: msg.route.operation, answer: error }, 'the edge refused a change')
        if (change.op === 'update' && this.#current(link)) this.#o.spec.refused?.(node, resource, change.object, error, before?.acked === true && before.uid === sent?.uid)
      },
      (err: unknown) => {
        if (link.inflight.get(resource) === msg) link.inflight.delete(resource)
        this.#requestFailed(node, msg, err)
      },
    )
  }

  #known(resource: string, object: O): Known {
    return { resourceVersion: object.metadata.resourceVersion ?? '', uid: object.metadata.uid, essence: this.#o.spec.essence(resource, object) }
  }

  #requestFailed(node: string, msg: Envelope, err: unknown): void {
    // Superseded: a newer request replaced it. Link closed: the next connect resyncs.
    if (err instanceof TernError && (err.code === 'CLOUD_REQUEST_SUPERSEDED' || err.code === 'CLOUD_LINK_CLOSED')) return
    this.#o.log.error({ err, node, resource: msg.route.resource }, 'downstream request failed')
  }
}

/** An error answer's content, read defensively (an older or another edge may answer anything). */
function errorOf(content: unknown): ErrorContent {
  const { code, reason } = (content ?? {}) as { code?: unknown; reason?: unknown }
  return { code: typeof code === 'string' ? code : 'unknown', reason: typeof reason === 'string' ? reason : JSON.stringify(content) ?? '' }
}
