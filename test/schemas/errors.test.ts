import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { inspect } from 'node:util'
import { ErrorCodes, isErrorCode } from '../../schemas/errors.js'

const ROOT = resolve(import.meta.dirname, '../..')
/** The folders of tern's own code (tests, scripts and benchmarks are not what users see). */
const SOURCES = ['broker', 'cli', 'cloud-sync', 'edged', 'mappers', 'metrics', 'schemas', 'twin', 'web']

function sourceFiles(dir: string): string[] {
  const found: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) found.push(...(entry.name === 'generated' ? [] : sourceFiles(path)))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.push(path)
  }
  return found
}

describe('error catalogue (schemas/errors.ts)', () => {
  // The README promises that every code tern logs or answers with is listed in the catalogue,
  // so a code written as a literal in a log line or a result must be one of its keys.
  it('lists every stable code the code logs or answers with', () => {
    const literal = /\b(?:code|errorCode)\s*:\s*['"]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"]/g
    const missing: string[] = []
    let seen = 0
    for (const file of SOURCES.flatMap((dir) => sourceFiles(join(ROOT, dir)))) {
      for (const [, code] of readFileSync(file, 'utf8').matchAll(literal)) {
        seen++
        if (code !== undefined && !Object.hasOwn(ErrorCodes, code)) missing.push(`${relative(ROOT, file)}: ${code}`)
      }
    }
    assert.ok(seen > 50, `only ${seen} code literals found: the pattern no longer matches how codes are written`)
    assert.deepEqual(missing, [])
  })

  it('isErrorCode takes the catalogue’s own codes and nothing else: a peer’s answer may carry any string', () => {
    for (const code of Object.keys(ErrorCodes)) assert.equal(isErrorCode(code), true, code)
    // names every object inherits: `code in ErrorCodes` took them for codes
    for (const value of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf', '', 'join_failed', 42, null, undefined, {}]) {
      assert.equal(isErrorCode(value), false, inspect(value))
    }
  })
})
