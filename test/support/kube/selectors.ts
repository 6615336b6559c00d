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

/** Custom resources support `metadata.name` and `metadata.namespace` field selectors only. */
export function fieldSelector(text: string | null): Selector {
  if (text === null || text.trim() === '') return () => true
  const tests = splitTerms(text).map((term): Selector => {
    const m = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/.exec(term)
    if (m === null) throw badRequest(`"${term.split(/[!=]/)[0] ?? term}" is not a known field selector: only "metadata.name", "metadata.namespace"`)
    const [, field = '', op, value = ''] = m
    const key = field === 'metadata.name' ? 'name' : 'namespace'
    return op === '!=' ? (o) => o.metadata[key] !== value : (o) => (o.metadata[key] ?? '') === value
  })
  return (object) => tests.every((t) => t(object))
}
