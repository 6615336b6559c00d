/**
 * Modbus register codec (mappers/modbus/codec.ts) and config resolution (points.ts): tables of
 * registers ↔ twin strings for every type, byte and word order, scale, KubeEdge's legacy dataType
 * with its decoding defects fixed (kubeedge-compat.md §6.7), and refused writes.
 */
import { strict as assert } from 'node:assert'
import type { PropertyType } from '../../schemas/device.js'
import type { ModbusDataType } from '../../schemas/modbus.js'
import { decodeBit, decodeRegisters, encodeBit, encodeRegisters, resolveType, shortestFloat32, type RegisterFormat } from '../../mappers/modbus/codec.js'
import { resolveDevice } from '../../mappers/modbus/points.js'
import type { EdgeDevice } from '../../schemas/device.js'

const WIDTHS: Record<string, number> = { int16: 1, uint16: 1, boolean: 1, int32: 2, uint32: 2, float32: 2, int64: 4, uint64: 4, float64: 4 }

function fmt(dataType: ModbusDataType, propertyType: PropertyType, extra: Partial<RegisterFormat> = {}): RegisterFormat {
  return { dataType, propertyType, count: WIDTHS[dataType] ?? 1, scale: 1, byteSwap: false, wordSwap: false, ...extra }
}

/** [format, registers, twin value]: decoded exactly so, and encoded back to the same registers */
const roundTrips: Array<[string, RegisterFormat, number[], string]> = [
  ['int16 positive', fmt('int16', 'INT'), [1234], '1234'],
  ['int16 negative (KubeEdge read 65535)', fmt('int16', 'INT'), [0xffff], '-1'],
  ['int16 minimum', fmt('int16', 'INT'), [0x8000], '-32768'],
  ['uint16 maximum', fmt('uint16', 'INT'), [0xffff], '65535'],
  ['int32 ABCD', fmt('int32', 'INT'), [0x0001, 0x0002], '65538'],
  ['int32 negative', fmt('int32', 'INT'), [0xffff, 0xfffe], '-2'],
  ['int32 CDAB (isRegisterSwap)', fmt('int32', 'INT', { wordSwap: true }), [0x0002, 0x0001], '65538'],
  ['int32 BADC (isSwap)', fmt('int32', 'INT', { byteSwap: true }), [0x0100, 0x0200], '65538'],
  ['int32 DCBA (both)', fmt('int32', 'INT', { byteSwap: true, wordSwap: true }), [0x0200, 0x0100], '65538'],
  ['uint32 maximum', fmt('uint32', 'INT'), [0xffff, 0xffff], '4294967295'],
  ['int64 beyond 2^53, exact', fmt('int64', 'INT'), [0x0020, 0x0000, 0x0000, 0x0001], '9007199254740993'],
  ['int64 minimum', fmt('int64', 'INT'), [0x8000, 0, 0, 0], '-9223372036854775808'],
  ['uint64 maximum', fmt('uint64', 'STRING'), [0xffff, 0xffff, 0xffff, 0xffff], '18446744073709551615'],
  ['float32 21.5', fmt('float32', 'FLOAT'), [0x41ac, 0x0000], '21.5'],
  ['float32 0.1 shortest (KubeEdge: 0.100000)', fmt('float32', 'FLOAT'), [0x3dcc, 0xcccd], '0.1'],
  ['float32 negative CDAB', fmt('float32', 'FLOAT', { wordSwap: true }), [0x0000, 0xc150], '-13'],
  ['float32 DCBA', fmt('float32', 'FLOAT', { byteSwap: true, wordSwap: true }), [0x0000, 0xac41], '21.5'],
  ['float64 pi', fmt('float64', 'DOUBLE'), [0x4009, 0x21fb, 0x5444, 0x2d18], '3.141592653589793'],
  ['float64 DCBA', fmt('float64', 'DOUBLE', { byteSwap: true, wordSwap: true }), [0x182d, 0x4454, 0xfb21, 0x0940], '3.141592653589793'],
  ['int16 × 0.1 keeps the fraction for FLOAT (KubeEdge truncated)', fmt('int16', 'FLOAT', { scale: 0.1 }), [215], '21.5'],
  ['int16 × 0.1 without binary noise', fmt('int16', 'FLOAT', { scale: 0.1 }), [3], '0.3'],
  ['int16 negative × 0.5', fmt('int16', 'DOUBLE', { scale: 0.5 }), [0xfffd], '-1.5'],
  ['uint16 × 10', fmt('uint16', 'INT', { scale: 10 }), [123], '1230'],
  ['float32 × 2', fmt('float32', 'FLOAT', { scale: 2 }), [0x41ac, 0x0000], '43'],
  ['boolean register 1 is true (KubeEdge: first byte == 1 → false)', fmt('boolean', 'BOOLEAN'), [1], 'true'],
  ['boolean register 0', fmt('boolean', 'BOOLEAN'), [0], 'false'],
  ['uint16 as BOOLEAN', fmt('uint16', 'BOOLEAN'), [1], 'true'],
  ['string, NUL padding dropped', fmt('string', 'STRING', { count: 3 }), [0x4869, 0x2100, 0x0000], 'Hi!'],
  ['string isSwap', fmt('string', 'STRING', { count: 2, byteSwap: true }), [0x6548, 0x6c6c], 'Hell'],
  ['bytes as base64', fmt('bytes', 'BYTES', { count: 2 }), [0x0102, 0xfeff], Buffer.from([1, 2, 0xfe, 0xff]).toString('base64')],
]

describe('Modbus codec: registers ↔ twin strings (kubeedge-compat.md §6.7, defects fixed)', () => {
  for (const [name, format, registers, value] of roundTrips) {
    it(`decodes ${name}`, () => {
      assert.deepEqual(decodeRegisters(format, registers), { ok: true, value })
    })
    if (format.dataType === 'uint16' && format.propertyType === 'BOOLEAN') continue
    it(`encodes ${name}`, () => {
      assert.deepEqual(encodeRegisters(format, value), { ok: true, value: registers })
    })
  }

  it('rounds an INT property after scaling (KubeEdge truncated toward zero)', () => {
    assert.deepEqual(decodeRegisters(fmt('int16', 'INT', { scale: 0.1 }), [219]), { ok: true, value: '22' })
    assert.deepEqual(decodeRegisters(fmt('int16', 'INT', { scale: 0.1 }), [0xff25]), { ok: true, value: '-22' })
  })

  it('prints numbers of STRING properties and 0/1 of INT booleans', () => {
    assert.deepEqual(decodeRegisters(fmt('int16', 'STRING', { scale: 0.5 }), [5]), { ok: true, value: '2.5' })
    assert.deepEqual(decodeRegisters(fmt('boolean', 'INT'), [7]), { ok: true, value: '1' })
  })

  it('refuses NaN and infinity read from float registers (MODBUS_VALUE_INVALID)', () => {
    for (const registers of [[0x7fc0, 0], [0x7f80, 0], [0xff80, 0]]) {
      const out = decodeRegisters(fmt('float32', 'FLOAT'), registers)
      assert.equal(out.ok ? 'ok' : out.error.code, 'MODBUS_VALUE_INVALID')
    }
  })

  it('answers MODBUS_BAD_RESPONSE when the register count is wrong', () => {
    const out = decodeRegisters(fmt('int32', 'INT'), [1])
    assert.equal(out.ok ? 'ok' : out.error.code, 'MODBUS_BAD_RESPONSE')
  })

  const refused: Array<[string, RegisterFormat, string]> = [
    ['NaN', fmt('float32', 'FLOAT'), 'NaN'],
    ['Infinity', fmt('float64', 'DOUBLE'), 'Infinity'],
    ['not a number', fmt('int16', 'INT'), 'twelve'],
    ['int16 above 32767', fmt('int16', 'INT'), '32768'],
    ['int16 below -32768', fmt('int16', 'INT'), '-32769'],
    ['uint16 negative', fmt('uint16', 'INT'), '-1'],
    ['uint32 above 2^32-1', fmt('uint32', 'INT'), '4294967296'],
    ['int64 above 2^63-1', fmt('int64', 'INT'), '9223372036854775808'],
    ['float32 beyond its range', fmt('float32', 'FLOAT'), '1e39'],
    ['a fraction for an integer register', fmt('int16', 'FLOAT'), '1.5'],
    ['not a multiple of the scale', fmt('int16', 'FLOAT', { scale: 0.1 }), '21.55'],
    ['out of range after the scale', fmt('int16', 'FLOAT', { scale: 0.1 }), '3276.8'],
    ['a string longer than its registers', fmt('string', 'STRING', { count: 1 }), 'abc'],
    ['bytes that are not base64', fmt('bytes', 'BYTES', { count: 2 }), '!!'],
    ['a boolean that is not true/false/1/0', fmt('boolean', 'BOOLEAN'), 'yes'],
  ]
  for (const [name, format, value] of refused) {
    it(`refuses to write ${name} (MODBUS_VALUE_INVALID)`, () => {
      const out = encodeRegisters(format, value)
      assert.equal(out.ok ? 'ok' : out.error.code, 'MODBUS_VALUE_INVALID')
    })
  }

  it('writes scale in reverse: 21.5 with scale 0.1 is raw 215', () => {
    assert.deepEqual(encodeRegisters(fmt('int16', 'FLOAT', { scale: 0.1 }), '21.5'), { ok: true, value: [215] })
    assert.deepEqual(encodeRegisters(fmt('uint32', 'INT', { scale: 10, wordSwap: true }), '700000'), { ok: true, value: [70000 & 0xffff, 70000 >>> 16] })
  })

  it('writes booleans to registers and coils from true/false and KubeEdge 1/0', () => {
    assert.deepEqual(encodeRegisters(fmt('boolean', 'BOOLEAN'), 'true'), { ok: true, value: [1] })
    assert.deepEqual(encodeRegisters(fmt('uint16', 'BOOLEAN'), 'false'), { ok: true, value: [0] })
    assert.deepEqual(encodeBit('1'), { ok: true, value: true })
    assert.deepEqual(encodeBit('false'), { ok: true, value: false })
    assert.equal(encodeBit('2').ok, false)
    assert.equal(decodeBit('BOOLEAN', true), 'true')
    assert.equal(decodeBit('INT', false), '0')
  })

  it('finds the shortest float32 decimal', () => {
    assert.equal(shortestFloat32(Math.fround(0.1)), 0.1)
    assert.equal(shortestFloat32(Math.fround(123.456)), 123.456)
    assert.equal(shortestFloat32(Math.fround(1e-7)), 1e-7)
  })
})

describe('Modbus dataType resolution: explicit types and KubeEdge legacy names', () => {
  const table: Array<[string, Parameters<typeof resolveType>, ReturnType<typeof resolveType>]> = [
    ['legacy int, limit 1 → int16 (signed)', ['HoldingRegister', 'INT', 'int', 1], { ok: true, bit: false, dataType: 'int16', count: 1 }],
    ['legacy int, limit 2 → int32', ['HoldingRegister', 'INT', 'int', 2], { ok: true, bit: false, dataType: 'int32', count: 2 }],
    ['legacy int, limit 4 → int64', ['InputRegister', 'INT', 'int', 4], { ok: true, bit: false, dataType: 'int64', count: 4 }],
    ['legacy float → float32', ['HoldingRegister', 'FLOAT', 'float', 2], { ok: true, bit: false, dataType: 'float32', count: 2 }],
    ['legacy double → float64', ['HoldingRegister', 'DOUBLE', 'double', undefined], { ok: true, bit: false, dataType: 'float64', count: 4 }],
    ['legacy string, limit 8', ['HoldingRegister', 'STRING', 'string', 8], { ok: true, bit: false, dataType: 'string', count: 8 }],
    ['no dataType, INT → int16', ['HoldingRegister', 'INT', undefined, undefined], { ok: true, bit: false, dataType: 'int16', count: 1 }],
    ['no dataType, FLOAT → float32', ['InputRegister', 'FLOAT', undefined, undefined], { ok: true, bit: false, dataType: 'float32', count: 2 }],
    ['no dataType, FLOAT with limit 1 → scaled int16', ['InputRegister', 'FLOAT', undefined, 1], { ok: true, bit: false, dataType: 'int16', count: 1 }],
    ['no dataType, DOUBLE with limit 2 → float32', ['InputRegister', 'DOUBLE', undefined, 2], { ok: true, bit: false, dataType: 'float32', count: 2 }],
    ['no dataType, BOOLEAN → boolean', ['HoldingRegister', 'BOOLEAN', undefined, 1], { ok: true, bit: false, dataType: 'boolean', count: 1 }],
    ['explicit uint32', ['HoldingRegister', 'INT', 'uint32', undefined], { ok: true, bit: false, dataType: 'uint32', count: 2 }],
    ['a coil', ['CoilRegister', 'BOOLEAN', undefined, 1], { ok: true, bit: true }],
    ['a discrete input as INT', ['DiscreteInputRegister', 'INT', 'int', undefined], { ok: true, bit: true }],
  ]
  for (const [name, args, expected] of table) {
    it(name, () => assert.deepEqual(resolveType(...args), expected))
  }
  const problems: Array<[string, Parameters<typeof resolveType>]> = [
    ['int16 with limit 2', ['HoldingRegister', 'INT', 'int16', 2]],
    ['legacy int with limit 3', ['HoldingRegister', 'INT', 'int', 3]],
    ['a coil with limit 8', ['CoilRegister', 'BOOLEAN', undefined, 8]],
    ['a coil as FLOAT', ['CoilRegister', 'FLOAT', undefined, 1]],
    ['a string register for an INT property', ['HoldingRegister', 'INT', 'string', 2]],
    ['a BYTES property on int16', ['HoldingRegister', 'BYTES', 'int16', 1]],
    ['a STREAM property', ['HoldingRegister', 'STREAM', undefined, 1]],
  ]
  for (const [name, args] of problems) {
    it(`refuses ${name}`, () => assert.equal(resolveType(...args).ok, false))
  }
})

describe('Modbus config: protocol configData and visitors (schemas/modbus.ts)', () => {
  const device = (configData: Record<string, unknown>, visitor: Record<string, unknown> = { register: 'HoldingRegister', offset: 0 }): EdgeDevice => ({
    id: 'd',
    name: 'd',
    namespace: 'default',
    model: 'm',
    protocol: { protocolName: 'modbus', configData },
    properties: [
      { name: 'p', type: 'INT', accessMode: 'ReadWrite', visitors: { configData: visitor } },
      { name: 'edge-owned', type: 'STRING', accessMode: 'ReadWrite', visitors: { configData: {} } },
    ],
  })
  const problems = (d: EdgeDevice): string[] => {
    const r = resolveDevice(d)
    return r.ok ? [] : r.problems.map((p) => p.path)
  }

  it('fills defaults: slave 1, port 502, timeout 1000 ms, maxGap 8, scale 1; does not touch the device', () => {
    const d = device({ ip: '10.0.0.5' })
    const r = resolveDevice(d)
    assert.ok(r.ok)
    assert.deepEqual(r.settings, { transport: { kind: 'tcp', host: '10.0.0.5', port: 502 }, slave: 1, timeoutMs: 1000, interFrameDelayMs: 0, maxGap: 8 })
    assert.equal(r.points.get('p')?.format?.scale, 1)
    assert.equal(r.points.has('edge-owned'), false)
    assert.deepEqual(d.protocol.configData, { ip: '10.0.0.5' })
  })

  it('reads KubeEdge serial keys; the inter-frame delay defaults to 3.5 characters', () => {
    const r = resolveDevice(device({ serialPort: '/dev/ttyS1', baudRate: 19200, parity: 'even', stopBits: 1, dataBits: 8, slaveID: 3 }))
    assert.ok(r.ok)
    assert.deepEqual(r.settings.transport, { kind: 'rtu', path: '/dev/ttyS1', baudRate: 19200, dataBits: 8, parity: 'even', stopBits: 1 })
    assert.equal(r.settings.interFrameDelayMs, 3) // 3.5 × 11 bits / 19200 baud = 2.0 ms → 3
    assert.equal(r.settings.slave, 3)
  })

  it('reports every problem with its manifest path', () => {
    assert.deepEqual(problems(device({})), ['/spec/protocol/configData'])
    assert.deepEqual(problems(device({ ip: 'a', serialPort: '/dev/x' })), ['/spec/protocol/configData/serialPort'])
    assert.deepEqual(problems(device({ serialPort: '/dev/x', slaveID: 0 })), ['/spec/protocol/configData/slaveID'])
    assert.deepEqual(problems(device({ serialPort: '/dev/x', parity: 'mark' })), ['/spec/protocol/configData/parity'])
    assert.deepEqual(problems(device({ ip: 'a' }, { register: 'Holding', offset: 70000, isswap: true })), [
      '/spec/properties/0/visitors/configData/isswap',
      '/spec/properties/0/visitors/configData/register',
      '/spec/properties/0/visitors/configData/offset',
    ])
    assert.deepEqual(problems(device({ ip: 'a' }, { register: 'HoldingRegister', offset: 0, scale: 0 })), ['/spec/properties/0/visitors/configData/scale'])
    assert.deepEqual(problems(device({ ip: 'a' }, { register: 'HoldingRegister', offset: 0, dataType: 'int32', limit: 1 })), ['/spec/properties/0/visitors/configData'])
  })
})
