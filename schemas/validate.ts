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
  return (errors ?? []).map((e) => {
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

function joinPath(parent: string, key: string): string {
  return `${parent}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`
}

/** Renders problems one per line, as the CLI prints them. */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')
}
