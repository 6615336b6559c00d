/** Label and field selectors (`?labelSelector=`, `?fieldSelector=`) as list and watch apply them. */
import type { KubeObject } from './store.js'
import { badRequest } from './status.js'

export type Selector = (object: KubeObject) => boolean

function splitTerms(text: string): string[] {
  const terms: string[] = []
  let depth = 0
  let current = ''
  for (const ch of text) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      terms.push(current.trim())
      current = ''
    } else current += ch
  }
  if (current.trim() !== '') terms.push(current.trim())
  return terms
}

/** `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, comma = AND. */
export function labelSelector(text: string | null): Selector {
  if (text === null || text.trim() === '') return () => true
  const tests = splitTerms(text).map((term): ((labels: Record<string, unknown>) => boolean) => {
    let m: RegExpMatchArray | null
    if ((m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term))) {
      const [, key = '', op, list = ''] = m
      const values = list.split(',').map((v) => v.trim())
      return op === 'in' ? (l) => values.includes(String(l[key])) : (l) => !(key in l) || !values.includes(String(l[key]))
    }
    if ((m = /^([^\s!=]+)\s*!=\s*(\S*)$/.exec(term))) {
      const [, key = '', value = ''] = m
      return (l) => l[key] !== value
    }
    if ((m = /^([^\s!=]+)\s*==?\s*(\S*)$/.exec(term))) {
      const [, key = '', value = ''] = m
      return (l) => l[key] === value
    }
    if ((m = /^!([^\s!=]+)$/.exec(term))) {
      const key = m[1] ?? ''
      return (l) => !(key in l)
    }
    if (/^[^\s!=()]+$/.test(term)) return (l) => term in l
    throw badRequest(`unable to parse requirement: ${JSON.stringify(term)}`)
  })
  return (object) => {
    const labels = object.metadata.labels
    const l = labels !== null && typeof labels === 'object' && !Array.isArray(labels) ? labels : {}
    return tests.every((t) => t(l))
  }
}

/** A dotted path (`spec.nodeName`) of an object as a field selector compares it: absent = "". */
function fieldValue(object: KubeObject, path: string): string {
  let node: unknown = object
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return ''
    node = (node as Record<string, unknown>)[part]
  }
  return node === undefined || node === null ? '' : typeof node === 'string' ? node : JSON.stringify(node)
}

/**
 * `metadata.name` and `metadata.namespace` for every resource (all custom resources support), plus
 * the fields a built-in type registers (pods: `spec.nodeName`, `status.phase`, ...), as the API
 * server's field label conversion functions allow them.
 */
export function fieldSelector(text: string | null, extra: readonly string[] = []): Selector {
  if (text === null || text.trim() === '') return () => true
  const known = ['metadata.name', 'metadata.namespace', ...extra]
  const tests = splitTerms(text).map((term): Selector => {
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(term)
    const field = m?.[1] ?? ''
    if (m === null || !known.includes(field)) throw badRequest(`"${term.split(/[!=]/)[0] ?? term}" is not a known field selector: only ${known.map((k) => `"${k}"`).join(', ')}`)
    const [, , op, value = ''] = m
    return op === '!=' ? (o) => fieldValue(o, field) !== value : (o) => fieldValue(o, field) === value
  })
  return (object) => tests.every((t) => t(object))
}
