/**
 * Downstream: Device and DeviceModel changes → the edge nodes they concern (DESIGN.md §6,
 * kubeedge-compat.md §4.1, §5.3).
 *
 * - On `attach(session)` (once the informers have synced) the node gets a `resync` with its whole
 *   device set: every Device with `spec.nodeName` = node and the DeviceModels they use. That is
 *   authoritative, so nothing is queued for offline nodes.
 * - After the resync is acknowledged, changes go out as acked `update`/`delete` requests of
 *   `<ns>/device/<name>` and `<ns>/devicemodel/<name>`. Changes that happen while the resync is in
 *   flight are collected and reconciled once it is acknowledged.
 * - Level-based: per node the controller remembers what it told the edge (resourceVersion and
 *   spec of each object) and, for every object a change touches, compares that with what the node
 *   should have. So only spec changes go out (status updates do not), a model change reaches every
 *   node with a device using it, a device whose nodeName changes is deleted from the old node and
 *   added to the new one, and a model follows its devices on and off a node.
 * - One request per node and object in flight: a newer change cancels the older request
 *   (KubeEdge's keyed queue keeps only the newest version of each object).
 */
import { isDeepStrictEqual } from 'node:util'
import type { Logger } from 'pino'
import type { Device, DeviceModel } from '../../schemas/device.js'
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
import { TernError } from '../../schemas/errors.js'
import { message, Operations, parseObjectResource, RESYNC_RESOURCE, Sources, type Envelope, type ErrorContent } from '../messages.js'
import type { Session } from '../session.js'
import { objectKey, type DeviceInformers } from './informers.js'
import { deviceResource, forEdge, modelOf, modelResource, nodeDeviceSet, orderChanges, type Change } from './node-set.js'
import { Backoff } from './timing.js'

/** `route.group` of downstream object messages (KubeEdge: group `resource`). */
export const RESOURCE_GROUP = 'resource'

export interface DownstreamOptions {
  informers: DeviceInformers
  log: Logger
  clock?: Clock
  /** first delay before a refused resync is sent again (doubles up to 30 s); default 1000 ms */
  resyncRetryMs?: number
}

export interface DownstreamMetrics {
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
  spec: unknown
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
  backoff: Backoff
}

export class Downstream {
  readonly #o: Required<DownstreamOptions>
  readonly #links = new Map<string, NodeLink>()
  /** node → device key → Device: the devices bound to each node */
  readonly #byNode = new Map<string, Map<string, Device>>()
  readonly #metrics: DownstreamMetrics = { resyncs: 0, updates: 0, deletes: 0, superseded: 0, refused: 0 }
  #subscribed = false
  #running = false

  constructor(options: DownstreamOptions) {
    this.#o = { resyncRetryMs: 1000, ...options, clock: options.clock ?? realClock }
  }

  metrics(): DownstreamMetrics {
    return { ...this.#metrics }
  }

  /** Nodes with an attached session. */
  nodes(): string[] {
    return [...this.#links.keys()]
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    if (this.#subscribed) return
    this.#subscribed = true
    for (const d of this.#o.informers.devices.list()) this.#index(undefined, d)
    this.#o.informers.devices.onChange((old, current) => this.#deviceChanged(old, current))
    this.#o.informers.models.onChange((old, current) => this.#modelChanged(old, current))
  }

  /** Forgets every node; sessions belong to CloudHub and stay open. */
  stop(): void {
    this.#running = false
    this.#links.clear()
  }

  /** Starts serving a connected node: a resync once the informers have synced, then changes. */
  async attach(session: Session): Promise<void> {
    if (!this.#running || !session.open) return
    const node = session.node
    const link: NodeLink = { session, view: new Map(), inflight: new Map(), dirty: new Set(), resyncing: true, backoff: new Backoff({ initialMs: this.#o.resyncRetryMs, maxMs: 30_000 }) }
    this.#links.set(node, link)
    session.onClose(() => {
      if (this.#links.get(node) === link) this.#links.delete(node)
    })
    await this.#o.informers.whenSynced()
    if (this.#current(link)) this.#resync(link)
  }

  #current(link: NodeLink): boolean {
    return this.#running && link.session.open && this.#links.get(link.session.node) === link
  }

  #resync(link: NodeLink): void {
    const node = link.session.node
    const models = this.#o.informers.models
    const set = nodeDeviceSet(this.#byNode.get(node)?.values() ?? [], (ns, name) => models.get(ns, name))
    link.view.clear()
    for (const d of set.devices) link.view.set(deviceResource(d), known(d))
    for (const m of set.models) link.view.set(modelResource(m.metadata.namespace, m.metadata.name), known(m))
    link.dirty.clear()
    link.resyncing = true
    const msg = message({ source: Sources.cloud, group: RESOURCE_GROUP, operation: Operations.resync, resource: RESYNC_RESOURCE }, set)
    this.#metrics.resyncs++
    this.#o.log.debug({ node, devices: set.devices.length, models: set.models.length }, 'resync sent')
    link.session.request(msg).then(
      (answer) => {
        if (!this.#current(link)) return
        if (answer.route.operation === Operations.error) {
          this.#metrics.refused++
          const wait = link.backoff.next()
          this.#o.log.warn({ node, answer: answer.content, retryMs: wait }, 'the edge refused the resync; sending it again')
          this.#o.clock.setTimeout(() => {
            if (this.#current(link)) this.#resync(link)
          }, wait)
          return
        }
        link.backoff.reset()
        link.resyncing = false
        const dirty = [...link.dirty]
        link.dirty.clear()
        this.#reconcile(link, dirty)
      },
      (err: unknown) => this.#requestFailed(node, msg, err),
    )
  }

  #deviceChanged(old: Device | undefined, current: Device | undefined): void {
    this.#index(old, current)
    if (!this.#running) return
    const touched = [old, current].filter((d): d is Device => d !== undefined)
    const resources = touched.flatMap((d) => [deviceResource(d), modelOf(d)])
    for (const node of new Set(touched.map((d) => d.spec.nodeName ?? ''))) {
      const link = this.#links.get(node)
      if (node !== '' && link !== undefined) this.#reconcile(link, resources)
    }
  }

  #modelChanged(old: DeviceModel | undefined, current: DeviceModel | undefined): void {
    if (!this.#running) return
    const model = (current ?? old) as DeviceModel
    const resource = modelResource(model.metadata.namespace, model.metadata.name)
    for (const [node, link] of this.#links) if (link.view.has(resource) || this.#usesModel(node, resource)) this.#reconcile(link, [resource])
  }

  #index(old: Device | undefined, current: Device | undefined): void {
    if (old !== undefined) this.#byNode.get(old.spec.nodeName ?? '')?.delete(objectKey(old.metadata.namespace, old.metadata.name))
    if (current === undefined || (current.spec.nodeName ?? '') === '') return
    const node = current.spec.nodeName as string
    const devices = this.#byNode.get(node) ?? new Map<string, Device>()
    this.#byNode.set(node, devices)
    devices.set(objectKey(current.metadata.namespace, current.metadata.name), current)
  }

  #usesModel(node: string, resource: string): boolean {
    for (const d of this.#byNode.get(node)?.values() ?? []) if (modelOf(d) === resource) return true
    return false
  }

  /** What `node` should have for `resource` right now. */
  #want(node: string, resource: string): Device | DeviceModel | undefined {
    const r = parseObjectResource(resource)
    if (r === undefined) return undefined
    if (r.kind === 'device') return this.#byNode.get(node)?.get(objectKey(r.namespace, r.name))
    return this.#usesModel(node, resource) ? this.#o.informers.models.get(r.namespace, r.name) : undefined
  }

  #reconcile(link: NodeLink, resources: Iterable<string>): void {
    if (link.resyncing) {
      for (const r of resources) link.dirty.add(r)
      return
    }
    const node = link.session.node
    const changes: Change[] = []
    for (const resource of new Set(resources)) {
      const kind = parseObjectResource(resource)?.kind
      if (kind === undefined) continue
      const want = this.#want(node, resource)
      const have = link.view.get(resource)
      if (want === undefined && have !== undefined) changes.push({ op: 'delete', kind, resource })
      else if (want !== undefined && (have === undefined || !isDeepStrictEqual(have.spec, want.spec))) changes.push({ op: 'update', kind, resource, object: want })
    }
    for (const change of orderChanges(changes)) this.#send(link, change)
  }

  #send(link: NodeLink, change: Change): void {
    const { resource } = change
    const r = parseObjectResource(resource) as { namespace: string; name: string }
    let msg: Envelope
    if (change.op === 'update') {
      const k = known(change.object)
      link.view.set(resource, k)
      msg = message({ source: Sources.cloud, group: RESOURCE_GROUP, operation: Operations.update, resource }, forEdge(change.object), { resourceversion: k.resourceVersion })
      this.#metrics.updates++
    } else {
      const k = link.view.get(resource)
      link.view.delete(resource)
      const metadata = { name: r.name, namespace: r.namespace, ...(k?.uid === undefined ? {} : { uid: k.uid }), ...(k === undefined ? {} : { resourceVersion: k.resourceVersion }) }
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
        if (answer.route.operation === Operations.error) {
          this.#metrics.refused++
          this.#o.log.warn({ node, resource, operation: msg.route.operation, answer: answer.content as ErrorContent }, 'the edge refused a change')
        }
      },
      (err: unknown) => {
        if (link.inflight.get(resource) === msg) link.inflight.delete(resource)
        this.#requestFailed(node, msg, err)
      },
    )
  }

  #requestFailed(node: string, msg: Envelope, err: unknown): void {
    // Superseded: a newer request replaced it. Link closed: the next connect resyncs.
    if (err instanceof TernError && (err.code === 'CLOUD_REQUEST_SUPERSEDED' || err.code === 'CLOUD_LINK_CLOSED')) return
    this.#o.log.error({ err, node, resource: msg.route.resource }, 'downstream request failed')
  }
}

function known(object: Device | DeviceModel): Known {
  return { resourceVersion: object.metadata.resourceVersion ?? '', uid: object.metadata.uid, spec: object.spec }
}
