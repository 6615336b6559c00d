/** Resource types the emulator serves: built-ins, and those registered by CustomResourceDefinitions. */
import type { Json } from './patch.js'
import { compileValidator, structuralProblems, type ObjectValidator } from './schema.js'
import type { StatusCause } from './status.js'
import type { MergeKeys } from './strategic.js'
import type { KubeObject } from './store.js'

export interface PrinterColumn {
  name: string
  type: string
  jsonPath: string
  description?: string
  /** 1 = shown by `kubectl get -o wide` only */
  priority?: number
  /** a computed cell (built-in types: the API server's own table printers), instead of `jsonPath` */
  value?: (object: KubeObject) => Json
}

export interface ResourceType {
  group: string
  version: string
  plural: string
  singular: string
  kind: string
  listKind: string
  namespaced: boolean
  statusSubresource: boolean
  shortNames: string[]
  categories: string[]
  /** Built-in kinds accept strategic merge patch; custom resources answer 415. */
  builtin: boolean
  /** the lists a built-in kind's strategic merge patch merges by key (strategic.ts), by path: `status.addresses` → `type` */
  mergeKeys?: MergeKeys
  schema?: Record<string, unknown>
  validate?: ObjectValidator
  columns: PrinterColumn[]
  /** field selectors beyond metadata.name/namespace (the API server's field label conversions) */
  fields?: readonly string[]
  /** what the API server's create strategy does for a built-in type: defaults set in place, problems returned */
  prepareCreate?: (object: KubeObject) => StatusCause[]
  /**
   * Graceful deletion (the pod strategy's CheckGracefulDelete): the grace period in seconds this
   * DELETE gets, or 0 to delete at once. `requested` is DeleteOptions.gracePeriodSeconds.
   */
  gracePeriod?: (object: KubeObject, requested: number | undefined) => number
}

export const typeId = (t: { group: string; plural: string }): string => `${t.group}/${t.plural}`
export const groupVersion = (t: { group: string; version: string }): string => (t.group === '' ? t.version : `${t.group}/${t.version}`)

export const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }

export const NAMESPACES: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  singular: 'namespace',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  namespaced: false,
  statusSubresource: true,
  shortNames: ['ns'],
  categories: [],
  builtin: true,
  columns: [{ name: 'Status', type: 'string', jsonPath: '.status.phase' }, age],
}

export const CRDS: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  singular: 'customresourcedefinition',
  kind: 'CustomResourceDefinition',
  listKind: 'CustomResourceDefinitionList',
  namespaced: false,
  statusSubresource: true,
  shortNames: ['crd', 'crds'],
  categories: ['api-extensions'],
  builtin: true,
  columns: [{ name: 'Created At', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
}

export const SECRETS: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'secrets',
  singular: 'secret',
  kind: 'Secret',
  listKind: 'SecretList',
  namespaced: true,
  statusSubresource: false,
  shortNames: [],
  categories: [],
  builtin: true,
  columns: [{ name: 'Type', type: 'string', jsonPath: '.type' }, age],
}

function isRecord(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '')
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [])

/** The problems apiextensions-apiserver reports for a CRD, as 422 causes (the subset checked here). */
export function crdProblems(crd: KubeObject): StatusCause[] {
  const causes: StatusCause[] = []
  const spec = isRecord(crd.spec) ? crd.spec : {}
  const names = isRecord(spec.names) ? spec.names : {}
  const group = str(spec.group)
  const plural = str(names.plural)
  if (group === '' || !group.includes('.')) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(group)}: should be a domain with at least one dot`, field: 'spec.group' })
  if (plural === '') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.names.plural' })
  if (str(names.kind) === '') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.names.kind' })
  if (str(crd.metadata.name) !== `${plural}.${group}`)
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(crd.metadata.name)}: must be spec.names.plural+"."+spec.group`, field: 'metadata.name' })
  if (!['Namespaced', 'Cluster'].includes(str(spec.scope)))
    causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(spec.scope)}: supported values: "Cluster", "Namespaced"`, field: 'spec.scope' })
  const versions = Array.isArray(spec.versions) ? spec.versions : []
  if (versions.filter((v) => isRecord(v) && v.storage === true).length !== 1)
    causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must have exactly one version marked as storage version', field: 'spec.versions' })
  versions.forEach((v, i) => {
    const schema = isRecord(v) && isRecord(v.schema) ? v.schema.openAPIV3Schema : undefined
    if (schema === undefined) causes.push({ reason: 'FieldValueRequired', message: 'Required value: schemas are required', field: `spec.versions[${i}].schema.openAPIV3Schema` })
    else for (const problem of structuralProblems(schema)) causes.push({ reason: 'FieldValueInvalid', message: problem, field: `spec.versions[${i}].schema` })
  })
  return causes
}

/** The served versions of a (valid) CRD as resource types. */
export function typesOfCrd(crd: KubeObject): ResourceType[] {
  const spec = isRecord(crd.spec) ? crd.spec : {}
  const names = isRecord(spec.names) ? spec.names : {}
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isRecord) : []
  return versions
    .filter((v) => v.served === true)
    .map((v) => {
      const schema = isRecord(v.schema) && isRecord(v.schema.openAPIV3Schema) ? (v.schema.openAPIV3Schema as Record<string, unknown>) : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }
      const subresources = isRecord(v.subresources) ? v.subresources : {}
      const columns = Array.isArray(v.additionalPrinterColumns) ? (v.additionalPrinterColumns.filter(isRecord) as unknown as PrinterColumn[]) : [age]
      return {
        group: str(spec.group),
        version: str(v.name),
        plural: str(names.plural),
        singular: str(names.singular) || str(names.kind).toLowerCase(),
        kind: str(names.kind),
        listKind: str(names.listKind) || `${str(names.kind)}List`,
        namespaced: spec.scope === 'Namespaced',
        statusSubresource: isRecord(subresources.status),
        shortNames: strings(names.shortNames),
        categories: strings(names.categories),
        builtin: false,
        schema,
        validate: compileValidator(schema),
        columns,
      }
    })
}
