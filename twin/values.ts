/**
 * Twin key and value validation (kubeedge-compat.md §2.2, §2.5; DESIGN §4.1).
 *
 * Keys keep KubeEdge's rule, `^[A-Za-z0-9-_.,:/@#]{1,128}$`: keys become MQTT-visible JSON keys,
 * LevelDB key parts and Device status entries, and existing clients already live within it. `__proto__`
 * is refused as well, so twin maps can stay plain objects.
 *
 * Values drop KubeEdge's charset whitelist (defect §8.1): any well-formed UTF-8 string of at most
 * 4 KiB. On top of that, a value must fit the twin's own type (what its creator put in
 * `metadata.type`) and the device model's property type with `minimum`/`maximum` (§8.2). Type names
 * are matched case-insensitively, so both the model vocabulary (`INT`, `DOUBLE`, `BYTES`) and
 * KubeEdge's twin vocabulary (`int`, `integer`, `float`, `boolean`, `string`) work.
 */
import type { ErrorCode } from '../schemas/errors.js'
import type { PropertyModel } from './types.js'

export const MAX_VALUE_BYTES = 4096
const KEY = /^[A-Za-z0-9\-_.,:/@#]{1,128}$/

export type ValueKind = 'string' | 'int' | 'float' | 'boolean' | 'bytes'

const kinds: Readonly<Record<string, ValueKind>> = {
  '': 'string',
  string: 'string',
  stream: 'string',
  int: 'int',
  integer: 'int',
  float: 'float',
  double: 'float',
  boolean: 'boolean',
  bytes: 'bytes',
}

/** The value kind a type name stands for; undefined for an unknown name (and for `deleted`). */
export function valueKind(type: string): ValueKind | undefined {
  const name = type.toLowerCase()
  return Object.hasOwn(kinds, name) ? kinds[name] : undefined
}

export interface ValueProblem {
  readonly errorCode: ErrorCode
  readonly reason: string
}

export function checkKey(key: string): ValueProblem | undefined {
  if (KEY.test(key) && key !== '__proto__') return undefined
  return {
    errorCode: 'TWIN_KEY_INVALID',
    reason: 'a twin key must be 1-128 characters of letters, digits and - _ . , : / @ #',
  }
}

/** Checks a type name a request declares for a new twin. */
export function checkType(type: string): ValueProblem | undefined {
  if (valueKind(type) !== undefined) return undefined
  return { errorCode: 'TWIN_TYPE_UNSUPPORTED', reason: `the twin type ${JSON.stringify(type)} is not supported` }
}

/**
 * Checks a value against the twin's type and the model property (if any). Returns the first problem.
 * The twin type is skipped when it is unknown (a record loaded from an older store); the request
 * that declared it was checked with `checkType`.
 */
export function checkValue(value: string, twinType: string, property: PropertyModel | undefined): ValueProblem | undefined {
  if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) {
    return { errorCode: 'TWIN_VALUE_INVALID', reason: `the value is longer than ${MAX_VALUE_BYTES} bytes of UTF-8` }
  }
  if (LONE_SURROGATE.test(value)) {
    return { errorCode: 'TWIN_VALUE_INVALID', reason: 'the value is not well-formed UTF-8 (lone surrogate)' }
  }
  const own = valueKind(twinType)
  if (own !== undefined) {
    const problem = checkKind(value, own, twinType)
    if (problem !== undefined) return problem
  }
  if (property?.type !== undefined) {
    const kind = valueKind(property.type)
    if (kind === undefined) return checkType(property.type)
    const problem = checkKind(value, kind, property.type)
    if (problem !== undefined) return problem
    if (kind === 'int' || kind === 'float') return checkRange(value, kind, property)
  }
  return undefined
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const INT = /^[+-]?\d+$/
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

function checkKind(value: string, kind: ValueKind, typeName: string): ValueProblem | undefined {
  const invalid = (what: string): ValueProblem => ({
    errorCode: 'TWIN_VALUE_INVALID',
    reason: `the value is not ${what} (type ${typeName})`,
  })
  switch (kind) {
    case 'string':
      return undefined
    case 'int': {
      if (!INT.test(value)) return invalid('a base-10 integer')
      const n = BigInt(value)
      return n < INT64_MIN || n > INT64_MAX ? invalid('a 64-bit integer') : undefined
    }
    case 'float':
      return DECIMAL.test(value) && Number.isFinite(Number(value)) ? undefined : invalid('a finite decimal number')
    case 'boolean':
      return value === 'true' || value === 'false' ? undefined : invalid('true or false')
    case 'bytes':
      return BASE64.test(value) ? undefined : invalid('base64')
  }
}

function checkRange(value: string, kind: 'int' | 'float', property: PropertyModel): ValueProblem | undefined {
  // bigint compares exactly with bigint and number; a float value compares as a double
  const n: bigint | number = kind === 'int' ? BigInt(value) : Number(value)
  const min = bound(property.minimum)
  const max = bound(property.maximum)
  if (min !== undefined && n < min) {
    return { errorCode: 'TWIN_VALUE_OUT_OF_RANGE', reason: `the value is below the minimum ${String(property.minimum)}` }
  }
  if (max !== undefined && n > max) {
    return { errorCode: 'TWIN_VALUE_OUT_OF_RANGE', reason: `the value is above the maximum ${String(property.maximum)}` }
  }
  return undefined
}

/** A model bound as a number (an integer string stays exact as a bigint); undefined when absent or unparsable. */
function bound(b: number | string | undefined): bigint | number | undefined {
  if (typeof b === 'number') return Number.isNaN(b) ? undefined : b
  if (b === undefined) return undefined
  const s = b.trim()
  if (INT.test(s)) return BigInt(s)
  return DECIMAL.test(s) && Number.isFinite(Number(s)) ? Number(s) : undefined
}
