/**
 * The edge's store of cloud workload objects (DESIGN.md §7): the pods bound to this node and the
 * ConfigMaps and Secrets they reference, as the cloud sends them (`resync` of resource `pods`,
 * then `update`/`delete` of `<ns>/pod/<name>`, `<ns>/configmap/<name>`, `<ns>/secret/<name>`),
 * kept in the `workloads` space of the node database beside the devices' `meta`. A message is
 * acknowledged only once written; a malformed one, or a pod bound to another node, is refused
 * with CLOUD_MESSAGE_INVALID / CLOUD_NOT_OWNER and changes nothing. In a resync each object is
 * checked on its own (workload-resync.ts): one the store's schema refuses changes nothing of what
 * the node holds under its name (an earlier version stays, of a pod only the same uid's, as a
 * refused `update` leaves it) and is named in the answer, so the cloud reports it as it reports a
 * refused update; the other objects are applied. A resync too large for one frame comes in parts
 * (resync-parts.ts), applied together when the last one arrives. Whether edged can run a pod is edged's to say
 * (its cloud source, edged/sources/cloud.ts), so one bad pod never blocks the set.
 *
 * It is edged's view of the cloud: `pods()`, `configMap()` and `secret()` for env (EnvResolver),
 * `configMapFiles()` and `secretFiles()` for volumes (bytes: binaryData and Secret data need not be
 * UTF-8), and `onChange`. After a restart with the cloud unreachable it serves what the last run
 * stored.
 */
import type { Logger } from 'pino'
import { CloudPod as cloudPodCheck } from '../../schemas/generated/validators/CloudPod.js'
import { ConfigMap as configMapCheck } from '../../schemas/generated/validators/ConfigMap.js'
import { Secret as secretCheck } from '../../schemas/generated/validators/Secret.js'
import { validator, type Problem, type Validation } from '../../schemas/validate.js'
import type { CloudPod, ConfigMap, PodDeleted, Secret } from '../../schemas/workloads.js'
import { LevelStore, type AnyLevel } from '../../twin/store.js'
import { Operations, parseWorkloadResource, Sources, WORKLOAD_RESYNC_RESOURCE, workloadResource, type Envelope, type NodeWorkloadSet, type ResyncRefusal, type WorkloadKind, type WorkloadResyncAnswer } from '../messages.js'
import type { Session } from '../session.js'
import { deleteOne, putOne, replaceAll, type SetChange } from './cloud-objects.js'
import { contentProblems, DownlinkReceiver, reasonOf, type Applied } from './downlink-receiver.js'
import { ResyncParts, type CheckedSet } from './resync-parts.js'
import { checkResync, type RefusedObject } from './workload-resync.js'

export type WorkloadObject = CloudPod | ConfigMap | Secret

/** An object of the held set, as `onChange` names it. */
export interface WorkloadRef {
  kind: WorkloadKind
  namespace: string
  name: string
}

export interface WorkloadSpaces extends Record<string, unknown> {
  workloads: WorkloadObject
}

const VALIDATORS: Record<WorkloadKind, (doc: unknown) => Validation<WorkloadObject>> = {
  pod: validator(cloudPodCheck),
  configmap: validator(configMapCheck),
  secret: validator(secretCheck),
}

export interface WorkloadSyncOptions {
  db: AnyLevel
  nodeName: string
  fsync: boolean
  log: Logger
}

/** `refused`: the objects of a resync the store did not take */
type Change = SetChange<'workloads', WorkloadObject> & { refused?: ResyncRefusal[] }

export class WorkloadSync {
  readonly #o: WorkloadSyncOptions
  readonly #log: Logger
  readonly #store: LevelStore<WorkloadSpaces>
  readonly #receiver: DownlinkReceiver
  readonly #listeners: Array<(changed: readonly WorkloadRef[]) => void> = []
  /** the parts of a resync sent in several frames, until its last */
  readonly #parts = new ResyncParts()
  #objects: ReadonlyMap<string, WorkloadObject> = new Map()

  constructor(options: WorkloadSyncOptions) {
    this.#o = options
    this.#log = options.log.child({ part: 'cloud-sync', space: 'workloads' })
    this.#store = new LevelStore<WorkloadSpaces>(options.db, ['workloads'], { prefix: 'cloud-', sync: options.fsync })
    this.#receiver = new DownlinkReceiver({ log: this.#log, source: Sources.edge, claims: isMine, apply: (message) => this.#apply(message) })
  }

  /** Loads what earlier runs stored (a stored object that no longer checks is skipped and logged). */
  async start(): Promise<void> {
    const objects = new Map<string, WorkloadObject>()
    for (const { key, value } of await this.#store.loadAll('workloads')) {
      const kind = parseWorkloadResource(key)?.kind
      const checked = kind === undefined ? undefined : VALIDATORS[kind](value)
      if (checked?.ok !== true || resourceOf(kind as WorkloadKind, checked.value) !== key) {
        this.#log.error({ code: 'CLOUD_OBJECT_INVALID', key, problems: checked?.ok === false ? checked.problems : undefined }, 'stored workload object is corrupt; skipped')
        continue
      }
      objects.set(key, checked.value)
    }
    this.#objects = objects
    this.#log.info({ objects: objects.size }, 'workload objects loaded')
  }

  attach(session: Session): void {
    // parts of a resync the last session began are not finished: the cloud resyncs anew
    session.onClose(() => this.#parts.clear())
    this.#receiver.attach(session)
  }

  async stop(): Promise<void> {
    await this.#receiver.stop()
  }

  /** Called after every change of the held set (written already), with the objects that changed. */
  onChange(listener: (changed: readonly WorkloadRef[]) => void): void {
    this.#listeners.push(listener)
  }

  /** The pods the cloud bound to this node, as stored (edged validates them). */
  pods(): CloudPod[] {
    const pods: CloudPod[] = []
    for (const [key, object] of this.#objects) if (parseWorkloadResource(key)?.kind === 'pod') pods.push(object as CloudPod)
    return pods
  }

  /** The held objects by edge resource (for tests and the CLI). */
  get objects(): ReadonlyMap<string, WorkloadObject> {
    return this.#objects
  }

  /** A ConfigMap's `data` for env, or undefined when the node does not hold it (the kubelet's env never reads binaryData). */
  configMap(namespace: string, name: string): Promise<Readonly<Record<string, string>> | undefined> {
    const cm: ConfigMap | undefined = this.#held('configmap', namespace, name)
    return Promise.resolve(cm === undefined ? undefined : { ...cm.data })
  }

  /** A Secret's data for env, decoded, or undefined when the node does not hold it. */
  secret(namespace: string, name: string): Promise<Readonly<Record<string, string>> | undefined> {
    const secret: Secret | undefined = this.#held('secret', namespace, name)
    return Promise.resolve(secret === undefined ? undefined : decoded(secret.data))
  }

  /** A ConfigMap's volume files: `data` as UTF-8 and `binaryData` as the bytes it encodes (the API server keeps their keys apart). */
  configMapFiles(namespace: string, name: string): Promise<Readonly<Record<string, Uint8Array>> | undefined> {
    const cm: ConfigMap | undefined = this.#held('configmap', namespace, name)
    if (cm === undefined) return Promise.resolve(undefined)
    const files: Record<string, Uint8Array> = bytesOf(cm.binaryData)
    for (const [key, value] of Object.entries(cm.data ?? {})) files[key] = Buffer.from(value, 'utf8')
    return Promise.resolve(files)
  }

  /** A Secret's volume files: the bytes its data encodes. */
  secretFiles(namespace: string, name: string): Promise<Readonly<Record<string, Uint8Array>> | undefined> {
    const secret: Secret | undefined = this.#held('secret', namespace, name)
    return Promise.resolve(secret === undefined ? undefined : bytesOf(secret.data))
  }

  /** A Secret's type and data, decoded, for imagePullSecrets. */
  secretOfType(namespace: string, name: string): { type: string; data: Record<string, string> } | undefined {
    const secret: Secret | undefined = this.#held('secret', namespace, name)
    return secret === undefined ? undefined : { type: secret.type ?? 'Opaque', data: decoded(secret.data) }
  }

  /**
   * The pod's final delete, once edged has terminated it, when the cloud asked for it (the stored
   * pod of that uid has a deletionTimestamp): `delete` of `<ns>/pod/<name>` with `{ uid }`;
   * undefined for a pod the cloud did not delete (it moved, or a newer pod took the name).
   */
  finalDelete(pod: { namespace: string; name: string; uid: string }): { resource: string; content: PodDeleted } | undefined {
    const stored: CloudPod | undefined = this.#held('pod', pod.namespace, pod.name)
    if (stored?.metadata.uid !== pod.uid || stored.metadata.deletionTimestamp === undefined) return undefined
    return { resource: workloadResource('pod', pod.namespace, pod.name), content: { uid: pod.uid } }
  }

  #held<T extends WorkloadObject>(kind: WorkloadKind, namespace: string, name: string): T | undefined {
    return this.#objects.get(workloadResource(kind, namespace, name)) as T | undefined
  }

  async #apply(message: Envelope): Promise<Applied> {
    const change = this.#change(message)
    if ('code' in change) return change
    const answer: WorkloadResyncAnswer | undefined = change.refused === undefined || change.refused.length === 0 ? undefined : { refused: change.refused }
    if (change.ops.length === 0) return { ok: true, content: answer }
    await this.#store.write(change.ops)
    this.#objects = change.next
    const changed = change.ops.flatMap((op) => parseWorkloadResource(op.key) ?? [])
    for (const listener of this.#listeners) {
      try {
        listener(changed)
      } catch (err) {
        this.#log.error({ err }, 'workload change listener threw')
      }
    }
    return { ok: true, content: answer }
  }

  #change(message: Envelope): Change | { ok: false; code: 'CLOUD_MESSAGE_INVALID' | 'CLOUD_NOT_OWNER'; problems: Problem[] } {
    const { operation, resource } = message.route
    const invalid = (problems: Problem[]): { ok: false; code: 'CLOUD_MESSAGE_INVALID'; problems: Problem[] } => ({ ok: false, code: 'CLOUD_MESSAGE_INVALID', problems })
    if (operation === Operations.resync) {
      const checked = checkResync(message.content, VALIDATORS)
      if (!checked.ok) return invalid(checked.problems)
      const foreign = this.#foreignPods(checked.set)
      if (foreign.length > 0) return { ok: false, code: 'CLOUD_NOT_OWNER', problems: foreign }
      let whole: CheckedSet = checked
      if (checked.set.part !== undefined) {
        const outcome = this.#parts.take(checked, checked.set.part)
        if ('problems' in outcome) return invalid(outcome.problems)
        if (!('whole' in outcome)) return { ops: [], next: this.#objects }
        whole = outcome.whole
      }
      const next = setOf(whole.set, this.#objects)
      const refused = whole.refused.map((object) => this.#refused(object, next))
      const change = replaceAll('workloads', this.#objects, next)
      this.#log.debug({ objects: next.size, written: change.ops.length, refused: refused.length, parts: checked.set.part?.count ?? 1 }, 'workload resync applied')
      return { ...change, refused }
    }
    const target = parseWorkloadResource(resource) as { kind: WorkloadKind }
    if (operation === Operations.delete) return deleteOne('workloads', this.#objects, resource)
    const checked = VALIDATORS[target.kind](message.content)
    if (!checked.ok) return invalid(contentProblems(checked.problems))
    const named = resourceOf(target.kind, checked.value)
    if (named !== resource) return invalid([{ path: '/content/metadata', message: `names ${named}, not ${resource}` }])
    if (target.kind === 'pod') {
      const foreign = this.#foreignPods({ pods: [checked.value as CloudPod], configmaps: [], secrets: [] })
      if (foreign.length > 0) return { ok: false, code: 'CLOUD_NOT_OWNER', problems: foreign }
    }
    const change = putOne('workloads', this.#objects, resource, checked.value, (o) => o.metadata.resourceVersion, message.header.resourceversion)
    if (change === undefined) this.#log.debug({ resource }, 'outdated update ignored')
    return change ?? { ops: [], next: this.#objects }
  }

  /**
   * An object of a resync the store refused: what the node held under its name stays in `next`
   * (a pod's only when it has the same uid: another uid is another pod, gone from the cluster), as
   * a refused `update` would have left it; logged as a refused message is.
   */
  #refused(object: RefusedObject, next: Map<string, WorkloadObject>): ResyncRefusal {
    const held = this.#objects.get(object.resource)
    const keep = held !== undefined && (object.kind !== 'pod' || (object.uid !== undefined && held.metadata.uid === object.uid))
    if (keep) next.set(object.resource, held)
    this.#log.warn({ code: 'CLOUD_MESSAGE_INVALID', operation: Operations.resync, resource: object.resource, problems: object.problems, held: keep }, 'object of the resync refused; the others applied')
    return { resource: object.resource, code: 'CLOUD_MESSAGE_INVALID', reason: reasonOf(object.problems), held: keep }
  }

  #foreignPods(set: NodeWorkloadSet): Problem[] {
    return set.pods
      .map((pod, i) => ({ pod, i }))
      .filter(({ pod }) => pod.spec.nodeName !== this.#o.nodeName)
      .map(({ pod, i }) => ({ path: `/content/pods/${i}/spec/nodeName`, message: `pod ${pod.metadata.namespace}/${pod.metadata.name} is bound to ${JSON.stringify(pod.spec.nodeName ?? '')}, not ${this.#o.nodeName}` }))
  }
}

function isMine(message: Envelope): boolean {
  const { operation, resource } = message.route
  if (operation === Operations.resync) return resource === WORKLOAD_RESYNC_RESOURCE
  if (operation !== Operations.update && operation !== Operations.delete && operation !== 'insert') return false
  return parseWorkloadResource(resource) !== undefined
}

function resourceOf(kind: WorkloadKind, object: WorkloadObject): string {
  return workloadResource(kind, object.metadata.namespace, object.metadata.name)
}

/** The set a resync makes: its objects, and those it names as `kept` (sent just before it) as held. */
function setOf(set: NodeWorkloadSet, held: ReadonlyMap<string, WorkloadObject>): Map<string, WorkloadObject> {
  const next = new Map<string, WorkloadObject>()
  for (const resource of set.kept ?? []) {
    const kind = parseWorkloadResource(resource)?.kind
    const object = held.get(resource)
    if (object !== undefined && (kind === 'configmap' || kind === 'secret')) next.set(resource, object)
  }
  for (const pod of set.pods) next.set(resourceOf('pod', pod), pod)
  for (const cm of set.configmaps) next.set(resourceOf('configmap', cm), cm)
  for (const secret of set.secrets) next.set(resourceOf('secret', secret), secret)
  return next
}

/** Base64 values decoded to bytes. */
function bytesOf(data: Readonly<Record<string, string>> | undefined): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {}
  for (const [key, value] of Object.entries(data ?? {})) out[key] = Buffer.from(value, 'base64')
  return out
}

/** Base64 values decoded to text, for env (a process's environment is text). */
function decoded(data: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(bytesOf(data))) out[key] = Buffer.from(value).toString('utf8')
  return out
}
