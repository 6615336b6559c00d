/**
 * CustomResourceDefinitions for Device and DeviceModel, generated from the TypeBox schemas in
 * schemas/device.ts (DESIGN.md §5: the JSON Schema is the single source of truth). Called by
 * gen-schemas.ts, which writes or `--check`s the YAML under deploy/crds/.
 *
 * The conversion yields a structural schema (Kubernetes "Specifying a structural schema"):
 * every node has a `type`, free-form maps become `x-kubernetes-preserve-unknown-fields`,
 * `metadata` carries no restrictions beyond `type: object`, no `$schema`/`$id`/`const`, and
 * `additionalProperties` only where `properties` is absent. Lists of objects keyed by a required
 * `name` (or `propertyName`) become `x-kubernetes-list-type: map`, so the API server enforces the
 * unique property names that KubeEdge's admission webhook checks.
 */
import type { TSchema } from '@sinclair/typebox'
import { stringify } from 'yaml'
import { Device, DeviceModel } from '../schemas/device.js'

export const GROUP = 'devices.kubeedge.io'
export const VERSION = 'v1beta1'

type Json = Record<string, unknown>

/** Keywords copied unchanged (value validations that structural schemas allow). */
const COPIED = ['description', 'enum', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'format', 'default'] as const
const LIST_MAP_KEYS = ['name', 'propertyName'] as const

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** TypeBox's `Type.Record(Type.String(), X)`: `patternProperties` with its catch-all key. */
function recordValue(schema: Json): unknown {
  const pattern = schema.patternProperties
  if (!isObject(pattern)) return undefined
  const keys = Object.keys(pattern)
  if (keys.length !== 1 || keys[0] !== '^(.*)$') throw new Error(`unsupported patternProperties ${JSON.stringify(keys)}`)
  return pattern['^(.*)$']
}

/** Converts a JSON Schema node (TypeBox output) to a structural CRD schema node; throws on anything it cannot express. */
export function toStructural(input: unknown, path = ''): Json {
  if (!isObject(input)) throw new Error(`${path}: schema is not an object`)
  if ('anyOf' in input || 'oneOf' in input || 'allOf' in input || 'not' in input) throw new Error(`${path}: unions are not structural`)
  const type = input.type
  // Type.Unknown(): anything goes.
  if (type === undefined) return { 'x-kubernetes-preserve-unknown-fields': true }
  if (typeof type !== 'string') throw new Error(`${path}: type must be a single string`)
  const out: Json = { type }
  for (const key of COPIED) if (input[key] !== undefined) out[key] = input[key]
  if (type === 'integer') out.format = 'int64'
  if (type === 'array') {
    const items = toStructural(input.items, `${path}[]`)
    out.items = items
    const required = Array.isArray(items.required) ? (items.required as string[]) : []
    const key = LIST_MAP_KEYS.find((k) => required.includes(k))
    if (items.type === 'object' && key !== undefined) {
      out['x-kubernetes-list-type'] = 'map'
      out['x-kubernetes-list-map-keys'] = [key]
    }
  }
  if (type === 'object') {
    const properties = input.properties
    const value = recordValue(input)
    if (isObject(properties)) {
      const converted: Json = {}
      for (const [name, child] of Object.entries(properties)) converted[name] = toStructural(child, `${path}.${name}`)
      out.properties = converted
      if (Array.isArray(input.required) && input.required.length > 0) {
        // A key with a default is filled in by the server, so a manifest may omit it.
        const required = (input.required as string[]).filter((k) => (converted[k] as Json | undefined)?.default === undefined)
        if (required.length > 0) out.required = required
      }
      // Keys outside `properties` are pruned; `additionalProperties: true` must be spelled this way.
      if (input.additionalProperties === true) out['x-kubernetes-preserve-unknown-fields'] = true
    } else if (value !== undefined) {
      const converted = toStructural(value, `${path}.*`)
      if (converted['x-kubernetes-preserve-unknown-fields'] === true && converted.type === undefined) out['x-kubernetes-preserve-unknown-fields'] = true
      else out.additionalProperties = converted
    } else {
      out['x-kubernetes-preserve-unknown-fields'] = true
    }
  }
  return out
}

/** The schema of a whole resource: apiVersion/kind/metadata are the API server's business. */
function resourceSchema(schema: TSchema): Json {
  const plain = JSON.parse(JSON.stringify(schema)) as Json
  // ObjectMeta is validated by the API server itself; a CRD may not restrict it further.
  const { metadata: _metadata, ...rest } = plain.properties as Json
  const converted = toStructural({ ...plain, properties: rest })
  const properties = { ...(converted.properties as Json) }
  properties.apiVersion = { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' }
  properties.kind = { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' }
  properties.metadata = { type: 'object' }
  const required = ((converted.required as string[] | undefined) ?? []).filter((k) => !['apiVersion', 'kind', 'metadata'].includes(k))
  return { type: 'object', ...(required.length > 0 ? { required } : {}), properties }
}

interface CrdOptions {
  kind: string
  plural: string
  schema: TSchema
  status: boolean
  columns: { name: string; type: string; jsonPath: string; description?: string }[]
}

export function crd(options: CrdOptions): Json {
  const { kind, plural, schema, status, columns } = options
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'tern' } },
    spec: {
      group: GROUP,
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: resourceSchema(schema) },
          ...(status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: columns,
        },
      ],
    },
  }
}

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }

export const deviceCrd = crd({
  kind: 'Device',
  plural: 'devices',
  schema: Device,
  status: true,
  columns: [
    { name: 'Node', type: 'string', jsonPath: '.spec.nodeName', description: 'edge node that owns the device' },
    { name: 'Model', type: 'string', jsonPath: '.spec.deviceModelRef.name' },
    { name: 'State', type: 'string', jsonPath: '.status.state' },
    age,
  ],
})

export const deviceModelCrd = crd({
  kind: 'DeviceModel',
  plural: 'devicemodels',
  schema: DeviceModel,
  status: false,
  columns: [{ name: 'Protocol', type: 'string', jsonPath: '.spec.protocol' }, age],
})

/** File (relative to the repository root) → YAML text. */
export function crdManifests(): Record<string, string> {
  const header = '# Generated by scripts/gen-schemas.ts from schemas/device.ts; do not edit (npm run gen).\n'
  return {
    'deploy/crds/devices.devices.kubeedge.io.yaml': header + stringify(deviceCrd, { lineWidth: 0 }),
    'deploy/crds/devicemodels.devices.kubeedge.io.yaml': header + stringify(deviceModelCrd, { lineWidth: 0 }),
  }
}
