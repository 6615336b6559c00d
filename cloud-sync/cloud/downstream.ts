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
 *
 * The acked, level-based machinery is downlink.ts's; this file says what a node's device set is.
 */
import type { Logger } from 'pino'
import type { Device, DeviceModel } from '../../schemas/device.js'
import type { Clock } from '../../mappers/runtime/clock.js'
import { parseObjectResource, RESYNC_RESOURCE } from '../messages.js'
import type { Session } from '../session.js'
import { Downlink, type DownlinkMetrics } from './downlink.js'
import { objectKey, type DeviceInformers } from './informers.js'
import { deviceResource, forEdge, modelOf, modelResource, nodeDeviceSet, rankChange } from './node-set.js'

export { RESOURCE_GROUP } from './downlink.js'

export interface DownstreamOptions {
  informers: DeviceInformers
  log: Logger
  clock?: Clock
  /** first delay before a refused resync is sent again (doubles up to 30 s); default 1000 ms */
  resyncRetryMs?: number
}

export type DownstreamMetrics = DownlinkMetrics

export class Downstream {
  readonly #o: DownstreamOptions
  readonly #link: Downlink<Device | DeviceModel>
  /** node → device key → Device: the devices bound to each node */
  readonly #byNode = new Map<string, Map<string, Device>>()
  #subscribed = false
  #running = false

  constructor(options: DownstreamOptions) {
    this.#o = options
    const models = options.informers.models
    this.#link = new Downlink<Device | DeviceModel>({
      spec: {
        resyncResource: RESYNC_RESOURCE,
        whenSynced: () => options.informers.whenSynced(),
        set: (node) => {
          const set = nodeDeviceSet(this.#byNode.get(node)?.values() ?? [], (ns, name) => models.get(ns, name))
          const objects = new Map<string, Device | DeviceModel>()
          for (const d of set.devices) objects.set(deviceResource(d), d)
          for (const m of set.models) objects.set(modelResource(m.metadata.namespace, m.metadata.name), m)
          return { content: set, objects }
        },
        want: (node, resource) => this.#want(node, resource),
        essence: (_resource, object) => object.spec,
        forEdge: (_resource, object) => forEdge(object),
        rank: rankChange,
      },
      log: options.log,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.resyncRetryMs === undefined ? {} : { resyncRetryMs: options.resyncRetryMs }),
    })
  }

  metrics(): DownstreamMetrics {
    return this.#link.metrics()
  }

  /** Nodes with an attached session. */
  nodes(): string[] {
    return this.#link.nodes()
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#link.start()
    if (this.#subscribed) return
    this.#subscribed = true
    for (const d of this.#o.informers.devices.list()) this.#index(undefined, d)
    this.#o.informers.devices.onChange((old, current) => this.#deviceChanged(old, current))
    this.#o.informers.models.onChange((old, current) => this.#modelChanged(old, current))
  }

  /** Forgets every node; sessions belong to CloudHub and stay open. */
  stop(): void {
    this.#running = false
    this.#link.stop()
  }

  /** Starts serving a connected node; resolves once it answered its first resync (or the link ended). */
  attach(session: Session): Promise<void> {
    return this.#link.attach(session)
  }

  #deviceChanged(old: Device | undefined, current: Device | undefined): void {
    this.#index(old, current)
    if (!this.#running) return
    const touched = [old, current].filter((d): d is Device => d !== undefined)
    const resources = touched.flatMap((d) => [deviceResource(d), modelOf(d)])
    for (const node of new Set(touched.map((d) => d.spec.nodeName ?? ''))) if (node !== '') this.#link.touch(node, resources)
  }

  #modelChanged(old: DeviceModel | undefined, current: DeviceModel | undefined): void {
    if (!this.#running) return
    const model = (current ?? old) as DeviceModel
    const resource = modelResource(model.metadata.namespace, model.metadata.name)
    for (const node of this.#link.nodes()) if (this.#link.holds(node, resource) || this.#usesModel(node, resource)) this.#link.touch(node, [resource])
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
}
