/**
 * What the API server does with a CRD's `openAPIV3Schema`: the structural-schema rules it checks
 * before accepting a CRD, pruning of unknown fields, `x-kubernetes-list-type` uniqueness, and
 * validation (ajv, with the `x-kubernetes-*` extensions ignored by ajv and enforced here).
 * Reference: Kubernetes docs, "Extend the Kubernetes API with CustomResourceDefinitions" →
 * "Specifying a structural schema", "Field pruning", "Validation"; "Server-Side Apply" → list types.
 */
import { Ajv, type ErrorObject } from 'ajv'
import type { StatusCause } from './status.js'

type Node = Record<string, unknown>

function isNode(value: unknown): value is Node {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Keywords that apiextensions.k8s.io/v1 rejects or that make a schema non-structural. */
const FORBIDDEN = ['$schema', '$id', 'id', '$ref', 'definitions', '$defs', 'patternProperties', 'const', 'dependencies', 'additionalItems'] as const
const TYPES = ['object', 'array', 'string', 'integer', 'number', 'boolean'] as const

/** Every violation of the structural-schema rules, as `path: problem`; empty when the schema is structural. */
export function structuralProblems(schema: unknown): string[] {
  const problems: string[] = []
  if (!isNode(schema)) return ['openAPIV3Schema: must be an object']
  if (schema.type !== 'object') problems.push('openAPIV3Schema.type: must be object')
  const root = schema.properties
  if (isNode(root) && isNode(root.metadata)) {
    const extra = Object.keys(root.metadata).filter((k) => k !== 'type')
    if (root.metadata.type !== 'object' || extra.length > 0) problems.push('openAPIV3Schema.properties[metadata]: must only be {type: object}')
  }
  check(schema, 'openAPIV3Schema', false, problems)
  return problems
}

function check(node: Node, path: string, inJunctor: boolean, problems: string[]): void {
  for (const key of FORBIDDEN) if (key in node) problems.push(`${path}.${key}: forbidden`)
  if (node.uniqueItems === true) problems.push(`${path}.uniqueItems: cannot be true (use x-kubernetes-list-type: set)`)
  if (node['x-kubernetes-preserve-unknown-fields'] === false) problems.push(`${path}.x-kubernetes-preserve-unknown-fields: must be true or unset`)
  const free = node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true
  if (inJunctor) {
    for (const key of ['type', 'additionalProperties', 'description', 'default', 'nullable', 'x-kubernetes-preserve-unknown-fields'])
      if (key in node) problems.push(`${path}.${key}: must not be set inside anyOf/oneOf/allOf/not`)
  } else if (node.type === undefined) {
    if (!free) problems.push(`${path}.type: Required value: must not be empty for specified object fields`)
  } else if (typeof node.type !== 'string' || !(TYPES as readonly string[]).includes(node.type)) {
    problems.push(`${path}.type: must be one of ${TYPES.join(', ')}`)
  }
  if ('properties' in node && 'additionalProperties' in node) problems.push(`${path}: properties and additionalProperties are mutually exclusive`)
  if (node.additionalProperties === false) problems.push(`${path}.additionalProperties: false is not allowed (unknown fields are pruned)`)
  if ('properties' in node || 'additionalProperties' in node) {
    if (!inJunctor && node.type !== 'object') problems.push(`${path}.type: must be object when properties are given`)
  }
  if ('items' in node && node.type !== 'array' && !inJunctor) problems.push(`${path}.type: must be array when items are given`)
  if (node.type === 'array' && !isNode(node.items)) problems.push(`${path}.items: must be a single schema`)
  const listType = node['x-kubernetes-list-type']
  const mapKeys = node['x-kubernetes-list-map-keys']
  if (listType !== undefined && !['atomic', 'set', 'map'].includes(listType as string)) problems.push(`${path}.x-kubernetes-list-type: unsupported ${JSON.stringify(listType)}`)
  if (listType === 'map') {
    const items = isNode(node.items) ? node.items : {}
    const props = isNode(items.properties) ? items.properties : {}
    const required = Array.isArray(items.required) ? (items.required as unknown[]) : []
    if (items.type !== 'object') problems.push(`${path}.items.type: must be object for x-kubernetes-list-type: map`)
    if (!Array.isArray(mapKeys) || mapKeys.length === 0) problems.push(`${path}.x-kubernetes-list-map-keys: Required value for x-kubernetes-list-type: map`)
    else
      for (const key of mapKeys as unknown[]) {
        const prop = props[String(key)]
        if (!isNode(prop)) problems.push(`${path}.x-kubernetes-list-map-keys: ${String(key)} is not a property of items`)
        else if (!['string', 'integer', 'number', 'boolean'].includes(String(prop.type))) problems.push(`${path}.x-kubernetes-list-map-keys: ${String(key)} must be a scalar`)
        else if (!required.includes(key) && prop.default === undefined) problems.push(`${path}.x-kubernetes-list-map-keys: ${String(key)} must be required or have a default`)
      }
  } else if (mapKeys !== undefined) problems.push(`${path}.x-kubernetes-list-map-keys: only with x-kubernetes-list-type: map`)
  if (isNode(node.properties)) for (const [name, child] of Object.entries(node.properties)) if (isNode(child)) check(child, `${path}.properties[${name}]`, inJunctor, problems)
  if (isNode(node.additionalProperties)) check(node.additionalProperties, `${path}.additionalProperties`, inJunctor, problems)
  if (isNode(node.items)) check(node.items, `${path}.items`, inJunctor, problems)
  for (const junctor of ['anyOf', 'oneOf', 'allOf'])
    if (Array.isArray(node[junctor])) (node[junctor] as unknown[]).forEach((c, i) => isNode(c) && check(c, `${path}.${junctor}[${i}]`, true, problems))
  if (isNode(node.not)) check(node.not, `${path}.not`, true, problems)
}

/**
 * Removes fields the schema does not declare (in place) and returns their paths, as the API
 * server does before validation. apiVersion, kind and metadata are the server's own.
 */
export function prune(value: unknown, schema: Node, path = '', root = true): string[] {
  const unknown: string[] = []
  if (Array.isArray(value)) {
    if (isNode(schema.items)) value.forEach((item, i) => unknown.push(...prune(item, schema.items as Node, `${path}[${i}]`, false)))
    return unknown
  }
  if (!isNode(value)) return unknown
  const keep = schema['x-kubernetes-preserve-unknown-fields'] === true
  const props = isNode(schema.properties) ? schema.properties : undefined
  for (const key of Object.keys(value)) {
    const childPath = path === '' ? key : `${path}.${key}`
    if (root && ['apiVersion', 'kind', 'metadata'].includes(key)) continue
    const child = props?.[key] ?? (isNode(schema.additionalProperties) ? schema.additionalProperties : undefined)
    if (isNode(child)) unknown.push(...prune(value[key], child, childPath, false))
    else if (schema.additionalProperties === true || keep) continue
    else {
      unknown.push(childPath)
      delete value[key]
    }
  }
  return unknown
}

/** `x-kubernetes-list-type: map|set` uniqueness, which plain JSON Schema cannot express. */
function listProblems(value: unknown, schema: Node, path: string, causes: StatusCause[]): void {
  if (Array.isArray(value)) {
    const type = schema['x-kubernetes-list-type']
    const keys = Array.isArray(schema['x-kubernetes-list-map-keys']) ? (schema['x-kubernetes-list-map-keys'] as string[]) : []
    const seen = new Set<string>()
    value.forEach((item, i) => {
      let id: string | undefined
      if (type === 'set') id = JSON.stringify(item)
      if (type === 'map' && isNode(item)) id = JSON.stringify(keys.map((k) => item[k]))
      if (id !== undefined) {
        if (seen.has(id)) {
          const shown = type === 'map' && isNode(item) ? `map[string]interface {}{${keys.map((k) => `"${k}":${JSON.stringify(item[k])}`).join(', ')}}` : JSON.stringify(item)
          causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${shown}`, field: `${path}[${i}]` })
        }
        seen.add(id)
      }
      if (isNode(schema.items)) listProblems(item, schema.items, `${path}[${i}]`, causes)
    })
  } else if (isNode(value)) {
    const props = isNode(schema.properties) ? schema.properties : {}
    for (const [key, child] of Object.entries(value)) {
      const sub = props[key] ?? schema.additionalProperties
      if (isNode(sub)) listProblems(child, sub, path === '' ? key : `${path}.${key}`, causes)
    }
  }
}

function fieldOf(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, t) => (/^\d+$/.test(t) ? `${acc}[${t}]` : acc === '' ? t : `${acc}.${t}`), '')
}

function causeOf(e: ErrorObject, doc: unknown): StatusCause {
  const field = fieldOf(e.instancePath)
  const value = e.instancePath
    .split('/')
    .slice(1)
    .reduce<unknown>((node, t) => (isNode(node) ? node[t] : Array.isArray(node) ? (node as unknown[])[Number(t)] : undefined), doc)
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty
      return { reason: 'FieldValueRequired', message: 'Required value', field: field === '' ? missing : `${field}.${missing}` }
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')
      return { reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed}`, field }
    }
    case 'type': {
      const type = (e.params as { type: string }).type
      return { reason: 'FieldValueTypeInvalid', message: `Invalid value: ${JSON.stringify(typeof value)}: ${field} in body must be of type ${type}: ${JSON.stringify(typeof value)}`, field }
    }
    default:
      return { reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${field} in body ${e.message ?? 'is invalid'}`, field }
  }
}

export type ObjectValidator = (doc: unknown) => StatusCause[]

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false })

/** A validator for one CRD version's openAPIV3Schema: the causes of a 422, empty when valid. */
export function compileValidator(schema: Node): ObjectValidator {
  const { properties, ...rest } = schema
  // metadata is validated by the server (name, namespace); a CRD cannot constrain it.
  const props = isNode(properties) ? { ...properties } : {}
  delete props.metadata
  const check = ajv.compile({ ...rest, properties: props })
  return (doc) => {
    const causes: StatusCause[] = []
    if (!check(doc)) causes.push(...(check.errors ?? []).map((e) => causeOf(e, doc)))
    listProblems(doc, schema, '', causes)
    return causes
  }
}
