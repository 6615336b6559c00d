import type { ErrorObject } from 'ajv'

/**
 * A validator ajv compiled at build time from a schema of schemas/validated.ts: import it from
 * schemas/generated/validators.js. It fills defaults in place and leaves its problems in `errors`.
 */
export interface Precompiled<T> {
  (doc: unknown): doc is T
  errors?: ErrorObject[] | null
}

/** One problem found in a document, with the JSON path of the offending value. */
export interface Problem {
  path: string
  message: string
}

export type Validation<T> = { ok: true; value: T } | { ok: false; problems: Problem[] }

export interface Validator<T> {
  (doc: unknown): Validation<T>
}

/** A validator that fills defaults in place and reports every problem, each with its path. */
export function validator<T>(check: Precompiled<T>): Validator<T> {
  return (doc) => (check(doc) ? { ok: true, value: doc } : { ok: false, problems: toProblems(check.errors) })
}

function toProblems(errors: ErrorObject[] | null | undefined): Problem[] {
  return pruneAnyOf(errors ?? []).map((e) => {
    const base = e.instancePath === '' ? '/' : e.instancePath
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty
      return { path: joinPath(e.instancePath, key), message: 'unknown key' }
    }
    if (e.keyword === 'required') {
      const key = (e.params as { missingProperty: string }).missingProperty
      return { path: joinPath(e.instancePath, key), message: 'is required' }
    }
    if (e.keyword === 'enum' || e.keyword === 'const') {
      return { path: base, message: `${e.message ?? 'is not allowed'}: ${JSON.stringify(e.params)}` }
    }
    return { path: base, message: e.message ?? e.keyword }
  })
}

/**
 * ajv reports a value that matches no branch of an anyOf with every branch's errors and a summary
 * ("must match a schema in anyOf"): for `http: { listen: nope }` also "must be boolean" and "must
 * be equal to constant false", which only say the object is not `false`. Where some branch has the
 * value's shape (none of its errors says the value itself has the wrong type or constant), only
 * those branches' errors are kept; where none has, one problem names what the value may be.
 */
function pruneAnyOf(errors: ErrorObject[]): ErrorObject[] {
  const dropped = new Set<ErrorObject>()
  const kept: ErrorObject[] = []
  const outerFirst = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length)
  const merged = new Map<ErrorObject, ErrorObject>()
  for (const anyOf of outerFirst) {
    if (dropped.has(anyOf)) continue
    const branches = new Map<string, ErrorObject[]>()
    for (const e of errors) {
      if (dropped.has(e) || !e.schemaPath.startsWith(`${anyOf.schemaPath}/`)) continue
      const branch = e.schemaPath.slice(anyOf.schemaPath.length + 1).split('/')[0] ?? ''
      branches.set(branch, [...(branches.get(branch) ?? []), e])
    }
    const shapeless = (e: ErrorObject): boolean => e.instancePath === anyOf.instancePath && (e.keyword === 'type' || e.keyword === 'const' || e.keyword === 'enum')
    const shaped = [...branches.values()].filter((list) => !list.some(shapeless))
    const drop = shaped.length > 0 ? [...branches.values()].filter((list) => !shaped.includes(list)).flat() : [...branches.values()].flat()
    for (const e of drop) dropped.add(e)
    dropped.add(anyOf)
    if (shaped.length === 0) {
      // one word per branch: its constant or enum where it has one (they imply its type)
      const precise = (list: ErrorObject[]): ErrorObject => list.find((e) => e.keyword === 'const' || e.keyword === 'enum') ?? list.find(shapeless) ?? (list[0] as ErrorObject)
      const expected = [...new Set([...branches.values()].map((list) => expectation(precise(list))))].join(', or ')
      merged.set(anyOf, { ...anyOf, keyword: 'anyOf', message: `must be ${expected}` })
    }
  }
  for (const e of errors) {
    if (!dropped.has(e)) kept.push(e)
    const replacement = merged.get(e)
    if (replacement !== undefined) kept.push(replacement)
  }
  return kept
}

/** What a branch's shallow error asks of the value: "a boolean", "false". */
function expectation(e: ErrorObject): string {
  const params = e.params as { type?: string; allowedValue?: unknown; allowedValues?: unknown[] }
  if (e.keyword === 'type' && params.type !== undefined) return /^[aeiou]/.test(params.type) ? `an ${params.type}` : `a ${params.type}`
  if (e.keyword === 'const') return JSON.stringify(params.allowedValue)
  if (e.keyword === 'enum') return `one of ${JSON.stringify(params.allowedValues)}`
  return (e.message ?? e.keyword).replace(/^must (be )?/, '')
}

function joinPath(parent: string, key: string): string {
  return `${parent}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`
}

/** Renders problems one per line, as the CLI prints them. */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')
}
