/**
 * The API server's object semantics, independent of HTTP: create/get/list/update/patch/delete
 * with resourceVersion preconditions, generation, the status subresource, pruning and
 * validation, and CRDs that register their resources. Reference: Kubernetes API concepts
 * ("Resource versions", "Efficient detection of changes"), the CRD docs ("Subresources",
 * "Field pruning", "Validation") and the generic registry (`staging/.../registry/generic`).
 */
import { randomUUID } from 'node:crypto'
import { deepEqual, jsonPatch, mergePatch, type Json } from './patch.js'
import { strategicMergePatch } from './strategic.js'
import { CONFIGMAPS, EVENTS, LEASES, NODES, PODS } from './core-types.js'
import { CRDS, NAMESPACES, SECRETS, crdProblems, groupVersion, typeId, typesOfCrd, type ResourceType } from './registry.js'
import { prune } from './schema.js'
import { ApiError, alreadyExists, badRequest, conflict, invalid, notFound, type StatusCause } from './status.js'
import { Store, nameOf, namespaceOf, type KubeObject } from './store.js'

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore'

export interface WriteOptions {
  fieldValidation?: FieldValidation
  dryRun?: boolean
}

export interface DeleteOptions extends WriteOptions {
  /** `?gracePeriodSeconds=` (DeleteOptions in the body wins) */
  gracePeriodSeconds?: number
}

export interface WriteResult {
  object: KubeObject
  warnings: string[]
  created?: boolean
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

function isRecord(value: unknown): value is { [key: string]: Json } {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function asObject(body: unknown): KubeObject {
  if (!isRecord(body)) throw badRequest('the body of the request was in an unknown format - accepted media types include: application/json, application/yaml')
  const metadata = isRecord(body.metadata) ? body.metadata : {}
  return { ...body, metadata }
}

/** Everything but metadata (and status, when it is a subresource): what `generation` counts. */
function specOf(object: KubeObject, statusSubresource: boolean): Json {
  const { metadata: _m, status, ...rest } = object
  return statusSubresource ? rest : { ...rest, ...(status === undefined ? {} : { status }) }
}

/**
 * What the API server does with a Secret: `stringData` is merged into `data` (base64) and dropped,
 * every `data` value must be base64, `type` defaults to Opaque.
 */
function secretProblems(secret: KubeObject): StatusCause[] {
  const causes: StatusCause[] = []
  const data: Record<string, Json> = isRecord(secret.data) ? { ...secret.data } : {}
  if (isRecord(secret.stringData)) for (const [key, value] of Object.entries(secret.stringData)) data[key] = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64')
  delete secret.stringData
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: illegal base64 data', field: `data[${key}]` })
  }
  secret.data = data
  if (secret.type === undefined) secret.type = 'Opaque'
  return causes
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

export class Api {
  private readonly types = new Map<string, ResourceType>()

  constructor(readonly store: Store) {
    this.register(NAMESPACES)
    this.register(CRDS)
    for (const type of [SECRETS, NODES, PODS, CONFIGMAPS, EVENTS, LEASES]) this.register(type)
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
      this.create(NAMESPACES, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
  }

  private register(type: ResourceType): void {
    this.types.set(`${type.group}/${type.version}/${type.plural}`, type)
  }

  findType(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(`${group}/${version}/${plural}`)
  }

  allTypes(): ResourceType[] {
    return [...this.types.values()]
  }

  get(type: ResourceType, namespace: string, name: string): KubeObject {
    const found = this.store.get(typeId(type), namespace, name)
    if (found === undefined) throw notFound(type.plural, type.group, name)
    return this.present(type, found)
  }

  list(type: ResourceType, namespace?: string): { items: KubeObject[]; resourceVersion: string } {
    return { items: this.store.list(typeId(type), namespace).map((o) => this.present(type, o)), resourceVersion: String(this.store.resourceVersion) }
  }

  /** Objects are stored once per group; each served version shows them under its own apiVersion. */
  present(type: ResourceType, object: KubeObject): KubeObject {
    return { ...object, apiVersion: groupVersion(type) }
  }

  create(type: ResourceType, namespace: string, body: unknown, options: WriteOptions = {}): WriteResult {
    const object = asObject(body)
    this.checkIdentity(type, namespace, object)
    const meta = object.metadata
    if (typeof meta.name !== 'string' || meta.name === '') {
      if (typeof meta.generateName === 'string' && meta.generateName !== '') meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`
      else throw invalid(type.kind, type.group, '', [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }])
    }
    const name = nameOf(object)
    if (type.namespaced) this.requireNamespace(namespace)
    if (this.store.get(typeId(type), namespace, name) !== undefined) throw alreadyExists(type.plural, type.group, name)
    if (type.statusSubresource && type !== NAMESPACES) delete object.status
    for (const key of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'selfLink']) delete meta[key]
    Object.assign(meta, { uid: randomUUID(), creationTimestamp: now(), generation: 1 })
    if (type === NAMESPACES) object.status = { phase: 'Active' }
    const defaulted = type.prepareCreate?.(object) ?? []
    if (defaulted.length > 0) throw invalid(type.kind, type.group, name, defaulted)
    const warnings = this.admit(type, object, options)
    if (options.dryRun === true) return { object: this.present(type, object), warnings, created: true }
    const stored = this.store.write('ADDED', typeId(type), object)
    if (type === CRDS) this.establish(stored)
    return { object: this.present(type, stored), warnings, created: true }
  }

  /** PUT: full replacement of the main resource or of `status`, guarded by metadata.resourceVersion. */
  update(type: ResourceType, namespace: string, name: string, body: unknown, subresource: string | undefined, options: WriteOptions = {}): WriteResult {
    const incoming = asObject(body)
    this.checkIdentity(type, namespace, incoming)
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name)
      throw badRequest(`the name of the object (${JSON.stringify(incoming.metadata.name)}) does not match the name on the URL (${name})`)
    const old = this.store.get(typeId(type), namespace, name)
    if (old === undefined) throw notFound(type.plural, type.group, name)
    const rv = incoming.metadata.resourceVersion
    if (rv === undefined || rv === '')
      throw invalid(type.kind, type.group, name, [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update', field: 'metadata.resourceVersion' }])
    if (rv !== old.metadata.resourceVersion) throw conflict(type.plural, type.group, name)
    return this.commit(type, old, incoming, subresource, options)
  }

  patch(type: ResourceType, namespace: string, name: string, contentType: string, body: unknown, subresource: string | undefined, options: WriteOptions = {}): WriteResult {
    const old = this.store.get(typeId(type), namespace, name)
    if (old === undefined) throw notFound(type.plural, type.group, name)
    const current = this.present(type, old) as Json
    let patched: Json
    switch (contentType) {
      case 'application/merge-patch+json':
        patched = mergePatch(current, body as Json)
        break
      case 'application/json-patch+json':
        patched = jsonPatch(current, body)
        break
      case 'application/strategic-merge-patch+json':
        if (!type.builtin) throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`)
        patched = strategicMergePatch(current, body as Json, type.mergeKeys ?? {})
        break
      default:
        throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json`)
    }
    const incoming = asObject(patched)
    this.checkIdentity(type, namespace, incoming)
    if (incoming.metadata.name !== name) throw badRequest('metadata.name: the name of a patched object cannot change')
    // A patch carrying metadata.resourceVersion is a precondition, exactly like an update.
    if (incoming.metadata.resourceVersion !== old.metadata.resourceVersion) throw conflict(type.plural, type.group, name)
    // So is one carrying metadata.uid (the kubelet's pod status patch: a pod recreated under its name is not written over).
    if (incoming.metadata.uid !== old.metadata.uid) throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${JSON.stringify(incoming.metadata.uid)}, UID in object meta: ${JSON.stringify(old.metadata.uid)}`)
    return this.commit(type, old, incoming, subresource, options)
  }

  /**
   * DELETE. A type with graceful deletion (pods) whose grace period is > 0 is only marked: its
   * deletionTimestamp is set to now + grace and deletionGracePeriodSeconds to grace (MODIFIED);
   * another DELETE with a shorter period moves it closer, and one with 0 (the kubelet's final
   * delete, or --force) removes it. Finalizers are not implemented.
   */
  delete(type: ResourceType, namespace: string, name: string, body: unknown, options: DeleteOptions = {}): KubeObject {
    const old = this.store.get(typeId(type), namespace, name)
    if (old === undefined) throw notFound(type.plural, type.group, name)
    const deleteOptions = isRecord(body) ? body : {}
    const preconditions = isRecord(deleteOptions.preconditions) ? deleteOptions.preconditions : {}
    if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== old.metadata.resourceVersion) throw conflict(type.plural, type.group, name)
    if (preconditions.uid !== undefined && preconditions.uid !== old.metadata.uid) throw conflict(type.plural, type.group, name)
    if (type.gracePeriod !== undefined) {
      const requested = typeof deleteOptions.gracePeriodSeconds === 'number' ? deleteOptions.gracePeriodSeconds : options.gracePeriodSeconds
      const grace = type.gracePeriod(old, requested)
      const marked = typeof old.metadata.deletionGracePeriodSeconds === 'number' ? old.metadata.deletionGracePeriodSeconds : undefined
      if (grace > 0 && marked !== undefined && grace >= marked) return this.present(type, old)
      if (grace > 0) {
        const next = structuredClone(old)
        next.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
        next.metadata.deletionGracePeriodSeconds = grace
        if (options.dryRun === true) return this.present(type, next)
        return this.present(type, this.store.write('MODIFIED', typeId(type), next))
      }
    }
    if (options.dryRun === true) return this.present(type, old)
    if (type === CRDS) this.unregister(old, true)
    if (type === NAMESPACES) for (const t of this.allTypes()) if (t.namespaced) for (const o of this.store.list(typeId(t), name)) this.store.write('DELETED', typeId(t), o)
    return this.present(type, this.store.write('DELETED', typeId(type), old))
  }

  private commit(type: ResourceType, old: KubeObject, incoming: KubeObject, subresource: string | undefined, options: WriteOptions): WriteResult {
    let next: KubeObject
    if (subresource === 'status') {
      if (!type.statusSubresource) throw notFound(type.plural, type.group, nameOf(old))
      // The status endpoint changes status only (and the resourceVersion).
      next = structuredClone(old)
      if (incoming.status === undefined) delete next.status
      else next.status = incoming.status
    } else if (subresource !== undefined) {
      throw notFound(type.plural, type.group, nameOf(old))
    } else {
      next = incoming
      // Server-owned metadata survives whatever the client sent.
      for (const key of ['uid', 'creationTimestamp', 'generation', 'namespace', 'name']) if (old.metadata[key] !== undefined) next.metadata[key] = old.metadata[key]
      if (type.statusSubresource) {
        if (old.status === undefined) delete next.status
        else next.status = old.status
      }
    }
    const warnings = this.admit(type, next, options)
    const oldGeneration = typeof old.metadata.generation === 'number' ? old.metadata.generation : 1
    if (!deepEqual(specOf(next, type.statusSubresource), specOf(old, type.statusSubresource))) next.metadata.generation = oldGeneration + 1
    next.metadata.resourceVersion = old.metadata.resourceVersion ?? null
    // A no-op write leaves the object, its resourceVersion and the watchers alone.
    if (deepEqual(next, old)) return { object: this.present(type, old), warnings }
    if (options.dryRun === true) return { object: this.present(type, next), warnings }
    if (type === CRDS) {
      this.unregister(old, false)
      for (const t of typesOfCrd(next)) this.register(t)
    }
    return { object: this.present(type, this.store.write('MODIFIED', typeId(type), next)), warnings }
  }

  /** Name rules, pruning, field validation and the type's schema; returns warnings or throws 400/422. */
  private admit(type: ResourceType, object: KubeObject, options: WriteOptions): string[] {
    const name = nameOf(object)
    const causes: StatusCause[] = []
    const pattern = type === NAMESPACES ? DNS1123_LABEL : DNS1123_SUBDOMAIN
    if (!pattern.test(name) || name.length > 253)
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`, field: 'metadata.name' })
    let unknown: string[] = []
    if (type.schema !== undefined) unknown = prune(object, type.schema)
    if (unknown.length > 0 && options.fieldValidation === 'Strict') throw badRequest(`${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`)
    if (type.validate !== undefined) causes.push(...type.validate(object))
    if (type === CRDS) causes.push(...crdProblems(object))
    if (type === SECRETS) causes.push(...secretProblems(object))
    if (causes.length > 0) throw invalid(type.kind, type.group, name, causes)
    return (options.fieldValidation ?? 'Warn') === 'Warn' ? unknown.map((u) => `unknown field "${u}"`) : []
  }

  private checkIdentity(type: ResourceType, namespace: string, object: KubeObject): void {
    if (object.kind !== undefined && object.kind !== type.kind) throw badRequest(`the kind of the object (${JSON.stringify(object.kind)}) does not match the resource (${type.kind})`)
    if (object.apiVersion !== undefined && object.apiVersion !== groupVersion(type))
      throw badRequest(`the API version in the data (${JSON.stringify(object.apiVersion)}) does not match the expected API version (${groupVersion(type)})`)
    object.apiVersion = groupVersion(type)
    object.kind = type.kind
    const given = object.metadata.namespace
    if (!type.namespaced) {
      delete object.metadata.namespace
      return
    }
    if (given !== undefined && given !== '' && given !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
    object.metadata.namespace = namespace
  }

  private requireNamespace(namespace: string): void {
    if (this.store.get(typeId(NAMESPACES), '', namespace) === undefined) throw notFound('namespaces', '', namespace)
  }

  /** What apiextensions-apiserver does right after accepting a CRD: serve it and say so in status. */
  private establish(crd: KubeObject): void {
    for (const t of typesOfCrd(crd)) this.register(t)
    const spec = isRecord(crd.spec) ? crd.spec : {}
    const versions = Array.isArray(spec.versions) ? spec.versions.filter(isRecord) : []
    const time = now()
    const condition = (type: string, reason: string, message: string): Json => ({ type, status: 'True', lastTransitionTime: time, reason, message })
    const status: Json = {
      acceptedNames: spec.names ?? {},
      conditions: [condition('NamesAccepted', 'NoConflicts', 'no conflicts found'), condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
      storedVersions: versions.filter((v) => v.storage === true).map((v) => v.name ?? ''),
    }
    this.store.write('MODIFIED', typeId(CRDS), { ...crd, status })
  }

  /** Stops serving a CRD's versions; `purge` (CRD deleted) also deletes its objects. */
  private unregister(crd: KubeObject, purge: boolean): void {
    for (const t of typesOfCrd(crd)) {
      this.types.delete(`${t.group}/${t.version}/${t.plural}`)
      const stillServed = this.allTypes().some((o) => o.group === t.group && o.plural === t.plural)
      if (purge && !stillServed) for (const o of this.store.list(typeId(t))) this.store.write('DELETED', typeId(t), o)
    }
  }
}

export { namespaceOf }
