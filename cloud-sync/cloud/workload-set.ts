/**
 * Pure helpers of the workload downlink: which ConfigMaps and Secrets a pod references (the
 * kubelet's podutil.VisitPodConfigmapNames / VisitPodSecretNames: volumes, env valueFrom,
 * envFrom and imagePullSecrets, in every container and init container), what of each object the
 * edge acts on, the object as sent, and the order changes go out in.
 */
import { MAX_NESTING } from '../../schemas/cloud-link-limits.js'
import type { Validator } from '../../schemas/validate.js'
import type { CloudPod, ConfigMap, Secret } from '../../schemas/workloads.js'
import { nestedDeeperThan } from '../json-depth.js'
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

/** The object as the edge gets it: apiVersion and kind set (list items lack them), without status and apply bookkeeping. */
export function forEdge(kind: WorkloadKind, object: WorkloadObject): WorkloadObject {
  const { status: _status, ...rest } = object as WorkloadObject & { status?: unknown }
  return { ...rest, apiVersion: 'v1', kind: KINDS[kind], metadata: leanMetadata(object.metadata) }
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

/**
 * A resync whose content is larger than `maxBytes`: the largest ConfigMaps and Secrets go `early`
 * (sent as updates before the resync, each in its own frame) until the rest fits, and the content
 * names them in `kept`.
 */
export function splitResync(set: NodeWorkloadSet, maxBytes = RESYNC_CONTENT_MAX_BYTES): { early: string[]; content: NodeWorkloadSet } {
  let size = Buffer.byteLength(JSON.stringify(set))
  if (size <= maxBytes) return { early: [], content: set }
  const objects = [
    ...set.configmaps.map((o) => ({ resource: workloadResource('configmap', o.metadata.namespace, o.metadata.name), bytes: Buffer.byteLength(JSON.stringify(o)) })),
    ...set.secrets.map((o) => ({ resource: workloadResource('secret', o.metadata.namespace, o.metadata.name), bytes: Buffer.byteLength(JSON.stringify(o)) })),
  ].sort((a, b) => b.bytes - a.bytes || (a.resource < b.resource ? -1 : 1))
  const early = new Set<string>()
  for (const o of objects) {
    if (size <= maxBytes) break
    early.add(o.resource)
    size -= o.bytes
  }
  const stays = (kind: 'configmap' | 'secret') => (o: ConfigMap | Secret) => !early.has(workloadResource(kind, o.metadata.namespace, o.metadata.name))
  return { early: [...early], content: { pods: set.pods, configmaps: set.configmaps.filter(stays('configmap')), secrets: set.secrets.filter(stays('secret')), kept: [...early] } }
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
