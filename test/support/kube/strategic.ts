/**
 * Strategic merge patch as kube-apiserver applies it to a built-in kind (k8s.io/apimachinery
 * pkg/util/strategicpatch, mergeMap / mergeSlice), for the lists the kind merges by key: a Go field
 * tagged patchStrategy=merge with a patchMergeKey, given here as `mergeKeys` by path
 * (`status.addresses` → `type`). Every other list is replaced, as a list without a strategy is.
 *
 * - maps merge key by key; `null` deletes a key; `{"$patch": "replace"}` replaces the whole map and
 *   `{"$patch": "delete"}` removes it; `$retainKeys` drops the keys it does not list;
 * - a keyed list merges element by element on the key: an element whose key the list has is merged
 *   into it, a new one is added; elements of the list the patch does not name stay (so an address
 *   missing from a patch of Node addresses stays on the Node); an element `{"$patch": "replace"}`
 *   makes the patch's elements the whole list, `{"$patch": "delete", <key>: v}` removes v;
 *   `$setElementOrder/<list>` orders the elements it names; `$deleteFromPrimitiveList/<list>`
 *   removes values from a list of scalars;
 * - a field the object does not have yet takes the patch's value as it is: directives in it are
 *   not applied (the server decodes the result, dropping the unknown `$patch`, so a lone
 *   `{"$patch": "replace"}` element becomes an empty one). This is why the kubelet adds the replace
 *   directive to Node addresses only when the Node has addresses.
 */
import { badRequest } from './status.js'
import type { Json } from './patch.js'

type Rec = { [key: string]: Json }

/** A built-in kind's keyed lists: path of the list (dot-separated, from the object's root) → its merge key. */
export type MergeKeys = Readonly<Record<string, string>>

const isRecord = (value: Json | undefined): value is Rec => value !== null && value !== undefined && typeof value === 'object' && !Array.isArray(value)

const SET_ORDER = '$setElementOrder/'
const DELETE_FROM = '$deleteFromPrimitiveList/'

/** A value with the `$` keys of its maps dropped, as decoding it into a Go type drops them. */
function withoutDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutDirectives)
  if (!isRecord(value)) return value
  const out: Rec = {}
  for (const [key, v] of Object.entries(value)) if (!key.startsWith('$')) out[key] = withoutDirectives(v)
  return out
}

export function strategicMergePatch(target: Json, patch: Json, keys: MergeKeys): Json {
  return mergeValue(target, patch, keys, '')
}

function mergeValue(target: Json | undefined, patch: Json, keys: MergeKeys, path: string): Json {
  if (!isRecord(patch)) return Array.isArray(patch) ? withoutDirectives(patch) : patch
  if (patch.$patch === 'replace') return withoutDirectives(patch)
  if (patch.$patch !== undefined && patch.$patch !== 'merge') throw badRequest(`unknown patch type: ${JSON.stringify(patch.$patch)} in map`)
  const out: Rec = isRecord(target) ? { ...target } : {}
  const retain = patch.$retainKeys
  if (Array.isArray(retain)) for (const key of Object.keys(out)) if (!retain.includes(key)) delete out[key]
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(DELETE_FROM)) {
      const field = key.slice(DELETE_FROM.length)
      const list = out[field]
      if (Array.isArray(list) && Array.isArray(value)) out[field] = list.filter((v) => !value.includes(v))
      continue
    }
    if (key.startsWith('$')) continue
    const at = path === '' ? key : `${path}.${key}`
    const before = out[key]
    if (value === null) delete out[key]
    else if (isRecord(value) && value.$patch === 'delete') delete out[key]
    else if (before === undefined) out[key] = withoutDirectives(value)
    else if (Array.isArray(value) && Array.isArray(before) && keys[at] !== undefined) out[key] = mergeList(before, value, keys[at], order(patch, key))
    else out[key] = mergeValue(before, value, keys, at)
  }
  // an order given for a list the patch does not touch still orders it
  for (const [key, value] of Object.entries(patch)) {
    if (!key.startsWith(SET_ORDER)) continue
    const field = key.slice(SET_ORDER.length)
    const mergeKey = keys[path === '' ? field : `${path}.${field}`]
    const list = out[field]
    if (patch[field] === undefined && mergeKey !== undefined && Array.isArray(list) && Array.isArray(value)) out[field] = mergeList(list, [], mergeKey, value)
  }
  return out
}

function order(patch: Rec, field: string): Json[] | undefined {
  const given = patch[SET_ORDER + field]
  return Array.isArray(given) ? given : undefined
}

const keyOf = (item: Json, key: string): Json | undefined => (isRecord(item) ? item[key] : undefined)

/** mergeSlice for a keyed list of maps; `setOrder`: the patch's `$setElementOrder` for it. */
function mergeList(original: Json[], patch: Json[], key: string, setOrder: Json[] | undefined): Json[] {
  let base = original
  const items: Rec[] = []
  let replace = false
  for (const element of patch) {
    if (!isRecord(element)) throw badRequest(`the elements of a list merged by ${key} must be maps`)
    const directive = element.$patch
    if (directive === undefined) items.push(element)
    else if (directive === 'replace') replace = true
    else if (directive === 'delete') {
      if (element[key] === undefined) throw badRequest(`map: ${JSON.stringify(element)} does not contain declared merge key: ${key}`)
      base = base.filter((o) => keyOf(o, key) !== element[key])
    } else throw badRequest(`unknown patch type: ${JSON.stringify(directive)} in list`)
  }
  if (replace) return items.map((i) => withoutDirectives(i))
  const merged = [...base]
  for (const item of items) {
    if (item[key] === undefined) throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`)
    const at = merged.findIndex((o) => keyOf(o, key) === item[key])
    if (at >= 0) merged[at] = mergeValue(merged[at], item, {}, '')
    else merged.push(withoutDirectives(item))
  }
  return normalizeOrder(merged, setOrder ?? items, base, key)
}

/**
 * normalizeElementOrder: the elements the patch names in its order, those only the server has in
 * theirs, interleaved where the server's order places both (mergeSortedSlice).
 */
function normalizeOrder(merged: Json[], patchOrder: Json[], serverOrder: Json[], key: string): Json[] {
  const index = (list: Json[], item: Json): number => list.findIndex((o) => keyOf(o, key) === keyOf(item, key))
  const named = merged.filter((m) => index(patchOrder, m) >= 0).sort((a, b) => index(patchOrder, a) - index(patchOrder, b))
  const serverOnly = merged.filter((m) => index(patchOrder, m) < 0).sort((a, b) => index(serverOrder, a) - index(serverOrder, b))
  const out: Json[] = []
  let i = 0
  let j = 0
  while (i < named.length || j < serverOnly.length) {
    const left = named[i]
    const right = serverOnly[j]
    if (left !== undefined && (right === undefined || (index(serverOrder, left) >= 0 && index(serverOrder, right) >= 0 && index(serverOrder, left) < index(serverOrder, right)))) {
      out.push(left)
      i++
    } else {
      out.push(right as Json)
      j++
    }
  }
  return out
}
