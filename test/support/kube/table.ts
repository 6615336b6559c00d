/**
 * `meta.k8s.io/v1` Table responses (what `kubectl get` asks for with `Accept: …;as=Table`),
 * built from a CRD's additionalPrinterColumns the way apiextensions-apiserver's tableconvertor does,
 * or from a built-in type's computed columns (core-types.ts).
 */
import type { Json } from './patch.js'
import type { PrinterColumn, ResourceType } from './registry.js'
import type { KubeObject } from './store.js'

export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept)
}

/** `.spec.deviceModelRef.name`-style paths; anything fancier renders as missing. */
function lookup(object: Json, path: string): Json | undefined {
  let node: Json | undefined = object
  for (const part of path.replace(/^\{?\./, '').replace(/\}$/, '').split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined
    node = node[part]
  }
  return node
}

/** apimachinery's duration.HumanDuration, roughly: 42s, 5m, 3h, 4d. */
function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 120) return `${s}s`
  if (s < 3600 * 3) return `${Math.floor(s / 60)}m`
  if (s < 86400 * 2) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86400)}d`
}

function cell(object: KubeObject, column: PrinterColumn): Json {
  const value = column.value === undefined ? lookup(object, column.jsonPath) : column.value(object)
  if (value === undefined) return null
  if (column.type === 'date' && typeof value === 'string') {
    const t = Date.parse(value)
    return Number.isNaN(t) ? '<unknown>' : humanDuration(Date.now() - t)
  }
  return typeof value === 'object' ? JSON.stringify(value) : value
}

export interface ListMeta {
  resourceVersion: string
  continue?: string
  remainingItemCount?: number
}

function columnsOf(type: ResourceType): PrinterColumn[] {
  return [{ name: 'Name', type: 'string', jsonPath: '.metadata.name', description: 'Name must be unique within a namespace.' }, ...type.columns]
}

/** `metadata`: the list's (a paged list's continue and remainingItemCount included). */
export function toTable(type: ResourceType, objects: KubeObject[], metadata: ListMeta, withColumns = true): Json {
  const columns = columnsOf(type)
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { ...metadata },
    columnDefinitions: withColumns
      ? columns.map((c) => ({ name: c.name, type: c.type === 'date' ? 'date' : c.type, format: c.name === 'Name' ? 'name' : '', description: c.description ?? '', priority: c.priority ?? 0 }))
      : [],
    rows: objects.map((o) => ({
      cells: columns.map((c) => cell(o, c)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  }
}
