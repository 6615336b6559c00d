/**
 * GATT characteristic values ↔ twin strings: pure functions of bytes, no I/O. A value is the bytes
 * `startIndex`..`endIndex` of the characteristic (reversed when start > end, as KubeEdge), decoded
 * either as a typed field (`dataType`: intN/uintN/float32 in either byte order, IEEE-11073 SFLOAT
 * and FLOAT as in the GATT measurement characteristics, UTF-8, raw bytes) or, KubeEdge's way, as
 * the selected bytes joined into an unsigned integer — joined in binary (KubeEdge concatenated the
 * decimal text of each byte: 0x01 0x17 → "1"+"23" → 123; here 0x0117 = 279) — then shifted; then
 * `orderOfOperations` in order. Writes run the same steps backwards.
 * IEEE-11073 SFLOAT/FLOAT are in ieee11073.ts.
 */
import { fail, ok, type Outcome } from '../driver.js'
import type { PropertyType } from '../../schemas/device.js'
import type { BleDataType } from '../../schemas/bluetooth.js'
import { decodeFloat11073, decodeSfloat, encodeFloat11073, encodeSfloat } from './ieee11073.js'

export type Operation = { readonly op: 'add' | 'subtract' | 'multiply' | 'divide'; readonly value: number }

/** How one property's value sits in its characteristic. */
export interface ValueFormat {
  /** `join`: KubeEdge's dataConverter byte join (binary, in `byteOrder`) */
  readonly dataType: BleDataType | 'join'
  readonly startIndex: number
  /** inclusive; undefined = the last byte of the value (or the type's width) */
  readonly endIndex: number | undefined
  readonly byteOrder: 'big' | 'little'
  readonly shiftLeft: number
  readonly shiftRight: number
  readonly operations: readonly Operation[]
  readonly propertyType: PropertyType
}

/** Bytes of a fixed-width type; undefined for utf8, bytes and join. */
export function typeWidth(dataType: BleDataType | 'join'): number | undefined {
  switch (dataType) {
    case 'int8':
    case 'uint8':
      return 1
    case 'int16le':
    case 'int16be':
    case 'uint16le':
    case 'uint16be':
    case 'sfloat':
      return 2
    case 'int32le':
    case 'int32be':
    case 'uint32le':
    case 'uint32be':
    case 'float32le':
    case 'float32be':
    case 'float':
      return 4
    case 'utf8':
    case 'bytes':
    case 'join':
      return undefined
  }
}

/** The longest byte join: 6 bytes (48 bits) stay exact in a JavaScript number. */
export const MAX_JOIN_BYTES = 6

/** Bluetooth Base UUID (Core Spec Vol 3 Part B §2.5.1): 16- and 32-bit UUIDs expanded, lower case. */
export function normalizeUuid(uuid: string): string {
  const u = uuid.toLowerCase()
  if (/^[0-9a-f]{4}$/.test(u)) return `0000${u}-0000-1000-8000-00805f9b34fb`
  if (/^[0-9a-f]{8}$/.test(u)) return `${u}-0000-1000-8000-00805f9b34fb`
  return u
}

/** The byte positions a format selects, in selection order, for a value of `length` bytes. */
export function selection(format: ValueFormat, length: number): Outcome<number[]> {
  const width = typeWidth(format.dataType)
  const start = format.startIndex
  const end = format.endIndex ?? (width !== undefined ? start + width - 1 : length - 1)
  const indices: number[] = []
  if (start <= end) for (let i = start; i <= end; i++) indices.push(i)
  else for (let i = start; i >= end; i--) indices.push(i)
  const last = Math.max(start, end)
  if (last >= length) return fail('BLUETOOTH_VALUE_INVALID', `the value has ${length} bytes; byte ${last} is needed`)
  if (indices.length === 0) return fail('BLUETOOTH_VALUE_INVALID', 'no bytes selected')
  return ok(indices)
}

// ---- operations ----

export function parseOperation(type: string, value: number): Operation | undefined {
  const op = type.toLowerCase()
  return op === 'add' || op === 'subtract' || op === 'multiply' || op === 'divide' ? { op, value } : undefined
}

function apply(n: number, operations: readonly Operation[]): number {
  let v = n
  for (const { op, value } of operations) {
    if (op === 'add') v += value
    else if (op === 'subtract') v -= value
    else if (op === 'multiply') v *= value
    else v /= value
  }
  return v
}

function invert(n: number, operations: readonly Operation[]): number {
  let v = n
  for (const { op, value } of [...operations].reverse()) {
    if (op === 'add') v -= value
    else if (op === 'subtract') v += value
    else if (op === 'multiply') v /= value
    else v *= value
  }
  return v
}

/** Decimal results of binary arithmetic (0.1 × 3) shown as a person would write them. */
function tidy(n: number): number {
  return Number(n.toPrecision(15))
}

/** The shortest decimal that reads back as the same float32. */
function float32Text(n: number): number {
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(n.toPrecision(p))
    if (Math.fround(candidate) === n) return candidate
  }
  return n
}

// ---- decode ----

type Raw = { kind: 'number'; value: number; float32?: boolean } | { kind: 'text'; value: string } | { kind: 'bytes'; value: Buffer }

function decodeRaw(format: ValueFormat, bytes: Buffer): Outcome<Raw> {
  const picked = selection(format, bytes.length)
  if (!picked.ok) return picked
  const b = Buffer.from(picked.value.map((i) => bytes[i] ?? 0))
  switch (format.dataType) {
    case 'int8':
      return ok({ kind: 'number', value: b.readInt8(0) })
    case 'uint8':
      return ok({ kind: 'number', value: b.readUInt8(0) })
    case 'int16le':
      return ok({ kind: 'number', value: b.readInt16LE(0) })
    case 'int16be':
      return ok({ kind: 'number', value: b.readInt16BE(0) })
    case 'uint16le':
      return ok({ kind: 'number', value: b.readUInt16LE(0) })
    case 'uint16be':
      return ok({ kind: 'number', value: b.readUInt16BE(0) })
    case 'int32le':
      return ok({ kind: 'number', value: b.readInt32LE(0) })
    case 'int32be':
      return ok({ kind: 'number', value: b.readInt32BE(0) })
    case 'uint32le':
      return ok({ kind: 'number', value: b.readUInt32LE(0) })
    case 'uint32be':
      return ok({ kind: 'number', value: b.readUInt32BE(0) })
    case 'float32le':
      return ok({ kind: 'number', value: b.readFloatLE(0), float32: true })
    case 'float32be':
      return ok({ kind: 'number', value: b.readFloatBE(0), float32: true })
    case 'sfloat':
    case 'float': {
      const m = format.dataType === 'sfloat' ? decodeSfloat(b.readUInt16LE(0)) : decodeFloat11073(b.readUInt32LE(0))
      if (m.kind === 'special') return fail('BLUETOOTH_VALUE_SPECIAL', `the device reports ${m.name} (IEEE-11073 special value)`)
      return ok({ kind: 'number', value: m.value })
    }
    case 'utf8':
      return ok({ kind: 'text', value: b.toString('utf8').replace(/\0+$/, '') })
    case 'bytes':
      return ok({ kind: 'bytes', value: b })
    case 'join': {
      if (b.length > MAX_JOIN_BYTES) return fail('BLUETOOTH_VALUE_INVALID', `a byte join spans at most ${MAX_JOIN_BYTES} bytes, not ${b.length}`)
      const ordered = format.byteOrder === 'big' ? [...b] : [...b].reverse()
      let n = 0n
      for (const byte of ordered) n = (n << 8n) | BigInt(byte)
      // KubeEdge: shiftLeft if non-zero, else shiftRight
      if (format.shiftLeft > 0) n <<= BigInt(format.shiftLeft)
      else if (format.shiftRight > 0) n >>= BigInt(format.shiftRight)
      return ok({ kind: 'number', value: Number(n) })
    }
  }
}

/** The twin string for a characteristic value. */
export function decodeValue(format: ValueFormat, bytes: Buffer): Outcome<string> {
  const raw = decodeRaw(format, bytes)
  if (!raw.ok) return raw
  const r = raw.value
  if (r.kind === 'text') return ok(r.value)
  if (r.kind === 'bytes') return ok(r.value.toString('base64'))
  const base = r.float32 === true && format.operations.length === 0 ? float32Text(r.value) : r.value
  const n = format.operations.length === 0 ? base : tidy(apply(base, format.operations))
  if (!Number.isFinite(n)) return fail('BLUETOOTH_VALUE_INVALID', `the value is ${n}`)
  switch (format.propertyType) {
    case 'BOOLEAN':
      return ok(n !== 0 ? 'true' : 'false')
    case 'INT':
      return Number.isInteger(n) ? ok(String(n)) : fail('BLUETOOTH_VALUE_INVALID', `${n} is not an integer (INT property)`)
    case 'FLOAT':
    case 'DOUBLE':
    case 'STRING':
      return ok(String(n))
    case 'BYTES':
    case 'STREAM':
      return fail('BLUETOOTH_VALUE_INVALID', `a number cannot be a ${format.propertyType} value`)
  }
}

// ---- encode ----

function numberOf(format: ValueFormat, value: string): Outcome<number> {
  if (format.propertyType === 'BOOLEAN') {
    if (value === 'true') return ok(1)
    if (value === 'false') return ok(0)
    return fail('BLUETOOTH_VALUE_INVALID', `${JSON.stringify(value)} is not true or false`)
  }
  const n = value.trim() === '' ? NaN : Number(value)
  if (!Number.isFinite(n)) return fail('BLUETOOTH_VALUE_INVALID', `${JSON.stringify(value)} is not a finite number`)
  const raw = invert(n, format.operations)
  return Number.isFinite(raw) ? ok(raw) : fail('BLUETOOTH_VALUE_INVALID', `${value} cannot be converted back through orderOfOperations`)
}

function integer(n: number, min: number, max: number, what: string): Outcome<number> {
  const r = Math.round(n)
  if (Math.abs(n - r) > 1e-9 * Math.max(1, Math.abs(n))) return fail('BLUETOOTH_VALUE_INVALID', `${tidy(n)} is not an integer (${what})`)
  if (r < min || r > max) return fail('BLUETOOTH_VALUE_INVALID', `${r} is out of range for ${what} (${min}..${max})`)
  return ok(r)
}

function encodeRaw(format: ValueFormat, value: string): Outcome<Buffer> {
  const t = format.dataType
  if (t === 'utf8') return ok(Buffer.from(value, 'utf8'))
  if (t === 'bytes') return ok(Buffer.from(value, 'base64'))
  const num = numberOf(format, value)
  if (!num.ok) return num
  const n = num.value
  const b = Buffer.alloc(typeWidth(t) ?? 0)
  const int = (min: number, max: number, put: (v: number) => void): Outcome<Buffer> => {
    const i = integer(n, min, max, t)
    if (!i.ok) return i
    put(i.value)
    return ok(b)
  }
  switch (t) {
    case 'int8':
      return int(-0x80, 0x7f, (v) => b.writeInt8(v))
    case 'uint8':
      return int(0, 0xff, (v) => b.writeUInt8(v))
    case 'int16le':
      return int(-0x8000, 0x7fff, (v) => b.writeInt16LE(v))
    case 'int16be':
      return int(-0x8000, 0x7fff, (v) => b.writeInt16BE(v))
    case 'uint16le':
      return int(0, 0xffff, (v) => b.writeUInt16LE(v))
    case 'uint16be':
      return int(0, 0xffff, (v) => b.writeUInt16BE(v))
    case 'int32le':
      return int(-0x80000000, 0x7fffffff, (v) => b.writeInt32LE(v))
    case 'int32be':
      return int(-0x80000000, 0x7fffffff, (v) => b.writeInt32BE(v))
    case 'uint32le':
      return int(0, 0xffffffff, (v) => b.writeUInt32LE(v))
    case 'uint32be':
      return int(0, 0xffffffff, (v) => b.writeUInt32BE(v))
    case 'float32le':
      b.writeFloatLE(n)
      return ok(b)
    case 'float32be':
      b.writeFloatBE(n)
      return ok(b)
    case 'sfloat': {
      const raw = encodeSfloat(n)
      if (raw === undefined) return fail('BLUETOOTH_VALUE_INVALID', `${n} does not fit an SFLOAT`)
      b.writeUInt16LE(raw)
      return ok(b)
    }
    case 'float': {
      const raw = encodeFloat11073(n)
      if (raw === undefined) return fail('BLUETOOTH_VALUE_INVALID', `${n} does not fit an IEEE-11073 FLOAT`)
      b.writeUInt32LE(raw)
      return ok(b)
    }
    case 'join':
      return encodeJoin(format, n)
  }
}

function encodeJoin(format: ValueFormat, n: number): Outcome<Buffer> {
  if (format.endIndex === undefined) return fail('BLUETOOTH_CONFIG_INVALID', 'writing a byte join needs dataConverter.endIndex (the width of the value)')
  const width = Math.abs(format.endIndex - format.startIndex) + 1
  let raw = n
  if (format.shiftLeft > 0) raw = n / 2 ** format.shiftLeft
  else if (format.shiftRight > 0) raw = n * 2 ** format.shiftRight
  const i = integer(raw, 0, 2 ** (8 * width) - 1, `${width} unsigned bytes`)
  if (!i.ok) return i
  const out = Buffer.alloc(width)
  let v = BigInt(i.value)
  // fill from the least significant end of the join
  for (let k = 0; k < width; k++) {
    out[format.byteOrder === 'big' ? width - 1 - k : k] = Number(v & 0xffn)
    v >>= 8n
  }
  return ok(out)
}

/**
 * The characteristic value for a twin string: the encoded bytes placed at their indices. A value
 * that does not start at byte 0 (a flags byte before it) cannot be written this way: the bytes
 * before it are unknown; `dataWrite` must name the whole value.
 */
export function encodeValue(format: ValueFormat, value: string): Outcome<Buffer> {
  const enc = encodeRaw(format, value)
  if (!enc.ok) return enc
  const bytes = enc.value
  if (format.dataType === 'utf8' || format.dataType === 'bytes') {
    if (format.startIndex !== 0 || (format.endIndex !== undefined && format.endIndex < format.startIndex)) {
      return fail('BLUETOOTH_CONFIG_INVALID', `a ${format.dataType} value is written from byte 0 forwards; write this one with dataWrite`)
    }
    return ok(bytes)
  }
  // fixed widths and joins have a known end (encodeRaw refused a join without endIndex)
  const picked = selection(format, Math.max(format.startIndex, format.endIndex ?? 0) + bytes.length + 1)
  if (!picked.ok) return picked
  const indices = picked.value
  const first = Math.min(...indices)
  if (first > 0) return fail('BLUETOOTH_CONFIG_INVALID', `the value starts at byte ${first}; the bytes before it are unknown, write it with dataWrite`)
  const out = Buffer.alloc(Math.max(...indices) + 1)
  indices.forEach((at, k) => (out[at] = bytes[k] ?? 0))
  return ok(out)
}
