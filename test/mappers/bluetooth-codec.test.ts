/**
 * Bluetooth LE value codec (mappers/bluetooth/codec.ts, ieee11073.ts) and config resolution (points.ts), against
 * published example frames: Bluetooth SIG Health Thermometer Measurement 0x2A1C (flags byte +
 * IEEE-11073 FLOAT, HTS v1.0 / GATT Specification Supplement §3.114), Heart Rate Measurement 0x2A37
 * (uint8 and uint16 forms by flag bit 0), IEEE 11073-20601 SFLOAT special values, and KubeEdge's
 * dataConverter with its decimal-string byte join fixed (kubeedge-compat.md §6.9).
 */
import { strict as assert } from 'node:assert'
import { decodeValue, encodeValue, normalizeUuid, type ValueFormat } from '../../mappers/bluetooth/codec.js'
import { decodeFloat11073, decodeSfloat, encodeFloat11073, encodeSfloat } from '../../mappers/bluetooth/ieee11073.js'
import { resolveDevice } from '../../mappers/bluetooth/points.js'
import { AdapterSlots } from '../../mappers/bluetooth/slots.js'
import type { EdgeDevice, PropertyType } from '../../schemas/device.js'

function fmt(dataType: ValueFormat['dataType'], propertyType: PropertyType, extra: Partial<ValueFormat> = {}): ValueFormat {
  return { dataType, propertyType, startIndex: 0, endIndex: undefined, byteOrder: 'big', shiftLeft: 0, shiftRight: 0, operations: [], ...extra }
}
const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex')

describe('Bluetooth codec: published frames', () => {
  const reads: Array<[string, ValueFormat, string, string]> = [
    ['Health Thermometer 0x2A1C: flags 0x00 (Celsius) + FLOAT 0xFF00016C = 36.4 °C', fmt('float', 'FLOAT', { startIndex: 1 }), '00 6c 01 00 ff', '36.4'],
    ['Health Thermometer 0x2A1C with time stamp (flags 0x02): the FLOAT still at byte 1', fmt('float', 'FLOAT', { startIndex: 1 }), '02 6c 01 00 ff e2 07 0b 16 0a 1e 00', '36.4'],
    ['Health Thermometer 0x2A1C Fahrenheit (flags 0x01): 97.5 = 975 × 10^-1', fmt('float', 'FLOAT', { startIndex: 1 }), '01 cf 03 00 ff', '97.5'],
    ['Health Thermometer flags byte as INT', fmt('uint8', 'INT'), '01 cf 03 00 ff', '1'],
    ['Heart Rate 0x2A37 uint8 form (flags bit 0 = 0): 72 bpm', fmt('uint8', 'INT', { startIndex: 1 }), '00 48', '72'],
    ['Heart Rate 0x2A37 uint16 form (flags bit 0 = 1): 300 bpm', fmt('uint16le', 'INT', { startIndex: 1 }), '01 2c 01', '300'],
    ['SFLOAT 36.4 (exponent -1, mantissa 364)', fmt('sfloat', 'FLOAT'), '6c f1', '36.4'],
    ['SFLOAT 120 mmHg (Blood Pressure 0x2A35 systolic)', fmt('sfloat', 'FLOAT', { startIndex: 1 }), '00 78 00', '120'],
    ['SFLOAT negative -1.5', fmt('sfloat', 'FLOAT'), 'f1 ff', '-1.5'],
    ['FLOAT positive exponent 5 × 10^2', fmt('float', 'FLOAT'), '05 00 00 02', '500'],
    ['int8 -1', fmt('int8', 'INT'), 'ff', '-1'],
    ['int16le -1234', fmt('int16le', 'INT'), '2e fb', '-1234'],
    ['int16be -1234', fmt('int16be', 'INT'), 'fb 2e', '-1234'],
    ['uint32be', fmt('uint32be', 'INT'), 'ff ff ff ff', '4294967295'],
    ['int32le', fmt('int32le', 'INT'), 'fe ff ff ff', '-2'],
    ['float32le 21.5', fmt('float32le', 'FLOAT'), '00 00 ac 41', '21.5'],
    ['float32be 0.1 shortest', fmt('float32be', 'FLOAT'), '3d cc cc cd', '0.1'],
    ['utf8 (Device Name 0x2A00), trailing NULs dropped', fmt('utf8', 'STRING'), '74 65 72 6e 00 00', 'tern'],
    ['bytes as base64', fmt('bytes', 'BYTES'), '01 02 03', 'AQID'],
    ['Battery Level 0x2A19 as BOOLEAN (non-zero = true)', fmt('uint8', 'BOOLEAN'), '64', 'true'],
  ]
  for (const [name, format, bytes, value] of reads) {
    it(`decodes ${name}`, () => assert.deepEqual(decodeValue(format, hex(bytes)), { ok: true, value }))
  }

  it('IEEE-11073 SFLOAT special values are outcomes, not numbers', () => {
    assert.deepEqual(decodeSfloat(0x07ff), { kind: 'special', name: 'NaN' })
    assert.deepEqual(decodeSfloat(0x0800), { kind: 'special', name: 'NRes' })
    assert.deepEqual(decodeSfloat(0x07fe), { kind: 'special', name: '+INF' })
    assert.deepEqual(decodeSfloat(0x0802), { kind: 'special', name: '-INF' })
    assert.deepEqual(decodeSfloat(0x0801), { kind: 'special', name: 'reserved' })
    assert.deepEqual(decodeFloat11073(0x007fffff), { kind: 'special', name: 'NaN' })
    assert.deepEqual(decodeFloat11073(0x00800000), { kind: 'special', name: 'NRes' })
    const out = decodeValue(fmt('sfloat', 'FLOAT'), hex('ff 07'))
    assert.equal(out.ok, false)
    if (!out.ok) assert.equal(out.error.code, 'BLUETOOTH_VALUE_SPECIAL')
  })

  it('SFLOAT and FLOAT encode round-trip', () => {
    for (const v of [36.4, 120, -1.5, 0, 2045, 0.01]) {
      const s = encodeSfloat(v)
      assert.ok(s !== undefined)
      assert.deepEqual(decodeSfloat(s), { kind: 'number', value: v })
    }
    assert.equal(encodeFloat11073(36.4), 0xff00016c)
    assert.equal(encodeSfloat(Infinity), undefined)
    assert.equal(encodeSfloat(1e12), undefined)
  })
})

describe('Bluetooth codec: KubeEdge dataConverter', () => {
  const reads: Array<[string, ValueFormat, string, string]> = [
    ['bytes 1, 23 join in binary: 0x0117 = 279 (KubeEdge: "1"+"23" = 123)', fmt('join', 'INT', { endIndex: 1 }), '01 17', '279'],
    ['startIndex > endIndex takes the bytes reversed', fmt('join', 'INT', { startIndex: 1, endIndex: 0 }), '01 17', '5889'],
    ['byteOrder little', fmt('join', 'INT', { endIndex: 1, byteOrder: 'little' }), '01 17', '5889'],
    ['shiftRight 4', fmt('join', 'INT', { endIndex: 1, shiftRight: 4 }), '01 17', '17'],
    ['shiftLeft wins over shiftRight', fmt('join', 'INT', { endIndex: 1, shiftLeft: 1, shiftRight: 4 }), '01 17', '558'],
    ['operations in order, decimals tidy', fmt('join', 'FLOAT', { endIndex: 1, operations: [{ op: 'multiply', value: 0.1 }, { op: 'subtract', value: 2 }] }), '01 17', '25.9'],
    ['operations on typed values', fmt('int16le', 'FLOAT', { operations: [{ op: 'divide', value: 100 }] }), '34 08', '21'],
    ['default join spans the whole value', fmt('join', 'INT'), '00 01 00', '256'],
  ]
  for (const [name, format, bytes, value] of reads) {
    it(`decodes ${name}`, () => assert.deepEqual(decodeValue(format, hex(bytes)), { ok: true, value }))
  }

  it('encodes back through operations, shifts and byte order', () => {
    const cases: Array<[ValueFormat, string, string]> = [
      [fmt('join', 'INT', { endIndex: 1 }), '279', '0117'],
      [fmt('join', 'INT', { startIndex: 1, endIndex: 0 }), '5889', '0117'],
      [fmt('join', 'FLOAT', { endIndex: 1, operations: [{ op: 'multiply', value: 0.1 }] }), '27.9', '0117'],
      [fmt('sfloat', 'FLOAT'), '36.4', '6cf1'],
      [fmt('int16be', 'INT'), '-1234', 'fb2e'],
      [fmt('uint8', 'BOOLEAN'), 'true', '01'],
      [fmt('utf8', 'STRING'), 'on', '6f6e'],
    ]
    for (const [format, value, bytes] of cases) {
      const out = encodeValue(format, value)
      assert.ok(out.ok, JSON.stringify(out))
      assert.equal(out.value.toString('hex'), bytes, value)
      assert.deepEqual(decodeValue(format, out.value), { ok: true, value })
    }
  })

  it('refuses what cannot be encoded, with codes', () => {
    const code = (format: ValueFormat, value: string): string | undefined => {
      const out = encodeValue(format, value)
      return out.ok ? undefined : out.error.code
    }
    assert.equal(code(fmt('uint8', 'INT'), '256'), 'BLUETOOTH_VALUE_INVALID')
    assert.equal(code(fmt('uint8', 'INT'), '1.5'), 'BLUETOOTH_VALUE_INVALID')
    assert.equal(code(fmt('int16le', 'INT'), 'abc'), 'BLUETOOTH_VALUE_INVALID')
    assert.equal(code(fmt('float', 'FLOAT', { startIndex: 1 }), '36.4'), 'BLUETOOTH_CONFIG_INVALID', 'a flags byte before the value')
    assert.equal(code(fmt('join', 'INT'), '1'), 'BLUETOOTH_CONFIG_INVALID', 'a join without endIndex has no width')
  })

  it('too few bytes is an outcome', () => {
    const out = decodeValue(fmt('uint16le', 'INT', { startIndex: 1 }), hex('00 48'))
    assert.equal(out.ok ? 'ok' : out.error.code, 'BLUETOOTH_VALUE_INVALID')
  })

  it('16- and 32-bit UUIDs expand on the Bluetooth Base UUID', () => {
    assert.equal(normalizeUuid('2A1C'), '00002a1c-0000-1000-8000-00805f9b34fb')
    assert.equal(normalizeUuid('0000FFE1'), '0000ffe1-0000-1000-8000-00805f9b34fb')
  })
})

describe('Bluetooth config resolution', () => {
  const device = (configData: Record<string, unknown>, visitor: Record<string, unknown>, type: PropertyType = 'FLOAT'): EdgeDevice => ({
    id: 'thermo',
    name: 'thermo',
    namespace: 'default',
    model: 'm',
    protocol: { protocolName: 'bluetooth', configData },
    properties: [{ name: 'temperature', type, accessMode: 'ReadOnly', visitors: { protocolName: 'bluetooth', configData: visitor } }],
  })

  it('accepts a KubeEdge visitor (dataWrite in base64) with defaults filled', () => {
    const out = resolveDevice(
      device({ macAddress: 'a4:c1:38:00:11:22' }, { characteristicUUID: 'ffe1', dataWrite: { ON: 'AQ==', OFF: [0] }, dataConverter: { startIndex: 1, endIndex: 0, orderOfOperations: [{ operationType: 'multiply', operationValue: 0.5 }] } }),
    )
    assert.ok(out.ok, JSON.stringify(out))
    assert.equal(out.settings.address, 'A4:C1:38:00:11:22')
    assert.equal(out.settings.adapter, 'hci0')
    const point = out.points.get('temperature')
    assert.equal(point?.characteristic, '0000ffe1-0000-1000-8000-00805f9b34fb')
    assert.deepEqual([...(point?.dataWrite ?? [])].map(([k, v]) => [k, [...v]]), [['ON', [1]], ['OFF', [0]]])
    assert.deepEqual(point?.format.operations, [{ op: 'multiply', value: 0.5 }])
  })

  it('reports problems with manifest paths', () => {
    const out = resolveDevice(device({ macAddress: 'nope', maxConnections: 0 }, { characteristicUUID: '2a1c', dataType: 'uint16le', dataConverter: { startIndex: 0, endIndex: 3, orderOfOperations: [{ operationType: 'Modulo', operationValue: 1 }] } }))
    assert.ok(!out.ok)
    const paths = out.problems.map((p) => p.path).sort()
    assert.deepEqual(paths, [
      '/spec/properties/0/visitors/configData/dataConverter/endIndex',
      '/spec/properties/0/visitors/configData/dataConverter/orderOfOperations/0/operationType',
      '/spec/protocol/configData/macAddress',
      '/spec/protocol/configData/maxConnections',
    ])
  })

  it('utf8 cannot hold a FLOAT', () => {
    const out = resolveDevice(device({ macAddress: 'A4:C1:38:00:11:22' }, { characteristicUUID: '2a00', dataType: 'utf8' }))
    assert.ok(!out.ok)
    assert.deepEqual(out.problems.map((p) => p.path), ['/spec/properties/0/visitors/configData/dataType'])
  })
})

describe('Bluetooth adapter connection slots', () => {
  it('queues beyond the limit, first come first served, and times out', async () => {
    const slots = new AdapterSlots()
    const a = await slots.acquire('hci0', 2, 100)
    const b = await slots.acquire('hci0', 2, 100)
    assert.ok(a && b)
    assert.equal(await slots.acquire('hci0', 2, 20), undefined, 'no slot within the queue timeout')
    const order: string[] = []
    const c = slots.acquire('hci0', 2, 1000).then((r) => (order.push('c'), r))
    const d = slots.acquire('hci0', 2, 1000).then((r) => (order.push('d'), r))
    assert.equal(slots.inUse('hci0'), 2)
    a()
    a() // idempotent
    const rc = await c
    assert.deepEqual(order, ['c'])
    b()
    const rd = await d
    assert.deepEqual(order, ['c', 'd'])
    assert.equal(await slots.acquire('hci1', 1, 10) !== undefined, true, 'adapters are separate')
    rc?.()
    rd?.()
    assert.equal(slots.inUse('hci0'), 0)
  })
})
