/** Patch formats the API server accepts for custom resources: pure functions of data. */
import { badRequest, ApiError } from './status.js'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

function isRecord(value: unknown): value is { [key: string]: Json } {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isRecord(patch)) return patch
  const out: { [key: string]: Json } = isRecord(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else out[key] = mergePatch(out[key] ?? null, value)
  }
  return out
}

interface Operation {
  op: string
  path: string
  from?: string
  value?: Json
}

function pointer(path: string): string[] {
  if (path === '') return []
  if (!path.startsWith('/')) throw badRequest(`invalid JSON pointer ${JSON.stringify(path)}`)
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function clone<T extends Json>(value: T): T {
  return structuredClone(value)
}

function parentOf(doc: Json, tokens: string[], path: string): { parent: Json[] | { [key: string]: Json }; key: string } {
  let node: Json = doc
  for (const token of tokens.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(node) ? node[Number(token)] : isRecord(node) ? node[token] : undefined
    if (next === undefined) throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: doc is missing path: "${path}"`)
    node = next
  }
  if (!Array.isArray(node) && !isRecord(node)) throw new ApiError(422, 'Invalid', `doc is missing path: "${path}"`)
  return { parent: node, key: tokens[tokens.length - 1] ?? '' }
}

function getAt(doc: Json, path: string): Json {
  let node: Json | undefined = doc
  for (const token of pointer(path)) node = Array.isArray(node) ? node[Number(token)] : isRecord(node) ? node[token] : undefined
  if (node === undefined) throw new ApiError(422, 'Invalid', `doc is missing path: "${path}"`)
  return node
}

function arrayIndex(array: Json[], key: string, forInsert: boolean, path: string): number {
  if (forInsert && key === '-') return array.length
  const index = Number(key)
  const max = forInsert ? array.length : array.length - 1
  if (!/^(0|[1-9][0-9]*)$/.test(key) || index > max) throw new ApiError(422, 'Invalid', `index out of range at "${path}"`)
  return index
}

function removeAt(doc: Json, path: string): Json {
  const tokens = pointer(path)
  if (tokens.length === 0) return null
  const { parent, key } = parentOf(doc, tokens, path)
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false, path), 1)
  else {
    if (!(key in parent)) throw new ApiError(422, 'Invalid', `doc is missing key: "${path}"`)
    delete parent[key]
  }
  return doc
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const tokens = pointer(path)
  if (tokens.length === 0) return value
  const { parent, key } = parentOf(doc, tokens, path)
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, key, !replace, path)
    parent.splice(index, replace ? 1 : 0, value)
  } else {
    if (replace && !(key in parent)) throw new ApiError(422, 'Invalid', `doc is missing key: "${path}"`)
    parent[key] = value
  }
  return doc
}

/** RFC 6902 JSON patch; a failed `test` or a missing path fails the whole patch (nothing applied). */
export function jsonPatch(target: Json, operations: unknown): Json {
  if (!Array.isArray(operations)) throw badRequest('json patch must be an array of operations')
  let doc = clone(target)
  for (const raw of operations as unknown[]) {
    if (!isRecord(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw badRequest('invalid json patch operation')
    const op = raw as unknown as Operation
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, clone(op.value ?? null), false)
        break
      case 'replace':
        doc = addAt(doc, op.path, clone(op.value ?? null), true)
        break
      case 'remove':
        doc = removeAt(doc, op.path)
        break
      case 'move': {
        const value = getAt(doc, op.from ?? '')
        doc = addAt(removeAt(doc, op.from ?? ''), op.path, value, false)
        break
      }
      case 'copy':
        doc = addAt(doc, op.path, clone(getAt(doc, op.from ?? '')), false)
        break
      case 'test':
        if (JSON.stringify(canonical(getAt(doc, op.path))) !== JSON.stringify(canonical(op.value ?? null)))
          throw new ApiError(422, 'Invalid', `testing value ${op.path} failed`)
        break
      default:
        throw badRequest(`unexpected json patch operation ${JSON.stringify(op.op)}`)
    }
  }
  return doc
}

/** Key-order-independent form for equality checks. */
export function canonical(value: Json): Json {
  if (Array.isArray(value)) return value.map(canonical)
  if (!isRecord(value)) return value
  const out: { [key: string]: Json } = {}
  for (const key of Object.keys(value).sort()) out[key] = canonical(value[key] ?? null)
  return out
}

export function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
}
