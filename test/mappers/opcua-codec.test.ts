/**
 * The pure parts of the OPC-UA protocol (kubeedge-compat.md §6.8): value conversion both
 * ways, node id and browse path text, and config validation with manifest paths.
 */
import assert from 'node:assert/strict'
import { DataValue } from 'node-opcua'
import { BuiltIn, fromTwin, normalizeNodeId, parseBrowsePath, shortestNumber, toTwin } from '../../mappers/opcua/codec.js'
import { olderThan } from '../../mappers/opcua/freshness.js'
import { opcuaProtocol } from '../../mappers/opcua/protocol.js'
import { resolveDevice } from '../../mappers/opcua/settings.js'
import { boilerDevice, opcuaProperty } from '../support/opcua.js'

describe('opcua codec: node values → twin strings by model type', () => {
  const cases: Array<[string, number, unknown, Parameters<typeof toTwin>[1], string]> = [
    ['Double → DOUBLE', BuiltIn.Double, 21.5, 'DOUBLE', '21.5'],
    ['Float → FLOAT, shortest float32 form', BuiltIn.Float, Math.fround(0.1), 'FLOAT', '0.1'],
    ['Int32 → INT', BuiltIn.Int32, -7, 'INT', '-7'],
    ['Int64 [hi, lo] → INT', BuiltIn.Int64, [0xffffffff, 0xfffffffe], 'INT', '-2'],
    ['UInt64 [hi, lo] → INT', BuiltIn.UInt64, [1, 0], 'INT', '4294967296'],
    ['Double → INT rounds', BuiltIn.Double, 2.6, 'INT', '3'],
    ['Boolean → BOOLEAN', BuiltIn.Boolean, false, 'BOOLEAN', 'false'],
    ['Int32 → BOOLEAN', BuiltIn.Int32, 3, 'BOOLEAN', 'true'],
    ['String → STRING', BuiltIn.String, 'auto', 'STRING', 'auto'],
    ['LocalizedText → STRING', BuiltIn.LocalizedText, { text: 'Kessel', locale: 'de' }, 'STRING', 'Kessel'],
    ['ByteString → BYTES base64', BuiltIn.ByteString, Buffer.from([1, 2, 3]), 'BYTES', 'AQID'],
    ['ByteString → STRING as text (KubeEdge)', BuiltIn.ByteString, Buffer.from('hi'), 'STRING', 'hi'],
    ['DateTime → STRING ISO', BuiltIn.DateTime, new Date(0), 'STRING', '1970-01-01T00:00:00.000Z'],
  ]
  for (const [name, dataType, value, type, expected] of cases) {
    it(name, () => assert.deepEqual(toTwin({ dataType, value }, type), { ok: true, value: expected }))
  }
  it('null, arrays, NaN and non-numeric strings are OPCUA_VALUE_INVALID', () => {
    for (const [dataType, value, type] of [
      [BuiltIn.Null, null, 'INT'],
      [BuiltIn.Double, [1, 2], 'DOUBLE'],
      [BuiltIn.Double, NaN, 'DOUBLE'],
      [BuiltIn.String, 'warm', 'INT'],
    ] as const) {
      const out = toTwin({ dataType, value }, type)
      assert.equal(out.ok === false && out.error.code, 'OPCUA_VALUE_INVALID', `${dataType} ${String(value)}`)
    }
  })
  it('shortestNumber keeps float64 exact and trims float32 widening', () => {
    assert.equal(shortestNumber(0.1, false), '0.1')
    assert.equal(shortestNumber(Math.fround(21.3), true), '21.3')
    assert.equal(shortestNumber(Math.fround(1 / 3), true), '0.33333334')
  })
})

describe('opcua codec: twin strings → the node data type', () => {
  it('converts to each built-in type', () => {
    assert.deepEqual(fromTwin('42', BuiltIn.Int32), { ok: true, value: { dataType: BuiltIn.Int32, value: 42 } })
    assert.deepEqual(fromTwin('42.0', BuiltIn.UInt16), { ok: true, value: { dataType: BuiltIn.UInt16, value: 42 } })
    assert.deepEqual(fromTwin('-2', BuiltIn.Int64), { ok: true, value: { dataType: BuiltIn.Int64, value: [0xffffffff, 0xfffffffe] } })
    assert.deepEqual(fromTwin('true', BuiltIn.Boolean), { ok: true, value: { dataType: BuiltIn.Boolean, value: true } })
    assert.deepEqual(fromTwin('0', BuiltIn.Boolean), { ok: true, value: { dataType: BuiltIn.Boolean, value: false } })
    assert.deepEqual(fromTwin('-3.5', BuiltIn.Double), { ok: true, value: { dataType: BuiltIn.Double, value: -3.5 } })
    assert.deepEqual(fromTwin('x', BuiltIn.String), { ok: true, value: { dataType: BuiltIn.String, value: 'x' } })
    assert.deepEqual(fromTwin('aGk=', BuiltIn.ByteString), { ok: true, value: { dataType: BuiltIn.ByteString, value: Buffer.from('hi') } })
  })
  it('refuses what the type cannot hold (OPCUA_VALUE_INVALID)', () => {
    for (const [text, type] of [
      ['128', BuiltIn.SByte],
      ['-1', BuiltIn.UInt32],
      ['1.5', BuiltIn.Int32],
      ['abc', BuiltIn.Double],
      ['Infinity', BuiltIn.Double],
      ['1e39', BuiltIn.Float],
      ['maybe', BuiltIn.Boolean],
      ['not base64!', BuiltIn.ByteString],
      ['x', BuiltIn.ExpandedNodeId],
    ] as const) {
      const out = fromTwin(text, type)
      assert.equal(out.ok === false && out.error.code, 'OPCUA_VALUE_INVALID', `${text} as ${type}`)
    }
  })
})

describe('opcua codec: node ids and browse paths', () => {
  it('accepts standard node ids and KubeEdge comma form', () => {
    assert.equal(normalizeNodeId('ns=2;i=1005'), 'ns=2;i=1005')
    assert.equal(normalizeNodeId('ns=2,i=1005'), 'ns=2;i=1005')
    assert.equal(normalizeNodeId('ns=1;s=Boiler,Temperature'), 'ns=1;s=Boiler,Temperature')
    assert.equal(normalizeNodeId('i=2258'), 'i=2258')
    assert.equal(normalizeNodeId('Temperature'), undefined)
    assert.equal(normalizeNodeId('ns=x;i=1'), undefined)
  })
  it('parses browse paths from the Objects folder', () => {
    const expected = [
      { namespace: undefined, name: 'Plant' },
      { namespace: 1, name: 'Boiler' },
    ]
    assert.deepEqual(parseBrowsePath('/Objects/Plant/1:Boiler'), expected)
    assert.deepEqual(parseBrowsePath('Plant/1:Boiler'), expected)
    assert.deepEqual(parseBrowsePath(['Plant', '1:Boiler']), expected)
    assert.equal(parseBrowsePath('/Objects'), undefined)
  })
})

describe('opcua freshness: a value sampled earlier never replaces a newer one', () => {
  const at = (server: number | null, source: number | null = null, serverPicoseconds = 0): DataValue =>
    new DataValue({ serverTimestamp: server === null ? null : new Date(server), serverPicoseconds, sourceTimestamp: source === null ? null : new Date(source) })
  it('by server timestamp, then picoseconds; equal is not older', () => {
    assert.equal(olderThan(at(1000), at(2000)), true)
    assert.equal(olderThan(at(2000), at(1000)), false)
    assert.equal(olderThan(at(1000), at(1000)), false)
    assert.equal(olderThan(at(1000, null, 10), at(1000, null, 20)), true)
  })
  it('by source timestamp when a server timestamp is missing; never older without comparable timestamps', () => {
    assert.equal(olderThan(at(null, 1000), at(null, 2000)), true)
    assert.equal(olderThan(at(null, 1000), at(5000, 2000)), true)
    assert.equal(olderThan(at(null), at(2000, 2000)), false)
    assert.equal(olderThan(at(1000), at(null)), false)
  })
})

describe('opcua settings: validation with manifest paths', () => {
  const problems = (device: ReturnType<typeof boilerDevice>): string[] => opcuaProtocol().validate(device).map((p) => p.path)

  it('the boiler fixture is valid; defaults are filled (None/None, anonymous, timeout)', () => {
    const resolved = resolveDevice(boilerDevice('b', 'opc.tcp://127.0.0.1:4840', { timeout: undefined }))
    assert.ok(resolved.ok)
    assert.equal(resolved.settings.securityMode, 'None')
    assert.equal(resolved.settings.securityPolicy, 'None')
    assert.deepEqual(resolved.settings.identity, { kind: 'anonymous' })
    assert.equal(resolved.settings.timeoutMs, 5000)
    assert.equal(resolved.settings.publishingIntervalMs, 200, 'the fastest collectCycle')
  })
  it('an idle link stays up: the socket idle timeout spans several session keep-alives, by default and for any timeout', () => {
    const resolved = resolveDevice(boilerDevice('b', 'opc.tcp://127.0.0.1:4840', { timeout: undefined }))
    assert.ok(resolved.ok)
    const { keepAliveMs, socketIdleMs, timeoutMs } = resolved.settings
    assert.equal(keepAliveMs, 5000)
    // the defaults used to be 5000 and 5000: a keep-alive a little late dropped the link
    assert.ok(socketIdleMs >= 2 * keepAliveMs, `socket idle ${socketIdleMs} ms vs keep-alive ${keepAliveMs} ms`)
    assert.ok(socketIdleMs >= timeoutMs, 'a request may take its whole timeout')
    for (const timeout of [100, 999, 1000, 2500, 5000, 7000, 60_000, 600_000]) {
      const r = resolveDevice(boilerDevice('b', 'opc.tcp://127.0.0.1:4840', { timeout }))
      assert.ok(r.ok && r.settings.socketIdleMs >= 2 * r.settings.keepAliveMs && r.settings.socketIdleMs >= timeout, `timeout ${timeout}`)
    }
  })
  it('a secure mode defaults to Basic256Sha256; a policy must match its mode', () => {
    const secure = resolveDevice(boilerDevice('b', 'opc.tcp://h:4840', { securityMode: 'SignAndEncrypt' }))
    assert.ok(secure.ok && secure.settings.securityPolicy === 'Basic256Sha256')
    assert.deepEqual(problems(boilerDevice('b', 'opc.tcp://h:4840', { securityPolicy: 'Basic256Sha256' })), ['/spec/protocol/configData/securityPolicy'])
  })
  it('reports bad keys with their paths', () => {
    assert.deepEqual(problems(boilerDevice('b', 'http://h')), ['/spec/protocol/configData/url'])
    assert.deepEqual(problems(boilerDevice('b', 'opc.tcp://h:4840', { password: '/etc/pw' })), ['/spec/protocol/configData/userName'])
    assert.deepEqual(problems(boilerDevice('b', 'opc.tcp://h:4840', { certificate: '/c.pem' })), ['/spec/protocol/configData/privateKey'])
    assert.deepEqual(problems(boilerDevice('b', 'opc.tcp://h:4840', { userName: 'u', passwordFile: '/a', passwordEnv: 'PW' })), ['/spec/protocol/configData/passwordEnv'])
    const device = boilerDevice('b', 'opc.tcp://h:4840')
    device.properties = [opcuaProperty('a', 'INT', { nodeID: 'Temperature' }), opcuaProperty('b', 'INT', { register: 'x' }), opcuaProperty('c', 'INT', {}), opcuaProperty('d', 'INT', { browseName: '/Objects' })]
    assert.deepEqual(problems(device), ['/spec/properties/0/visitors/configData/nodeID', '/spec/properties/1/visitors/configData/register', '/spec/properties/3/visitors/configData/browseName'])
  })
  it('identity precedence (KubeEdge): certificate, then user name, then anonymous', () => {
    const both = resolveDevice(boilerDevice('b', 'opc.tcp://h:4840', { userName: 'u', certificate: '/c.pem', privateKey: '/k.pem' }))
    assert.ok(both.ok && both.settings.identity.kind === 'certificate')
    const user = resolveDevice(boilerDevice('b', 'opc.tcp://h:4840', { userName: 'u', password: '/pw' }))
    assert.ok(user.ok)
    assert.deepEqual(user.settings.identity, { kind: 'userName', userName: 'u', password: { file: '/pw' } })
  })
})
