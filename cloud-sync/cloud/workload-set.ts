/**
 * Pure helpers of the workload downlink: which ConfigMaps and Secrets a pod references (the
 * kubelet's podutil.VisitPodConfigmapNames / VisitPodSecretNames: volumes, env valueFrom,
 * envFrom and imagePullSecrets, in every container and init container), what of each object the
 * edge acts on, the object as sent, and the order changes go out in.
 */
import { randomUUID } from 'node:crypto'
import { MAX_NESTING } from '../../schemas/cloud-link-limits.js'
import type { Validator } from '../../schemas/validate.js'
import type { CloudPod, ConfigMap, Secret } from '../../schemas/workloads.js'
import { nestedDeeperThan } from '../json-depth.js'
import { Capabilities, DEFAULT_MAX_PAYLOAD } from '../link/protocol.js'
import { parseWorkloadResource, workloadResource, type NodeWorkloadSet, type WorkloadKind } from '../messages.js'
import type { Change } from './downlink.js'

export type WorkloadObject = CloudPod | ConfigMap | Secret

/** A pod's references as edge resources: `<ns>/configmap/<name>` and `<ns>/secret/<name>`. */
export function podReferences(pod: CloudPod): Set<string> {
  const ns = pod.metadata.namespace
  const refs = new Set<string>()
  const add = (kind: 'configmap' | 'secret', name: unknown): void => {
    if (typeof name === 'string' && name !== '') refs.add(workloadResource(kind, ns, name))
  }
  const spec = pod.spec as {
    volumes?: unknown
    containers?: unknown
    initContainers?: unknown
    imagePullSecrets?: unknown
  }
  for (const v of records(spec.volumes)) {
    add('configmap', record(v.configMap).name)
    add('secret', record(v.secret).secretName)
    for (const p of records(record(v.projected).sources)) {
      add('configmap', record(p.configMap).name)
      add('secret', record(p.secret).name)
    }
  }
  for (const c of [...records(spec.containers), ...records(spec.initContainers)]) {
    for (const from of records(c.envFrom)) {
      add('configmap', record(from.configMapRef).name)
      add('secret', record(from.secretRef).name)
    }
    for (const env of records(c.env)) {
      const valueFrom = record(env.valueFrom)
      add('configmap', record(valueFrom.configMapKeyRef).name)
      add('secret', record(valueFrom.secretKeyRef).name)
    }
  }
  for (const s of records(spec.imagePullSecrets)) add('secret', s.name)
  return refs
}

/** What of an object the edge acts on: a change of anything else (status, managedFields) does not go out. */
export function essence(resource: string, object: WorkloadObject): unknown {
  const kind = parseWorkloadResource(resource)?.kind
  if (kind === 'pod') {
    const { labels, annotations, deletionTimestamp, deletionGracePeriodSeconds } = (object as CloudPod).metadata
    return { labels, annotations, deletionTimestamp, deletionGracePeriodSeconds, spec: (object as CloudPod).spec }
  }
  if (kind === 'configmap') return { data: (object as ConfigMap).data, binaryData: (object as ConfigMap).binaryData }
  return { data: (object as Secret).data, type: (object as Secret).type }
}

const KINDS: Record<WorkloadKind, string> = { pod: 'Pod', configmap: 'ConfigMap', secret: 'Secret' }

/**
 * The edge's copies of cached objects and their bytes of JSON, made once per object: the cache
 * replaces an object that changes, never edits it, so a node's next resync (a reconnect) reuses
 * them. Measuring a node's 23 MiB of pods took 0.3–0.6 s of the event loop at every resync.
 */
const edgeForms = new WeakMap<WorkloadObject, WorkloadObject>()
const sizes = new WeakMap<WorkloadObject, number>()

/**
 * The object as the edge gets it: apiVersion and kind set (list items lack them), without status
 * and apply bookkeeping. The same copy for the same object: never to be edited.
 */
export function forEdge(kind: WorkloadKind, object: WorkloadObject): WorkloadObject {
  let form = edgeForms.get(object)
  if (form === undefined) {
    const { status: _status, ...rest } = object as WorkloadObject & { status?: unknown }
    form = { ...rest, apiVersion: 'v1', kind: KINDS[kind], metadata: leanMetadata(object.metadata) }
    edgeForms.set(object, form)
  }
  return form
}

type ObjectMeta = ConfigMap['metadata']

/** `kubectl apply`'s copy of the whole object as last applied: kept by neither the cache nor the edge. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

/**
 * Metadata without managedFields and the last-applied annotation: server-side and client-side
 * apply bookkeeping that repeats the object (a 100 KB Secret applied with kubectl is 200 KB with
 * its annotation), which no handler and no edge reads.
 */
export function leanMetadata(metadata: ObjectMeta): ObjectMeta {
  const { managedFields: _managed, ...rest } = metadata
  if (rest.annotations === undefined || !(LAST_APPLIED in rest.annotations)) return rest
  const { [LAST_APPLIED]: _applied, ...annotations } = rest.annotations
  const { annotations: _all, ...without } = rest
  return Object.keys(annotations).length === 0 ? without : { ...without, annotations }
}

/**
 * The levels a frame adds above an object of a workload resync: the envelope, its content and the
 * content's list (an update adds one, the envelope).
 */
const RESYNC_LEVELS = 3

/** The deepest an object as sent (forEdge) may nest for an edge to take the resync carrying it. */
export const OBJECT_NESTING_MAX = MAX_NESTING - RESYNC_LEVELS

/**
 * `check`, and no object a node's link would refuse: nesting deeper than {@link OBJECT_NESTING_MAX}
 * as sent (the schemas keep a pod's spec and unknown fields whole; a real API server prunes unknown
 * fields, but not every server does). The edge refuses such a frame on arrival, whole: one such
 * pod in a node's resync would cost the node all its pods.
 */
export function sendable<T extends WorkloadObject>(kind: WorkloadKind, check: Validator<T>): Validator<T> {
  return (doc) => {
    const checked = check(doc)
    if (!checked.ok || !nestedDeeperThan(forEdge(kind, checked.value), OBJECT_NESTING_MAX)) return checked
    return { ok: false, problems: [{ path: '/', message: `nests arrays and objects deeper than ${OBJECT_NESTING_MAX} levels: no edge node takes it (the link's frames nest at most ${MAX_NESTING})` }] }
  }
}

/**
 * What the pod informer caches: bound pods only, without apply bookkeeping, and of the status only
 * podIPs and hostIPs (which the status patch replaces when they changed: replace-list.ts).
 */
export function cachedPod(pod: CloudPod): CloudPod | undefined {
  if ((pod.spec.nodeName ?? '') === '') return undefined
  const { status, ...rest } = pod
  const { podIPs, hostIPs } = (status ?? {}) as { podIPs?: unknown; hostIPs?: unknown }
  const kept = { ...(podIPs === undefined ? {} : { podIPs }), ...(hostIPs === undefined ? {} : { hostIPs }) }
  return { ...rest, metadata: leanMetadata(pod.metadata), ...(Object.keys(kept).length === 0 ? {} : { status: kept }) }
}

/** The resync content: the node's pods and the objects they reference, each in resource order. */
export function nodeWorkloadSet(objects: ReadonlyMap<string, WorkloadObject>): NodeWorkloadSet {
  const set: NodeWorkloadSet = { pods: [], configmaps: [], secrets: [] }
  for (const resource of [...objects.keys()].sort()) {
    const kind = parseWorkloadResource(resource)?.kind
    const object = objects.get(resource) as WorkloadObject
    if (kind === 'pod') set.pods.push(forEdge(kind, object) as CloudPod)
    else if (kind === 'configmap') set.configmaps.push(forEdge(kind, object))
    else if (kind === 'secret') set.secrets.push(forEdge(kind, object))
  }
  return set
}

/**
 * The most of a workload resync's content sent in its own frame, bytes as JSON: half of the link's
 * 16 MiB frame (protocol.ts), so a node's set fits whatever else the frame carries. The API server
 * takes up to ~1.5 MiB per object, so a few pods' large ConfigMaps or Secrets already exceed it.
 */
export const RESYNC_CONTENT_MAX_BYTES = 8 * 1024 * 1024

/** The most of a resync's content one frame carries: the link's frame less room for the envelope. */
export const FRAME_CONTENT_MAX_BYTES = DEFAULT_MAX_PAYLOAD - 4096

/** How a resync goes: in one frame, or after objects or parts sent ahead of it. */
export interface ResyncSplit {
  /** ConfigMaps and Secrets sent as updates before the resync (to an edge that takes no parts) */
  early: string[]
  /** the parts before the last, each in its own frame (to an edge that takes parts) */
  parts: NodeWorkloadSet[]
  /** the resync's content: the whole set, the set less `early`, or the last part */
  content: NodeWorkloadSet
  /** why the resync cannot go at all: a frame would be larger than the link carries */
  oversize?: string
}

/**
 * A resync whose content is larger than `maxBytes`, split. To an edge that takes parts (`parts`)
 * the set goes in parts of at most `maxBytes` each (an object larger than that alone), the edge
 * applying them together once the last one arrived. To another, the largest ConfigMaps and
 * Secrets go `early` (sent as updates before the resync, each in its own frame) until the rest
 * fits, and the content names them in `kept`; its pods always go in the resync, so a set whose
 * pods alone pass a frame cannot go (`oversize`).
 */
export function splitResync(set: NodeWorkloadSet, options: { parts: boolean; maxBytes?: number; frameBytes?: number }): ResyncSplit {
  const { maxBytes = RESYNC_CONTENT_MAX_BYTES, frameBytes = FRAME_CONTENT_MAX_BYTES } = options
  // each object's JSON once (a node's set may be tens of MiB: no copy of it as one string)
  const sized = (list: 'pods' | 'configmaps' | 'secrets'): Array<{ object: WorkloadObject; bytes: number }> => set[list].map((object) => ({ object, bytes: jsonBytes(object) }))
  const lists = { configmaps: sized('configmaps'), secrets: sized('secrets'), pods: sized('pods') }
  let size = SET_FRAME_BYTES + [...lists.configmaps, ...lists.secrets, ...lists.pods].reduce((sum, o) => sum + o.bytes + 1, 0)
  if (size <= maxBytes) return { early: [], parts: [], content: set }
  if (options.parts) return inParts(lists, maxBytes, frameBytes)
  const named = (kind: 'configmap' | 'secret') => (o: { object: WorkloadObject; bytes: number }) => ({ resource: workloadResource(kind, o.object.metadata.namespace, o.object.metadata.name), bytes: o.bytes })
  const objects = [...lists.configmaps.map(named('configmap')), ...lists.secrets.map(named('secret'))].sort((a, b) => b.bytes - a.bytes || (a.resource < b.resource ? -1 : 1))
  const early = new Set<string>()
  for (const o of objects) {
    if (size <= maxBytes) break
    early.add(o.resource)
    size -= o.bytes
  }
  const stays = (kind: 'configmap' | 'secret') => (o: ConfigMap | Secret) => !early.has(workloadResource(kind, o.metadata.namespace, o.metadata.name))
  const content = { pods: set.pods, configmaps: set.configmaps.filter(stays('configmap')), secrets: set.secrets.filter(stays('secret')), kept: [...early] }
  const split = { early: [...early], parts: [], content }
  if (size <= frameBytes) return split
  const reason = `the resync of its pods is ${size} bytes of JSON, more than the ${frameBytes} a frame of the link carries, and its edge does not take a resync in parts (it does not announce ${Capabilities.workloadResyncParts}: an older tern edge)`
  return { ...split, oversize: reason }
}

/** Room in a resync's content for what is not its objects: the lists, `kept` of a few names, `part`. */
const SET_FRAME_BYTES = 256

function jsonBytes(object: WorkloadObject): number {
  let bytes = sizes.get(object)
  if (bytes === undefined) {
    bytes = Buffer.byteLength(JSON.stringify(object))
    sizes.set(object, bytes)
  }
  return bytes
}

/** The set in parts of at most `maxBytes` each (objects in set order; one larger than that alone). */
function inParts(lists: Record<'configmaps' | 'secrets' | 'pods', Array<{ object: WorkloadObject; bytes: number }>>, maxBytes: number, frameBytes: number): ResyncSplit {
  const parts: NodeWorkloadSet[] = []
  let part: NodeWorkloadSet = { pods: [], configmaps: [], secrets: [] }
  let size = SET_FRAME_BYTES
  /** the largest part, bytes */
  let largest = 0
  for (const list of ['configmaps', 'secrets', 'pods'] as const) {
    for (const { object, bytes } of lists[list]) {
      if (size + bytes + 1 > maxBytes && size > SET_FRAME_BYTES) {
        parts.push(part)
        part = { pods: [], configmaps: [], secrets: [] }
        size = SET_FRAME_BYTES
      }
      ;(part[list] as unknown[]).push(object)
      size += bytes + 1
      largest = Math.max(largest, size)
    }
  }
  parts.push(part)
  const resync = randomUUID()
  parts.forEach((p, index) => (p.part = { resync, index, count: parts.length }))
  const split = { early: [], parts: parts.slice(0, -1), content: parts.at(-1) as NodeWorkloadSet }
  return largest <= frameBytes ? split : { ...split, oversize: `a part of the resync of its pods is ${largest} bytes of JSON (one object), more than the ${frameBytes} a frame of the link carries` }
}

/**
 * The order changes go out in, so the edge never holds a pod whose ConfigMaps and Secrets it
 * lacks: their updates, pod updates, pod deletes, their deletes.
 */
export function rankWorkloadChange(c: Change<WorkloadObject>): number {
  const pod = parseWorkloadResource(c.resource)?.kind === 'pod'
  return c.op === 'update' ? (pod ? 1 : 0) : pod ? 2 : 3
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}

function records(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.map(record) : []
}
