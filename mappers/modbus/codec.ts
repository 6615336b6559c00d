/**
 * Modbus register codec: 16-bit registers (and single coils) ↔ twin strings. Pure functions.
 *
 * Byte layout: registers are big-endian on the wire (Modbus Application Protocol §4.2). A value
 * spanning n registers is read as n×2 bytes, first register first, unless `isRegisterSwap` (word
 * order) reverses the registers; `isSwap` (byte order) swaps the two bytes inside each register.
 * In the usual notation for a 32-bit value: ABCD = neither, BADC = isSwap, CDAB = isRegisterSwap,
 * DCBA = both. Scale: value = raw × scale; a write sends value ÷ scale.
 *
 * KubeEdge's `dataType` (`int`, `float`, `double`, `boolean`, `string`) maps onto the explicit
 * types (resolveFormat), fixing the reference mapper's decoding defects (kubeedge-compat.md §6.7,
 * mappers-go `twindata.go` and v1.15 `driver.go`):
 *  1. `int` was decoded as *unsigned* big-endian: -1 in an int16 register read as 65535. Here
 *     `int` is signed (int16/int32/int64 by `limit`); `uint16`/`uint32`/`uint64` say unsigned.
 *  2. A missing `scale` was 0, so every value read as 0. Here the default is 1.
 *  3. `int` × scale was truncated toward zero (215 × 0.1 → 21). Here an INT property is rounded
 *     to the nearest integer, and FLOAT/DOUBLE properties keep the fraction (21.5).
 *  4. `float` was printed with 6 decimals (21.500000) and float32 noise (0.1 → 0.100000001).
 *     Here: the shortest decimal that reads back as the same float32, scaled results rounded to
 *     15 significant digits (3 × 0.1 → 0.3, not 0.30000000000000004).
 *  5. `boolean` was "first byte == 1", so a register holding 1 (bytes 00 01) read as false.
 *     Here any non-zero register is true.
 *  6. `string` kept the register padding; trailing NUL bytes are dropped here.
 *  7. Writes ignored the value (the v1.15 mapper wrote `limit` to the register) and never applied
 *     scale or type. Here writes encode the value with the same type, scale and order as reads,
 *     and refuse what does not fit (NaN, infinity, out of range, not a multiple of the scale).
 */
import { fail, ok, type Outcome } from '../driver.js'
import type { PropertyType } from '../../schemas/device.js'
import type { ModbusDataType, ModbusLegacyDataType, ModbusRegister } from '../../schemas/modbus.js'

/** How one property's registers encode its value. */
export interface RegisterFormat {
  readonly dataType: ModbusDataType
  /** registers the value spans */
  readonly count: number
  readonly scale: number
  readonly byteSwap: boolean
  readonly wordSwap: boolean
  readonly propertyType: PropertyType
}

const WIDTH: Readonly<Record<Exclude<ModbusDataType, 'string' | 'bytes'>, number>> = {
  int16: 1,
  uint16: 1,
  boolean: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
}

const INT_RANGE: Readonly<Partial<Record<ModbusDataType, readonly [bigint, bigint]>>> = {
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
}

const FLOAT32_MAX = 3.4028234663852886e38
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/
const INTEGER = /^[+-]?\d+$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

export type ResolvedType = { ok: true; bit: true } | { ok: true; bit: false; dataType: ModbusDataType; count: number } | { ok: false; message: string }

/**
 * The data type and register count of a visitor, from its `dataType` (explicit or KubeEdge's),
 * `limit` and the model property type. Coils and discrete inputs are single bits.
 */
export function resolveType(
  register: ModbusRegister,
  propertyType: PropertyType,
  dataType: ModbusDataType | ModbusLegacyDataType | undefined,
  limit: number | undefined,
): ResolvedType {
  if (propertyType === 'STREAM') return { ok: false, message: 'STREAM properties cannot be read over Modbus' }
  if (register === 'CoilRegister' || register === 'DiscreteInputRegister') {
    if (limit !== undefined && limit !== 1) return { ok: false, message: `${register} properties are single bits: limit must be 1` }
    if (dataType !== undefined && dataType !== 'boolean' && dataType !== 'int') {
      return { ok: false, message: `${register} properties are single bits: dataType must be boolean (or int)` }
    }
    if (propertyType !== 'BOOLEAN' && propertyType !== 'INT') return { ok: false, message: `${register} properties must be BOOLEAN or INT` }
    return { ok: true, bit: true }
  }
  const picked = dataType === undefined ? byPropertyType(propertyType, limit) : byDataType(dataType, limit)
  if ('problem' in picked) return { ok: false, message: picked.problem }
  const explicit = picked.dataType
  const count = explicit === 'string' || explicit === 'bytes' ? (limit ?? 1) : WIDTH[explicit]
  if (limit !== undefined && limit !== count) return { ok: false, message: `limit ${limit} does not match dataType ${explicit} (${count} registers)` }
  const fits = compatible(propertyType, explicit)
  if (fits !== undefined) return { ok: false, message: fits }
  return { ok: true, bit: false, dataType: explicit, count }
}

/** KubeEdge's `int` width follows `limit` (1, 2 or 4 registers); float/double are 2 and 4 registers. */
type Picked = { dataType: ModbusDataType } | { problem: string }

function byDataType(dataType: ModbusDataType | ModbusLegacyDataType, limit: number | undefined): Picked {
  switch (dataType) {
    case 'int':
      return intByLimit(limit)
    case 'float':
      return { dataType: 'float32' }
    case 'double':
      return { dataType: 'float64' }
    default:
      return { dataType }
  }
}

function byPropertyType(propertyType: PropertyType, limit: number | undefined): Picked {
  switch (propertyType) {
    case 'INT':
      return intByLimit(limit)
    // one register is a scaled integer (temperature × 10); two or four hold an IEEE 754 float
    case 'FLOAT':
      return { dataType: limit === 1 ? 'int16' : limit === 4 ? 'float64' : 'float32' }
    case 'DOUBLE':
      return { dataType: limit === 1 ? 'int16' : limit === 2 ? 'float32' : 'float64' }
    case 'BOOLEAN':
      return { dataType: 'boolean' }
    case 'STRING':
      return { dataType: 'string' }
    case 'BYTES':
      return { dataType: 'bytes' }
    case 'STREAM':
      return { problem: 'STREAM properties cannot be read over Modbus' }
  }
}

function intByLimit(limit: number | undefined): Picked {
  switch (limit ?? 1) {
    case 1:
      return { dataType: 'int16' }
    case 2:
      return { dataType: 'int32' }
    case 4:
      return { dataType: 'int64' }
    default:
      return { problem: `an int spans 1, 2 or 4 registers, not limit ${String(limit)}` }
  }
}

function compatible(propertyType: PropertyType, dataType: ModbusDataType): string | undefined {
  const textual = dataType === 'string' || dataType === 'bytes'
  if (propertyType === 'BYTES' && dataType !== 'bytes') return 'a BYTES property needs dataType bytes'
  if (propertyType === 'STRING') return undefined
  if (textual && propertyType !== 'BYTES') return `dataType ${dataType} needs a STRING or BYTES property, not ${propertyType}`
  return undefined
}

// ---- registers ↔ bytes

function toBytes(words: readonly number[], f: RegisterFormat): Buffer {
  const ordered = f.wordSwap ? [...words].reverse() : words
  const buf = Buffer.alloc(ordered.length * 2)
  ordered.forEach((w, i) => (f.byteSwap ? buf.writeUInt16LE(w & 0xffff, i * 2) : buf.writeUInt16BE(w & 0xffff, i * 2)))
  return buf
}

function fromBytes(buf: Buffer, f: RegisterFormat): number[] {
  const words: number[] = []
  for (let i = 0; i < buf.length; i += 2) words.push(f.byteSwap ? buf.readUInt16LE(i) : buf.readUInt16BE(i))
  return f.wordSwap ? words.reverse() : words
}

// ---- decode

/** The twin string of a property from its registers (exactly `format.count` of them). */
export function decodeRegisters(f: RegisterFormat, words: readonly number[]): Outcome<string> {
  if (words.length !== f.count) return fail('MODBUS_BAD_RESPONSE', `expected ${f.count} registers, got ${words.length}`)
  const buf = toBytes(words, f)
  switch (f.dataType) {
    case 'string': {
      let end = buf.length
      while (end > 0 && buf[end - 1] === 0) end--
      return ok(f.propertyType === 'BYTES' ? buf.subarray(0, end).toString('base64') : buf.subarray(0, end).toString('utf8'))
    }
    case 'bytes':
      return ok(buf.toString('base64'))
    case 'boolean':
      return formatNumber(f, buf.readUInt16BE(0) === 0 ? 0 : 1, true)
    case 'int16':
      return formatNumber(f, buf.readInt16BE(0))
    case 'uint16':
      return formatNumber(f, buf.readUInt16BE(0))
    case 'int32':
      return formatNumber(f, buf.readInt32BE(0))
    case 'uint32':
      return formatNumber(f, buf.readUInt32BE(0))
    case 'int64':
      return formatNumber(f, buf.readBigInt64BE(0))
    case 'uint64':
      return formatNumber(f, buf.readBigUInt64BE(0))
    case 'float32':
      return formatNumber(f, shortestFloat32(buf.readFloatBE(0)))
    case 'float64':
      return formatNumber(f, buf.readDoubleBE(0))
  }
}

function formatNumber(f: RegisterFormat, raw: number | bigint, unscaled = false): Outcome<string> {
  if (typeof raw === 'number' && !Number.isFinite(raw)) return fail('MODBUS_VALUE_INVALID', `the register holds ${String(raw)}`)
  if (f.propertyType === 'BOOLEAN') return ok(raw === 0 || raw === 0n ? 'false' : 'true')
  const scale = unscaled ? 1 : f.scale
  if (typeof raw === 'bigint' && scale === 1) return ok(raw.toString())
  const value = tidy(Number(raw) * scale, scale)
  if (f.propertyType === 'INT') {
    const rounded = Math.round(value)
    // `-0` and exponent notation never reach the twin: integers print through bigint
    return Number.isFinite(rounded) ? ok(BigInt(rounded).toString()) : fail('MODBUS_VALUE_INVALID', `${String(value)} is not an integer`)
  }
  return ok(String(value === 0 ? 0 : value))
}

/** Scaled results are rounded to 15 significant digits: binary noise of × 0.1 never reaches the twin. */
function tidy(value: number, scale: number): number {
  return scale === 1 ? value : Number(value.toPrecision(15))
}

/** The shortest decimal that reads back as the same float32 (21.5, not 21.5000000000000). */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x)) return x
  for (let digits = 1; digits < 10; digits++) {
    const candidate = Number(x.toPrecision(digits))
    if (Math.fround(candidate) === x) return candidate
  }
  return x
}

// ---- encode

/** The registers to write for a twin-string value; MODBUS_VALUE_INVALID when it does not fit. */
export function encodeRegisters(f: RegisterFormat, value: string): Outcome<number[]> {
  const bytes = encodeBytes(f, value.trim())
  return bytes.ok ? ok(fromBytes(bytes.value, f)) : bytes
}

function encodeBytes(f: RegisterFormat, value: string): Outcome<Buffer> {
  const buf = Buffer.alloc(f.count * 2)
  switch (f.dataType) {
    case 'string':
    case 'bytes': {
      const base64 = f.dataType === 'bytes' || f.propertyType === 'BYTES'
      if (base64 && !BASE64.test(value)) return invalid(`${JSON.stringify(value)} is not base64`)
      const content = base64 ? Buffer.from(value, 'base64') : Buffer.from(value, 'utf8')
      if (content.length > buf.length) return invalid(`${content.length} bytes do not fit in ${f.count} registers`)
      content.copy(buf)
      return ok(buf)
    }
    case 'boolean': {
      const b = parseBoolean(value)
      if (b === undefined) return invalid(`${JSON.stringify(value)} is not true, false, 1 or 0`)
      buf.writeUInt16BE(b ? 1 : 0)
      return ok(buf)
    }
    default:
      return encodeNumber(f, f.dataType, value, buf)
  }
}

function encodeNumber(f: RegisterFormat, dataType: Exclude<ModbusDataType, 'string' | 'bytes' | 'boolean'>, value: string, buf: Buffer): Outcome<Buffer> {
  let raw: number | bigint
  if (f.propertyType === 'BOOLEAN') {
    const b = parseBoolean(value)
    if (b === undefined) return invalid(`${JSON.stringify(value)} is not true, false, 1 or 0`)
    raw = b ? 1 : 0
  } else if (f.scale === 1 && INTEGER.test(value) && INT_RANGE[dataType] !== undefined) {
    raw = BigInt(value) // exact, even beyond 2^53
  } else {
    if (!DECIMAL.test(value)) return invalid(`${JSON.stringify(value)} is not a number`)
    raw = Number(value) / f.scale
    if (!Number.isFinite(raw)) return invalid(`${value} ÷ scale ${f.scale} is not finite`)
  }
  const range = INT_RANGE[dataType]
  if (range !== undefined) {
    let n: bigint
    if (typeof raw === 'bigint') n = raw
    else {
      const rounded = Math.round(raw)
      if (Math.abs(raw - rounded) > 1e-9 * Math.max(1, Math.abs(raw))) return invalid(`${value} is not a whole multiple of scale ${f.scale} for ${dataType}`)
      n = BigInt(rounded)
    }
    if (n < range[0] || n > range[1]) return invalid(`${value} is out of range for ${dataType} (raw ${n}, ${range[0]}..${range[1]})`)
    writeInt(buf, dataType, n)
    return ok(buf)
  }
  const x = Number(raw)
  if (dataType === 'float32') {
    if (Math.abs(x) > FLOAT32_MAX) return invalid(`${value} is out of range for float32`)
    buf.writeFloatBE(x)
  } else {
    buf.writeDoubleBE(x)
  }
  return ok(buf)
}

function writeInt(buf: Buffer, dataType: ModbusDataType, n: bigint): void {
  switch (dataType) {
    case 'int16':
      buf.writeInt16BE(Number(n))
      return
    case 'uint16':
      buf.writeUInt16BE(Number(n))
      return
    case 'int32':
      buf.writeInt32BE(Number(n))
      return
    case 'uint32':
      buf.writeUInt32BE(Number(n))
      return
    case 'int64':
      buf.writeBigInt64BE(n)
      return
    default:
      buf.writeBigUInt64BE(n)
  }
}

// ---- single bits (coils, discrete inputs)

export function decodeBit(propertyType: PropertyType, bit: boolean): string {
  if (propertyType === 'BOOLEAN') return bit ? 'true' : 'false'
  return bit ? '1' : '0'
}

/** KubeEdge wrote coils from 0/1; twins of BOOLEAN properties say true/false. Both are accepted. */
export function encodeBit(value: string): Outcome<boolean> {
  const b = parseBoolean(value.trim())
  return b === undefined ? invalid(`${JSON.stringify(value)} is not true, false, 1 or 0`) : ok(b)
}

function parseBoolean(value: string): boolean | undefined {
  if (value === 'true' || value === '1') return true
  if (value === 'false' || value === '0') return false
  return undefined
}

function invalid<T>(message: string): Outcome<T> {
  return fail('MODBUS_VALUE_INVALID', message)
}
