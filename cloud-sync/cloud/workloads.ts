/**
 * Workloads down (DESIGN.md §7, kubeedge-compat.md §5.3): the pods bound to each connected edge
 * node (`spec.nodeName`) and the ConfigMaps and Secrets those pods reference — no others — sent
 * with the device downlink's acked, level-triggered protocol (downlink.ts): a `resync` of resource
 * `pods` after the node answered its devices' resync, then `update`/`delete` of `<ns>/pod/<name>`,
 * `<ns>/configmap/<name>` and `<ns>/secret/<name>`.
 *
 * One informer per resource for the whole cluster, not a watch per node: a node's pods are found
 * in an index by `spec.nodeName`, and its ConfigMaps and Secrets by reference counts (resource →
 * node → number of its pods referencing it), so a change reaches exactly the nodes that use the
 * object, and an object no pod of a node references any more is deleted there. The pod cache
 * keeps bound pods only, without status (the edge writes status; its patches must not echo down).
 * ConfigMaps and Secrets are held whole only while referenced (referenced-objects.ts): the pod
 * informer syncs first so their lists meet the references already counted, and a pod whose
 * newly referenced object is still being read is held back until it is there (or gone), so the
 * edge never gets the pod before what it uses. A pod whose status says no node can be sent it
 * (Failed, PodUnsendable: unsent-pods.ts) is invalid to the pod informer, so never sent; the pods a
 * node refuses are handed to `onRefused` handlers.
 */
import type { Logger } from 'pino'
import type { Clock } from '../../mappers/runtime/clock.js'
import * as checks from '../../schemas/generated/validators.js'
import { POD_MAX_BYTES } from '../../schemas/cloud-link-limits.js'
import { validator, type Validation } from '../../schemas/validate.js'
import type { CloudPod, ConfigMap, Secret } from '../../schemas/workloads.js'
import { Capabilities } from '../link/protocol.js'
import { parseWorkloadResource, WORKLOAD_RESYNC_RESOURCE, workloadResource, type NodeWorkloadSet } from '../messages.js'
import type { Session } from '../session.js'
import { Downlink, type DownlinkMetrics } from './downlink.js'
import { Informer } from './informers.js'
import { isStub, ReferencedObjects, type Held } from './referenced-objects.js'
import type { BackoffOptions } from './timing.js'
import { isUnsendable, UNSENDABLE_REASON, type RefusedHandler } from './unsent-pods.js'
import type { WorkloadApi, WorkloadResource } from './workload-api.js'
import { cachedPod, essence, forEdge, nodeWorkloadSet, podReferences, rankWorkloadChange, sendable, splitResync, type WorkloadObject } from './workload-set.js'

export interface WorkloadsOptions {
  api: WorkloadApi
  log: Logger
  clock?: Clock
  /** informer list/watch back-off (default 500 ms doubling to 30 s) */
  backoff?: BackoffOptions
  resyncRetryMs?: number
}

export class Workloads {
  readonly pods: Informer<CloudPod, WorkloadResource>
  readonly configMaps: ReferencedObjects<ConfigMap>
  readonly secrets: ReferencedObjects<Secret>
  readonly #link: Downlink<WorkloadObject>
  /** node → pod resource → pod */
  readonly #byNode = new Map<string, Map<string, CloudPod>>()
  /** ConfigMap or Secret resource → node → how many of its pods reference it */
  readonly #refs = new Map<string, Map<string, number>>()
  readonly #refusedHandlers: RefusedHandler[] = []
  #subscribed = false
  #started = false

  constructor(options: WorkloadsOptions) {
    const common = { api: options.api, clock: options.clock, backoff: options.backoff }
    const log = options.log
    this.pods = new Informer<CloudPod, WorkloadResource>({ ...common, resource: 'pods', validate: checkPod, transform: cachedPod, log: log.child({ informer: 'pods' }) })
    const inUse = (kind: 'configmap' | 'secret') => (namespace: string, name: string) => this.#refs.has(workloadResource(kind, namespace, name))
    this.configMaps = new ReferencedObjects<ConfigMap>({ ...common, resource: 'configmaps', validate: sendable('configmap', validator(checks.ConfigMap)), inUse: inUse('configmap'), log: log.child({ informer: 'configmaps' }) })
    this.secrets = new ReferencedObjects<Secret>({ ...common, resource: 'secrets', validate: sendable('secret', validator(checks.Secret)), inUse: inUse('secret'), log: log.child({ informer: 'secrets' }) })
    this.#link = new Downlink<WorkloadObject>({
      spec: {
        resyncResource: WORKLOAD_RESYNC_RESOURCE,
        whenSynced: () => this.whenSynced(),
        set: (node) => {
          const objects = new Map<string, WorkloadObject>()
          for (const [resource, pod] of this.#byNode.get(node) ?? []) {
            if (this.#held(pod)) continue
            objects.set(resource, pod)
            for (const ref of podReferences(pod)) {
              const object = this.#object(ref)
              if (object !== undefined) objects.set(ref, object)
            }
          }
          return { content: nodeWorkloadSet(objects), objects }
        },
        want: (node, resource) => this.#want(node, resource),
        essence,
        forEdge: (resource, object) => forEdge(parseWorkloadResource(resource)?.kind ?? 'pod', object),
        rank: rankWorkloadChange,
        split: (content, capabilities) => splitResync(content as NodeWorkloadSet, { parts: capabilities.has(Capabilities.workloadResyncParts) }),
        refused: (node, resource, object, error, held) => {
          if (parseWorkloadResource(resource)?.kind !== 'pod') return
          for (const handler of this.#refusedHandlers) handler(node, object, error, held)
        },
      },
      log: log.child({ controller: 'workloads' }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.resyncRetryMs === undefined ? {} : { resyncRetryMs: options.resyncRetryMs }),
    })
  }

  metrics(): DownlinkMetrics {
    return this.#link.metrics()
  }

  async whenSynced(): Promise<void> {
    await Promise.all([this.pods.whenSynced(), this.configMaps.whenSynced(), this.secrets.whenSynced()])
  }

  start(): void {
    this.#link.start()
    if (!this.#subscribed) {
      this.#subscribed = true
      this.pods.onChange((old, current) => this.#podChanged(old, current))
      this.configMaps.onChange((old, current) => this.#referencedChanged(old, current, 'configmap'))
      this.secrets.onChange((old, current) => this.#referencedChanged(old, current, 'secret'))
    }
    this.#started = true
    this.pods.start()
    // Their first lists keep whole what the pods reference: no read per referenced object at start.
    void this.pods.whenSynced().then(() => {
      if (!this.#started) return
      this.configMaps.start()
      this.secrets.start()
    })
  }

  async stop(): Promise<void> {
    this.#started = false
    this.#link.stop()
    await Promise.all([this.pods.stop(), this.configMaps.stop(), this.secrets.stop()])
  }

  /** Told of every version of a pod a node refused (its answer to the `update`). */
  onRefused(handler: RefusedHandler): void {
    this.#refusedHandlers.push(handler)
  }

  /** Serves a connected node; call after its devices' resync was answered. */
  attach(session: Session): Promise<void> {
    return this.#link.attach(session)
  }

  /** The pod bound to `node` named so, if any (for reports about pods). */
  boundPod(node: string, namespace: string, name: string): CloudPod | undefined {
    return this.#byNode.get(node)?.get(workloadResource('pod', namespace, name))
  }

  #podChanged(old: CloudPod | undefined, current: CloudPod | undefined): void {
    const touched = new Map<string, Set<string>>()
    const touch = (pod: CloudPod): void => {
      const node = pod.spec.nodeName ?? ''
      const resources = touched.get(node) ?? new Set<string>()
      touched.set(node, resources)
      resources.add(podResource(pod))
      for (const ref of podReferences(pod)) resources.add(ref)
    }
    // The new version is counted before the old one is let go: a reference both hold never drops to
    // none, which would make the object a stub (its data forgotten) and read it again, holding the
    // pod back meanwhile, so that every status report of a pod took it and what it uses off its node.
    if (current !== undefined) {
      touch(current)
      this.#index(current, +1)
    }
    if (old !== undefined) {
      touch(old)
      this.#index(old, -1)
    }
    for (const [node, resources] of touched) this.#link.touch(node, resources)
  }

  #referencedChanged(old: Held<ConfigMap | Secret> | undefined, current: Held<ConfigMap | Secret> | undefined, kind: 'configmap' | 'secret'): void {
    const object = old ?? current
    if (object === undefined) return
    const resource = workloadResource(kind, object.metadata.namespace, object.metadata.name)
    // A stub that became whole or went: the pods held back for it go out now, with all they use (before them, by rank).
    const waited = isStub(old) && !isStub(current)
    for (const node of this.#refs.get(resource)?.keys() ?? []) {
      const resources = new Set([resource])
      if (waited) {
        for (const [podResource, pod] of this.#byNode.get(node) ?? []) {
          const refs = podReferences(pod)
          if (!refs.has(resource)) continue
          resources.add(podResource)
          for (const ref of refs) resources.add(ref)
        }
      }
      this.#link.touch(node, resources)
    }
  }

  /** Whether some object the pod references is still being read (the pod waits for it). */
  #held(pod: CloudPod): boolean {
    for (const ref of podReferences(pod)) {
      const r = parseWorkloadResource(ref)
      if (r === undefined) continue
      if ((r.kind === 'configmap' ? this.configMaps : this.secrets).pending(r.namespace, r.name)) return true
    }
    return false
  }

  /** Adds (+1) or removes (-1) a pod from the node index and its references from the counts. */
  #index(pod: CloudPod, delta: 1 | -1): void {
    const node = pod.spec.nodeName ?? ''
    const resource = podResource(pod)
    const pods = this.#byNode.get(node) ?? new Map<string, CloudPod>()
    if (delta > 0) {
      pods.set(resource, pod)
      this.#byNode.set(node, pods)
    } else {
      // the version that replaced it is already indexed under the same name
      if (pods.get(resource) === pod) pods.delete(resource)
      if (pods.size === 0) this.#byNode.delete(node)
    }
    for (const ref of podReferences(pod)) {
      const known = this.#refs.get(ref)
      const nodes = known ?? new Map<string, number>()
      const count = (nodes.get(node) ?? 0) + delta
      if (count > 0) nodes.set(node, count)
      else nodes.delete(node)
      if (nodes.size > 0) this.#refs.set(ref, nodes)
      else this.#refs.delete(ref)
      if (known === undefined && nodes.size > 0) this.#referenced(ref, 'use')
      else if (known !== undefined && nodes.size === 0) this.#referenced(ref, 'release')
    }
  }

  /** The first reference to a ConfigMap or Secret appeared, or the last one went. */
  #referenced(ref: string, change: 'use' | 'release'): void {
    const r = parseWorkloadResource(ref)
    if (r === undefined || r.kind === 'pod') return
    const objects = r.kind === 'configmap' ? this.configMaps : this.secrets
    objects[change](r.namespace, r.name)
  }

  #want(node: string, resource: string): WorkloadObject | undefined {
    const kind = parseWorkloadResource(resource)?.kind
    if (kind === undefined) return undefined
    if (kind === 'pod') {
      const pod = this.#byNode.get(node)?.get(resource)
      return pod === undefined || this.#held(pod) ? undefined : pod
    }
    return (this.#refs.get(resource)?.get(node) ?? 0) > 0 ? this.#object(resource) : undefined
  }

  #object(resource: string): ConfigMap | Secret | undefined {
    const r = parseWorkloadResource(resource)
    if (r === undefined) return undefined
    if (r.kind === 'configmap') return this.configMaps.get(r.namespace, r.name)
    if (r.kind === 'secret') return this.secrets.get(r.namespace, r.name)
    return undefined
  }
}

const checkCloudPod = sendable('pod', validator(checks.CloudPod))

/** The pod informer's check: the schema, the link's nesting, the size a node is sent, and no node can be sent a pod that is Failed as unsendable. */
function checkPod(doc: unknown): Validation<CloudPod> {
  const checked = checkCloudPod(doc)
  if (!checked.ok) return checked
  const sent = cachedPod(checked.value)
  const bytes = sent === undefined ? 0 : Buffer.byteLength(JSON.stringify(sent))
  if (bytes > POD_MAX_BYTES) return { ok: false, problems: [{ path: '/', message: `is ${bytes} bytes of JSON, more than the ${POD_MAX_BYTES} a node is sent` }] }
  if (!isUnsendable(doc)) return checked
  return { ok: false, problems: [{ path: '/status/reason', message: `is ${UNSENDABLE_REASON}: no node could be sent the pod, and a Failed pod stays Failed` }] }
}

function podResource(pod: CloudPod): string {
  return workloadResource('pod', pod.metadata.namespace, pod.metadata.name)
}
