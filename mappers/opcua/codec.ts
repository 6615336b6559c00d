/**
 * OPC-UA values ↔ twin strings, and node id / browse path text: pure functions, no I/O, no
 * node-opcua import (the built-in type numbers are Part 6 §5.1.2's, as node-opcua's DataType enum).
 *
 * Reads follow the model property type: INT as an integer, FLOAT/DOUBLE as the shortest decimal that
 * reads back to the same value (a Float node's 0.1 is "0.1", not its float64 widening), BOOLEAN as
 * true/false, STRING as text (localized text and qualified names by their text, byte strings as
 * UTF-8 as KubeEdge's mapper does), BYTES as base64. Writes convert the twin string to the node's
 * built-in data type, with range checks, before anything is sent.
 */
import { fail, ok, type Outcome } from '../driver.js'
import type { PropertyType } from '../../schemas/device.js'

/** OPC-UA built-in data types (Part 6 §5.1.2). */
export const BuiltIn = {
  Null: 0,
  Boolean: 1,
  SByte: 2,
  Byte: 3,
  Int16: 4,
  UInt16: 5,
  Int32: 6,
  UInt32: 7,
  Int64: 8,
  UInt64: 9,
  Float: 10,
  Double: 11,
  String: 12,
  DateTime: 13,
  Guid: 14,
  ByteString: 15,
  XmlElement: 16,
  NodeId: 17,
  ExpandedNodeId: 18,
  StatusCode: 19,
  QualifiedName: 20,
  LocalizedText: 21,
} as const

const INTEGER_RANGES: Readonly<Record<number, readonly [bigint, bigint]>> = {
  [BuiltIn.SByte]: [-128n, 127n],
  [BuiltIn.Byte]: [0n, 255n],
  [BuiltIn.Int16]: [-32768n, 32767n],
  [BuiltIn.UInt16]: [0n, 65535n],
  [BuiltIn.Int32]: [-2147483648n, 2147483647n],
  [BuiltIn.UInt32]: [0n, 4294967295n],
  [BuiltIn.Int64]: [-(2n ** 63n), 2n ** 63n - 1n],
  [BuiltIn.UInt64]: [0n, 2n ** 64n - 1n],
}

/** A node-opcua Variant's scalar content as the driver sees it. */
export interface RawValue {
  dataType: number
  value: unknown
}

/** The shortest decimal that reads back as `n` (as float32 when `single`). */
export function shortestNumber(n: number, single: boolean): string {
  if (!single || !Number.isFinite(n)) return String(n)
  for (let p = 1; p <= 9; p++) {
    const text = String(Number(n.toPrecision(p)))
    if (Math.fround(Number(text)) === n) return text
  }
  return String(n)
}

/** node-opcua carries Int64/UInt64 as `[high, low]` 32-bit words. */
function int64(value: unknown, signed: boolean): bigint | undefined {
  if (typeof value === 'bigint') return value
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value)
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'number') {
    const unsigned = (BigInt(value[0] >>> 0) << 32n) | BigInt(value[1] >>> 0)
    return signed ? BigInt.asIntN(64, unsigned) : unsigned
  }
  return undefined
}

type Plain = number | bigint | boolean | string | Buffer

/** The value as one JS primitive (or bytes), or undefined for what a twin cannot hold. */
function plain(raw: RawValue): Plain | undefined {
  const v = raw.value
  if (v === null || v === undefined) return undefined
  if (raw.dataType === BuiltIn.Int64 || raw.dataType === BuiltIn.UInt64) return int64(v, raw.dataType === BuiltIn.Int64)
  if (Buffer.isBuffer(v)) return v
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'bigint') return v
  if (v instanceof Date) return v.toISOString()
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return undefined
  if (typeof v === 'object') {
    const o = v as { text?: unknown; name?: unknown; toString(): string }
    if (raw.dataType === BuiltIn.LocalizedText) return typeof o.text === 'string' ? o.text : ''
    if (raw.dataType === BuiltIn.QualifiedName) return typeof o.name === 'string' ? o.name : ''
    if (raw.dataType === BuiltIn.NodeId || raw.dataType === BuiltIn.ExpandedNodeId || raw.dataType === BuiltIn.Guid || raw.dataType === BuiltIn.StatusCode) return o.toString()
  }
  return undefined
}

/** A node's value as the twin string of a property of type `type`. */
export function toTwin(raw: RawValue, type: PropertyType): Outcome<string> {
  const v = plain(raw)
  if (v === undefined) return fail('OPCUA_VALUE_INVALID', `a ${builtInName(raw.dataType)} value${Array.isArray(raw.value) ? ' array' : ''} cannot be a ${type} twin value`)
  switch (type) {
    case 'INT': {
      if (typeof v === 'bigint') return ok(v.toString())
      if (typeof v === 'boolean') return ok(v ? '1' : '0')
      const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v.trim()) : NaN
      if (!Number.isFinite(n) || (typeof v === 'string' && v.trim() === '')) return fail('OPCUA_VALUE_INVALID', `${describe(v)} is not an integer`)
      return ok(String(Math.round(n)))
    }
    case 'FLOAT':
    case 'DOUBLE': {
      if (typeof v === 'bigint') return ok(v.toString())
      if (typeof v === 'boolean') return ok(v ? '1' : '0')
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN
      if (!Number.isFinite(n)) return fail('OPCUA_VALUE_INVALID', `${describe(v)} is not a finite number`)
      return ok(shortestNumber(n, raw.dataType === BuiltIn.Float))
    }
    case 'BOOLEAN': {
      if (typeof v === 'boolean') return ok(String(v))
      if (typeof v === 'number' || typeof v === 'bigint') return ok(String(v !== 0 && v !== 0n))
      if (typeof v === 'string' && /^(true|false)$/i.test(v)) return ok(v.toLowerCase())
      return fail('OPCUA_VALUE_INVALID', `${describe(v)} is not a boolean`)
    }
    case 'STRING':
      return ok(Buffer.isBuffer(v) ? v.toString('utf8') : String(v))
    case 'BYTES':
      return ok(Buffer.isBuffer(v) ? v.toString('base64') : Buffer.from(String(v), 'utf8').toString('base64'))
    case 'STREAM':
      return fail('OPCUA_VALUE_INVALID', 'STREAM properties are not read through OPC-UA')
  }
}

/** A twin string as a value of the node's built-in data type, ready to write. */
export function fromTwin(text: string, dataType: number): Outcome<RawValue> {
  const range = INTEGER_RANGES[dataType]
  if (range !== undefined) {
    const t = text.trim()
    let n: bigint
    if (/^[+-]?\d+$/.test(t)) n = BigInt(t)
    else if (/^[+-]?\d+(\.0*)?$/.test(t)) n = BigInt(t.replace(/\.0*$/, ''))
    else if (t === 'true' || t === 'false') n = t === 'true' ? 1n : 0n
    else return fail('OPCUA_VALUE_INVALID', `"${text}" is not an integer (the node is ${builtInName(dataType)})`)
    if (n < range[0] || n > range[1]) return fail('OPCUA_VALUE_INVALID', `${n} is out of range for ${builtInName(dataType)} [${range[0]}, ${range[1]}]`)
    if (dataType === BuiltIn.Int64 || dataType === BuiltIn.UInt64) {
      const u = BigInt.asUintN(64, n)
      return ok({ dataType, value: [Number(u >> 32n), Number(u & 0xffffffffn)] })
    }
    return ok({ dataType, value: Number(n) })
  }
  switch (dataType) {
    case BuiltIn.Boolean: {
      const t = text.trim().toLowerCase()
      if (t === 'true' || t === '1') return ok({ dataType, value: true })
      if (t === 'false' || t === '0') return ok({ dataType, value: false })
      return fail('OPCUA_VALUE_INVALID', `"${text}" is not a boolean`)
    }
    case BuiltIn.Float:
    case BuiltIn.Double: {
      const n = text.trim() === '' ? NaN : Number(text)
      if (!Number.isFinite(n)) return fail('OPCUA_VALUE_INVALID', `"${text}" is not a finite number`)
      if (dataType === BuiltIn.Float && Math.abs(n) > 3.4028234663852886e38) return fail('OPCUA_VALUE_INVALID', `${text} is out of range for Float`)
      return ok({ dataType, value: n })
    }
    case BuiltIn.String:
    case BuiltIn.XmlElement:
      return ok({ dataType, value: text })
    case BuiltIn.LocalizedText:
      return ok({ dataType, value: { text } })
    case BuiltIn.ByteString: {
      const t = text.trim()
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0) return fail('OPCUA_VALUE_INVALID', 'a ByteString node takes base64')
      return ok({ dataType, value: Buffer.from(t, 'base64') })
    }
    case BuiltIn.DateTime: {
      const d = new Date(text)
      if (Number.isNaN(d.getTime())) return fail('OPCUA_VALUE_INVALID', `"${text}" is not a date`)
      return ok({ dataType, value: d })
    }
    default:
      return fail('OPCUA_VALUE_INVALID', `writing ${builtInName(dataType)} nodes is not supported`)
  }
}

export function builtInName(dataType: number): string {
  return Object.entries(BuiltIn).find(([, n]) => n === dataType)?.[0] ?? `data type ${dataType}`
}

function describe(v: Plain): string {
  return Buffer.isBuffer(v) ? `${v.length} bytes` : JSON.stringify(typeof v === 'bigint' ? v.toString() : v)
}

const NODE_ID = /^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|b=[A-Za-z0-9+/=]+)$/s

/**
 * A visitor's nodeID in the standard text form, or undefined when it is not one. KubeEdge's CRD
 * comment writes `ns=2,i=1005`: a comma right after the namespace is read as the `;`.
 */
export function normalizeNodeId(text: string): string | undefined {
  const t = text.trim().replace(/^(ns=\d+),(?=[isgb]=)/, '$1;')
  return NODE_ID.test(t) ? t : undefined
}

/** One step of a browse path: a browse name, with its namespace index when the path gives one. */
export interface BrowseStep {
  readonly namespace: number | undefined
  readonly name: string
}

/**
 * A browse path from the Objects folder: `/Objects/Plant/Boiler/Temperature`, `Plant/Boiler/Temperature`
 * or `["Plant", "Boiler", "Temperature"]`; each name may carry a namespace index (`1:Boiler`). A
 * leading `Objects` names the starting folder itself and is dropped.
 */
export function parseBrowsePath(path: string | readonly string[]): BrowseStep[] | undefined {
  const names = typeof path === 'string' ? path.split('/').filter((s) => s !== '') : [...path]
  const steps = names.map((n): BrowseStep => {
    const m = /^(\d+):(.+)$/.exec(n)
    return m ? { namespace: Number(m[1]), name: m[2] ?? '' } : { namespace: undefined, name: n }
  })
  if (steps[0]?.name === 'Objects' && (steps[0].namespace ?? 0) === 0) steps.shift()
  return steps.length > 0 && steps.every((s) => s.name.trim() !== '') ? steps : undefined
}

export function browsePathText(steps: readonly BrowseStep[]): string {
  return `/Objects/${steps.map((s) => (s.namespace === undefined ? s.name : `${s.namespace}:${s.name}`)).join('/')}`
}
