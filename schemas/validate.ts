import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { TSchema, Static } from '@sinclair/typebox'

// ajv-formats is CommonJS with a default export
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

const ajv = addFormats(new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true }))
ajv.addKeyword('kind').addKeyword('modifier')

/** One problem found in a document, with the JSON path of the offending value. */
export interface Problem {
  path: string
  message: string
}

export type Validation<T> = { ok: true; value: T } | { ok: false; problems: Problem[] }

export interface Validator<T> {
  (doc: unknown): Validation<T>
}

/**
 * A validator for `schema`; the returned function fills defaults in place and reports every
 * problem. The schema is compiled on first use, not at module load: start-up pays only for the
 * validators it needs.
 */
export function compile<S extends TSchema>(schema: S): Validator<Static<S>> {
  let check: ValidateFunction | undefined
  return (doc) => {
    check ??= ajv.compile(schema)
    return check(doc) ? { ok: true, value: doc as Static<S> } : { ok: false, problems: toProblems(check.errors) }
  }
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
