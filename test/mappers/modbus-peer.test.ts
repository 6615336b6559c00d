/**
 * The Modbus driver end to end against a real peer: pymodbus 3.0 over TCP, and over RTU on a socat
 * pty pair with three slaves on one line (test/support/modbus.ts). Every type in every table,
 * writes with scale and type in reverse, batching counted on the server, and faults: exceptions,
 * silence, garbage, broken CRCs, a peer killed and restarted.
 */
import { strict as assert } from 'node:assert'
import pino from 'pino'
import type { DeviceDriver, Outcome } from '../../mappers/driver.js'
import { modbusProtocol, type ModbusProtocol } from '../../mappers/modbus/protocol.js'
import type { EdgeDevice, EdgeProperty, PropertyType } from '../../schemas/device.js'
import { startPtyPair, startPymodbus, type PeerTable, type PtyPair, type PymodbusPeer } from '../support/modbus.js'
import { freePort, scratchDir } from '../support/resources.js'

const log = pino({ level: 'silent' })
const context = { log, dataDir: '/nonexistent' }

interface Case {
  name: string
  type: PropertyType
  visitor: Record<string, unknown>
  value: string
  /** raw registers (or 0/1 for bits) on the wire */
  raw: number[]
}

const REGISTER_CASES: Case[] = [
  { name: 'i16', type: 'INT', visitor: { offset: 0, dataType: 'int16' }, value: '-1234', raw: [0xfb2e] },
  { name: 'u16', type: 'INT', visitor: { offset: 1, dataType: 'uint16' }, value: '65000', raw: [65000] },
  { name: 'i32', type: 'INT', visitor: { offset: 2, dataType: 'int32' }, value: '-100000', raw: [0xfffe, 0x7960] },
  { name: 'u32', type: 'INT', visitor: { offset: 4, dataType: 'uint32', isRegisterSwap: true }, value: '305419896', raw: [0x5678, 0x1234] },
  { name: 'i64', type: 'INT', visitor: { offset: 6, dataType: 'int64' }, value: '-9007199254740993', raw: [0xffdf, 0xffff, 0xffff, 0xffff] },
  { name: 'u64', type: 'STRING', visitor: { offset: 10, dataType: 'uint64' }, value: '18446744073709551615', raw: [0xffff, 0xffff, 0xffff, 0xffff] },
  { name: 'f32', type: 'FLOAT', visitor: { offset: 14, dataType: 'float32' }, value: '21.5', raw: [0x41ac, 0x0000] },
  { name: 'f32dcba', type: 'FLOAT', visitor: { offset: 16, dataType: 'float32', isSwap: true, isRegisterSwap: true }, value: '-13', raw: [0x0000, 0x50c1] },
  { name: 'f64', type: 'DOUBLE', visitor: { offset: 18, dataType: 'float64' }, value: '3.141592653589793', raw: [0x4009, 0x21fb, 0x5444, 0x2d18] },
  { name: 'flag', type: 'BOOLEAN', visitor: { offset: 22, dataType: 'boolean' }, value: 'true', raw: [1] },
  { name: 'label', type: 'STRING', visitor: { offset: 23, dataType: 'string', limit: 4 }, value: 'fan-7', raw: [0x6661, 0x6e2d, 0x3700, 0] },
  { name: 'blob', type: 'BYTES', visitor: { offset: 27, dataType: 'bytes', limit: 2 }, value: Buffer.from([1, 2, 3, 4]).toString('base64'), raw: [0x0102, 0x0304] },
  { name: 'temp', type: 'FLOAT', visitor: { offset: 29, limit: 1, scale: 0.1 }, value: '21.5', raw: [215] },
  { name: 'legacyInt', type: 'INT', visitor: { offset: 31, dataType: 'int', limit: 2, isSwap: true }, value: '-2', raw: [0xffff, 0xfeff] },
]

const BIT_CASES: Case[] = [
  { name: 'on', type: 'BOOLEAN', visitor: { offset: 3 }, value: 'true', raw: [1] },
  { name: 'off', type: 'BOOLEAN', visitor: { offset: 4 }, value: 'false', raw: [0] },
  { name: 'bit', type: 'INT', visitor: { offset: 5 }, value: '1', raw: [1] },
]

function property(name: string, type: PropertyType, configData: Record<string, unknown>): EdgeProperty {
  return { name, type, accessMode: 'ReadWrite', visitors: { protocolName: 'modbus', configData } }
}

function device(id: string, configData: Record<string, unknown>, properties: EdgeProperty[]): EdgeDevice {
  return { id, name: id, namespace: 'default', model: 'm', protocol: { protocolName: 'modbus', configData }, properties }
}

function tableProperties(register: string, cases: Case[], prefix: string): EdgeProperty[] {
  return cases.map((c) => property(`${prefix}${c.name}`, c.type, { register, ...c.visitor }))
}

const values = (m: Map<string, Outcome<string>>): Record<string, string> =>
  Object.fromEntries([...m].map(([k, o]) => [k, o.ok ? o.value : o.error.code]))

async function setRaw(peer: PymodbusPeer, slave: number, table: PeerTable, cases: Case[]): Promise<void> {
  for (const c of cases) await peer.set(slave, table, c.visitor.offset as number, c.raw)
}

async function connected(protocol: ModbusProtocol, d: EdgeDevice): Promise<DeviceDriver> {
  assert.deepEqual(protocol.validate(d), [])
  const driver = protocol.createDriver(d, context)
  assert.deepEqual(await driver.connect(), { ok: true, value: undefined })
  return driver
}

describe('Modbus TCP driver against pymodbus', function () {
  this.timeout(30_000)
  let peer: PymodbusPeer
  let protocol: ModbusProtocol
  const drivers: DeviceDriver[] = []
  const tcp = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ip: '127.0.0.1', port: peer.port, timeout: 500, ...extra })
  const open = async (d: EdgeDevice): Promise<DeviceDriver> => {
    const driver = await connected(protocol, d)
    drivers.push(driver)
    return driver
  }

  before(async () => {
    peer = await startPymodbus({ mode: 'tcp', slaves: [1, 2] })
  })
  after(async () => {
    await peer.stop()
  })
  beforeEach(() => {
    protocol = modbusProtocol()
  })
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.close()
    await protocol.close?.()
  })

  it('reads every type from input registers, and bits from coils and discrete inputs', async () => {
    await setRaw(peer, 1, 'ir', REGISTER_CASES)
    await setRaw(peer, 1, 'co', BIT_CASES)
    await setRaw(peer, 1, 'di', BIT_CASES)
    const props = [
      ...tableProperties('InputRegister', REGISTER_CASES, 'ir.'),
      ...tableProperties('CoilRegister', BIT_CASES, 'co.'),
      ...tableProperties('DiscreteInputRegister', BIT_CASES, 'di.'),
    ]
    const driver = await open(device('reader', tcp(), props))
    const expected = Object.fromEntries<string>([
      ...REGISTER_CASES.map((c): [string, string] => [`ir.${c.name}`, c.value]),
      ...BIT_CASES.flatMap((c): Array<[string, string]> => [
        [`co.${c.name}`, c.value],
        [`di.${c.name}`, c.value],
      ]),
    ])
    assert.deepEqual(values(await driver.read(props)), expected)
  })

  it('writes every type to holding registers and coils with scale and type in reverse, and reads them back', async () => {
    const props = [...tableProperties('HoldingRegister', REGISTER_CASES, 'hr.'), ...tableProperties('CoilRegister', BIT_CASES, 'co.')]
    const driver = await open(device('writer', tcp({ slaveID: 2 }), props))
    await peer.reset()
    for (const [i, c] of [...REGISTER_CASES, ...BIT_CASES].entries()) {
      const p = props[i]
      assert.ok(p)
      assert.deepEqual(await driver.write(p, c.value), { ok: true, value: undefined }, p.name)
    }
    for (const c of REGISTER_CASES) assert.deepEqual(await peer.get(2, 'hr', c.visitor.offset as number, c.raw.length), c.raw, c.name)
    for (const c of BIT_CASES) assert.deepEqual(await peer.get(2, 'co', c.visitor.offset as number, 1), c.raw, c.name)
    const stats = await peer.stats()
    assert.equal(stats['2:6'], REGISTER_CASES.filter((c) => c.raw.length === 1).length, 'single registers use FC 6')
    assert.equal(stats['2:16'], REGISTER_CASES.filter((c) => c.raw.length > 1).length, 'multi-register values use FC 16')
    assert.equal(stats['2:5'], BIT_CASES.length, 'coils use FC 5')
    const back = values(await driver.read(props))
    for (const c of REGISTER_CASES) assert.equal(back[`hr.${c.name}`], c.value)
  })

  it('refuses values that do not fit before sending anything (MODBUS_VALUE_INVALID)', async () => {
    const props = [property('small', 'INT', { register: 'HoldingRegister', offset: 100, dataType: 'int16' })]
    const driver = await open(device('strict', tcp(), props))
    await peer.reset()
    const out = await driver.write(props[0] as EdgeProperty, '40000')
    assert.equal(out.ok ? 'ok' : out.error.code, 'MODBUS_VALUE_INVALID')
    assert.deepEqual(await peer.stats(), {})
  })

  it('a write to an input register or discrete input is refused (read-only tables)', async () => {
    const props = [property('ir', 'INT', { register: 'InputRegister', offset: 0 })]
    const driver = await open(device('ro', tcp(), props))
    const out = await driver.write(props[0] as EdgeProperty, '1')
    assert.equal(out.ok ? 'ok' : out.error.code, 'MODBUS_CONFIG_INVALID')
  })

  it('batches: 100 adjacent properties are one request; gaps and other tables split (counted on the server)', async () => {
    const adjacent = Array.from({ length: 100 }, (_, i) => property(`r${i}`, 'INT', { register: 'HoldingRegister', offset: 200 + i }))
    const spread = [
      property('a', 'INT', { register: 'HoldingRegister', offset: 400 }),
      property('b', 'INT', { register: 'HoldingRegister', offset: 404 }), // gap 3 ≤ maxGap 4: same request
      property('c', 'INT', { register: 'HoldingRegister', offset: 420 }), // gap 15: new request
      property('d', 'INT', { register: 'InputRegister', offset: 401 }),
      property('e', 'BOOLEAN', { register: 'CoilRegister', offset: 0 }),
      property('f', 'BOOLEAN', { register: 'CoilRegister', offset: 1999 }),
    ]
    const driver = await open(device('batch', tcp({ maxGap: 4 }), [...adjacent, ...spread]))
    await peer.set(1, 'hr', 200, Array.from({ length: 100 }, (_, i) => i * 3))
    await peer.reset()
    const got = values(await driver.read(adjacent))
    assert.deepEqual(await peer.stats(), { '1:3': 1 })
    assert.deepEqual(
      got,
      Object.fromEntries(adjacent.map((p, i) => [p.name, String(i * 3)])),
    )
    await peer.reset()
    await driver.read(spread)
    assert.deepEqual(await peer.stats(), { '1:3': 2, '1:4': 1, '1:1': 2 })
  })

  it('a batch across registers the slave does not have falls back to one request per property', async () => {
    const props = [property('last', 'INT', { register: 'HoldingRegister', offset: 3990 }), property('beyond', 'INT', { register: 'HoldingRegister', offset: 4005 })]
    const driver = await open(device('edge-of-map', tcp({ maxGap: 20 }), props))
    await peer.set(1, 'hr', 3990, [77])
    const first = values(await driver.read(props))
    assert.deepEqual(first, { last: '77', beyond: 'MODBUS_ILLEGAL_ADDRESS' })
    await peer.reset()
    assert.deepEqual(values(await driver.read(props)), first)
    assert.deepEqual(await peer.stats(), { '1:3': 2 }, 'remembered: no batched attempt the second time')
  })

  const exceptions: Array<[number, string]> = [
    [1, 'MODBUS_ILLEGAL_FUNCTION'],
    [2, 'MODBUS_ILLEGAL_ADDRESS'],
    [3, 'MODBUS_ILLEGAL_VALUE'],
    [4, 'MODBUS_DEVICE_FAILURE'],
    [5, 'MODBUS_ACKNOWLEDGE'],
    [6, 'MODBUS_BUSY'],
    [7, 'MODBUS_NEGATIVE_ACKNOWLEDGE'],
    [8, 'MODBUS_MEMORY_PARITY'],
    [10, 'MODBUS_GATEWAY_PATH_UNAVAILABLE'],
    [11, 'MODBUS_GATEWAY_TARGET_FAILED'],
    [12, 'MODBUS_EXCEPTION'],
  ]
  it('Modbus exception codes 1-11 become stable codes, in outcomes and counters; the link stays up', async () => {
    const props = [property('p', 'INT', { register: 'HoldingRegister', offset: 0 })]
    const driver = await open(device('exceptional', tcp({ slaveID: 2 }), props))
    try {
      for (const [code, expected] of exceptions) {
        await peer.mode(2, `exception:${code}`)
        const out = (await driver.read(props)).get('p')
        assert.deepEqual(out?.ok === false && { code: out.error.code, lost: out.error.connectionLost }, { code: expected, lost: false }, `exception ${code}`)
        const w = await driver.write(props[0] as EdgeProperty, '1')
        assert.equal(w.ok ? 'ok' : w.error.code, expected)
      }
      assert.deepEqual(await driver.health(), { ok: true, value: undefined }, 'an exception proves the slave is there')
    } finally {
      await peer.mode(2, 'normal')
    }
    assert.equal((await driver.read(props)).get('p')?.ok, true)
    const counts = protocol.counters.snapshot().exceptional
    assert.equal(counts?.MODBUS_BUSY, 2)
    assert.equal(counts?.ok, 1)
  })

  it('a slave id the peer does not serve gets no answer: MODBUS_TIMEOUT', async () => {
    const props = [property('p', 'INT', { register: 'HoldingRegister', offset: 0 })]
    const driver = await open(device('nobody', tcp({ slaveID: 9, timeout: 200 }), props))
    assert.equal(values(await driver.read(props)).p, 'MODBUS_TIMEOUT')
  })

  it('a slave that does not answer times out with MODBUS_TIMEOUT; the rest of the round is not sent', async () => {
    const props = [property('a', 'INT', { register: 'HoldingRegister', offset: 0 }), property('b', 'INT', { register: 'InputRegister', offset: 0 })]
    const driver = await open(device('mute', tcp({ slaveID: 2, timeout: 300 }), props))
    await peer.mode(2, 'silent')
    try {
      await peer.reset()
      const got = await driver.read(props)
      assert.deepEqual(values(got), { a: 'MODBUS_TIMEOUT', b: 'MODBUS_TIMEOUT' })
      const a = got.get('a')
      assert.equal(a?.ok === false && a.error.connectionLost, false)
      assert.deepEqual(await peer.stats(), { '2:4': 1 }, 'one timeout, not two')
      assert.equal((await driver.health()).ok, false)
    } finally {
      await peer.mode(2, 'normal')
    }
  })
})

describe('Modbus TCP driver: peer killed and restarted', function () {
  this.timeout(30_000)
  it('reports connectionLost, fails to connect while the peer is down, then connects and reads again', async () => {
    let peer = await startPymodbus({ mode: 'tcp' })
    // no retry window: the peer is back sooner than the default one second (the window has its own test)
    const protocol = modbusProtocol({ connectRetryMs: 0 })
    const props = [property('p', 'INT', { register: 'HoldingRegister', offset: 0 })]
    const d = device('phoenix', { ip: '127.0.0.1', port: peer.port, timeout: 500 }, props)
    const driver = await connected(protocol, d)
    try {
      await peer.set(1, 'hr', 0, [5])
      assert.equal(values(await driver.read(props)).p, '5')
      await peer.kill9()
      await new Promise((r) => setTimeout(r, 100))
      const lost = (await driver.read(props)).get('p')
      assert.deepEqual(lost?.ok === false && [lost.error.code, lost.error.connectionLost], ['MODBUS_CONNECTION_LOST', true])
      // the runtime closes a lost driver and reconnects with back-off
      await driver.close()
      const refused = await driver.connect()
      assert.deepEqual(refused.ok === false && [refused.error.code, refused.error.connectionLost], ['MODBUS_CONNECT_FAILED', true])
      peer = await startPymodbus({ mode: 'tcp', port: peer.port })
      await peer.set(1, 'hr', 0, [6])
      assert.deepEqual(await driver.connect(), { ok: true, value: undefined })
      assert.equal(values(await driver.read(props)).p, '6')
      assert.deepEqual(await driver.health(), { ok: true, value: undefined })
    } finally {
      await driver.close()
      await protocol.close?.()
      await peer.stop()
    }
  })
})

describe('Modbus TCP link: many devices on an endpoint that is down', function () {
  this.timeout(30_000)
  it('cost one connection attempt per connectRetryMs, all answered with its failure, and connect once it is back', async () => {
    const lines: Array<{ msg?: string }> = []
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) })
    const protocol = modbusProtocol({ connectRetryMs: 1500 })
    const port = await freePort()
    const props = [property('p', 'INT', { register: 'HoldingRegister', offset: 0 })]
    const drivers = Array.from({ length: 50 }, (_, i) => protocol.createDriver(device(`meter-${i}`, { ip: '127.0.0.1', port, timeout: 500, slaveID: (i % 2) + 1 }, props), { log, dataDir: '/nonexistent' }))
    const attempts = (): number => lines.filter((l) => l.msg === 'opening modbus link').length
    let peer: PymodbusPeer | undefined
    try {
      const t0 = Date.now()
      const first = await Promise.all(drivers.map((d) => d.connect()))
      for (const d of drivers) await d.close() // as the runtime does after a failed connect
      const again = await Promise.all(drivers.map((d) => d.connect()))
      assert.ok(Date.now() - t0 < 1500, 'still inside the retry window')
      for (const out of [...first, ...again]) assert.deepEqual(out.ok === false && [out.error.code, out.error.connectionLost], ['MODBUS_CONNECT_FAILED', true])
      assert.equal(attempts(), 1, '100 connects of 50 devices, one attempt')

      peer = await startPymodbus({ mode: 'tcp', port, slaves: [1, 2] })
      await peer.set(2, 'hr', 0, [42])
      await new Promise((r) => setTimeout(r, Math.max(0, 1600 - (Date.now() - t0))))
      const back = await Promise.all(drivers.map((d) => d.connect()))
      for (const out of back) assert.deepEqual(out, { ok: true, value: undefined })
      assert.equal(attempts(), 2, 'the link opened once for all of them')
      assert.equal(values(await (drivers[1] as DeviceDriver).read(props)).p, '42')
    } finally {
      for (const d of drivers) await d.close()
      await protocol.close?.()
      await peer?.stop()
    }
  })
})

describe('Modbus RTU driver against pymodbus: three slaves on one serial line', function () {
  this.timeout(60_000)
  let dir: { path: string; remove(): Promise<void> }
  let pty: PtyPair
  let peer: PymodbusPeer
  let protocol: ModbusProtocol
  const drivers: DeviceDriver[] = []
  const props = [
    property('temp', 'FLOAT', { register: 'InputRegister', offset: 0, limit: 1, scale: 0.1 }),
    property('speed', 'INT', { register: 'HoldingRegister', offset: 10, dataType: 'uint16' }),
    property('total', 'INT', { register: 'HoldingRegister', offset: 11, dataType: 'uint32' }),
    property('running', 'BOOLEAN', { register: 'CoilRegister', offset: 0 }),
  ]
  const rtu = (slave: number, timeout = 400): Record<string, unknown> => ({ serialPort: pty.b, baudRate: 9600, parity: 'none', slaveID: slave, timeout })

  before(async () => {
    dir = await scratchDir('tern-modbus-')
    pty = await startPtyPair(dir.path)
    peer = await startPymodbus({ mode: 'rtu', device: pty.a, slaves: [1, 2, 3] })
    for (const slave of [1, 2, 3]) {
      await peer.set(slave, 'ir', 0, [200 + slave])
      await peer.set(slave, 'hr', 10, [slave * 100, 1, slave])
    }
  })
  after(async () => {
    await peer.stop()
    await pty.stop()
    await dir.remove()
  })
  beforeEach(async () => {
    protocol = modbusProtocol()
    for (const slave of [1, 2, 3]) drivers.push(await connected(protocol, device(`s${slave}`, rtu(slave), props)))
  })
  afterEach(async () => {
    for (const slave of [1, 2, 3]) await peer.mode(slave, 'normal')
    for (const d of drivers.splice(0)) await d.close()
    await protocol.close?.()
  })
  const expected = (slave: number): Record<string, string> => ({ temp: `${(200 + slave) / 10}`, speed: `${slave * 100}`, total: `${65536 + slave}`, running: 'false' })

  it('interleaved reads of three slaves share the line and all come back right, each from its own slave (their drivers share one read plan)', async () => {
    for (let round = 0; round < 5; round++) {
      const got = await Promise.all(drivers.map((d) => d.read(props)))
      got.forEach((m, i) => assert.deepEqual(values(m), expected(i + 1), `round ${round}, slave ${i + 1}`))
    }
  })

  it('writes a register, several registers and a coil over RTU', async () => {
    const d = drivers[1] as DeviceDriver
    assert.equal((await d.write(props[1] as EdgeProperty, '1500')).ok, true)
    assert.equal((await d.write(props[2] as EdgeProperty, '70000')).ok, true)
    assert.equal((await d.write(props[3] as EdgeProperty, 'true')).ok, true)
    assert.deepEqual(values(await d.read(props)), { temp: '20.2', speed: '1500', total: '70000', running: 'true' })
    await peer.set(2, 'hr', 10, [200, 1, 2])
    await peer.set(2, 'co', 0, [0])
  })

  it('a silent slave times out (MODBUS_TIMEOUT) and goes offline; the other slaves on the line are read meanwhile', async () => {
    await peer.mode(2, 'silent')
    const others = async (d: DeviceDriver, slave: number): Promise<void> => {
      for (let i = 0; i < 4; i++) assert.deepEqual(values(await d.read(props)), expected(slave))
    }
    const [silent] = await Promise.all([drivers[1]?.read(props), others(drivers[0] as DeviceDriver, 1), others(drivers[2] as DeviceDriver, 3)])
    assert.deepEqual(values(silent ?? new Map<string, Outcome<string>>()), { temp: 'MODBUS_TIMEOUT', speed: 'MODBUS_TIMEOUT', total: 'MODBUS_TIMEOUT', running: 'MODBUS_TIMEOUT' })
    // behaviour, not speed (a loaded machine): the timeout's code, the device offline, the others read
    assert.equal((await (drivers[1] as DeviceDriver).health()).ok, false, 'the silent slave is offline')
    await peer.mode(2, 'normal')
    assert.deepEqual(values(await (drivers[1] as DeviceDriver).read(props)), expected(2))
  })

  it('a broken CRC is MODBUS_CRC; garbage on the line is a timeout; the line works afterwards', async () => {
    const d = drivers[0] as DeviceDriver
    await peer.mode(1, 'badcrc')
    assert.deepEqual(new Set(Object.values(values(await d.read(props)))), new Set(['MODBUS_CRC']))
    await peer.mode(1, 'garbage')
    const garbled = Object.values(values(await d.read(props)))
    assert.ok(garbled.every((c) => c === 'MODBUS_TIMEOUT' || c === 'MODBUS_CRC' || c === 'MODBUS_BAD_RESPONSE'), garbled.join(','))
    await peer.mode(1, 'normal')
    assert.deepEqual(values(await d.read(props)), expected(1))
    assert.deepEqual(values(await (drivers[2] as DeviceDriver).read(props)), expected(3))
    assert.equal(protocol.counters.snapshot().s1?.MODBUS_CRC, 3)
  })

  it('exceptions over RTU become the same codes', async () => {
    await peer.mode(3, 'exception:2')
    const got = await (drivers[2] as DeviceDriver).read(props)
    assert.deepEqual(new Set(Object.values(values(got))), new Set(['MODBUS_ILLEGAL_ADDRESS']))
  })
})
