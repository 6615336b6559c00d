/**
 * A Modbus device's configuration, resolved: the link settings from `protocol.configData` and one
 * point (table, address, count, format) per property visitor. Every problem is reported with its
 * path, as the manifest spells it; a property without a visitor is no problem (an edge-owned
 * property that no register backs) and has no point.
 */
import type { EdgeDevice, EdgeProperty, PropertyType } from '../../schemas/device.js'
import type { ModbusRegister } from '../../schemas/modbus.js'
import { ModbusProtocolConfig as modbusProtocolConfigCheck } from '../../schemas/generated/validators/ModbusProtocolConfig.js'
import { ModbusVisitor as modbusVisitorCheck } from '../../schemas/generated/validators/ModbusVisitor.js'
import { validator, type Problem } from '../../schemas/validate.js'
import { resolveType, type RegisterFormat } from './codec.js'
import type { Table } from './plan.js'
import { PROTOCOL_CONFIG_PATH, checkConfigData, visitorConfigPath } from '../config-data.js'

export type Transport =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | {
      readonly kind: 'rtu'
      readonly path: string
      readonly baudRate: number
      readonly dataBits: number
      readonly parity: 'none' | 'even' | 'odd'
      readonly stopBits: number
    }

export interface ModbusSettings {
  readonly transport: Transport
  readonly slave: number
  readonly timeoutMs: number
  readonly interFrameDelayMs: number
  readonly maxGap: number
}

export interface Point {
  readonly name: string
  readonly table: Table
  readonly offset: number
  /** registers, or 1 bit */
  readonly count: number
  readonly propertyType: PropertyType
  /** undefined for coils and discrete inputs (single bits) */
  readonly format: RegisterFormat | undefined
}

export type ResolvedDevice = { ok: true; settings: ModbusSettings; points: ReadonlyMap<string, Point> } | { ok: false; problems: Problem[] }

const checkProtocol = validator(modbusProtocolConfigCheck)
const checkVisitor = validator(modbusVisitorCheck)

const TABLES: Readonly<Record<ModbusRegister, Table>> = {
  CoilRegister: 'coil',
  DiscreteInputRegister: 'discrete',
  InputRegister: 'input',
  HoldingRegister: 'holding',
}

export function resolveDevice(device: EdgeDevice): ResolvedDevice {
  const problems: Problem[] = []
  const settings = resolveSettings(device.protocol.configData, problems)
  const points = new Map<string, Point>()
  device.properties.forEach((property, i) => {
    const point = resolvePoint(property, visitorConfigPath(i), problems)
    if (point !== undefined) points.set(property.name, point)
  })
  if (problems.length > 0 || settings === undefined) return { ok: false, problems }
  return { ok: true, settings, points }
}

function resolveSettings(configData: Record<string, unknown>, problems: Problem[]): ModbusSettings | undefined {
  const base = PROTOCOL_CONFIG_PATH
  const c = checkConfigData(checkProtocol, configData, base, problems)
  if (c === undefined) return undefined
  const host = c.ip ?? c.host
  if (c.ip !== undefined && c.host !== undefined && c.ip !== c.host) problems.push({ path: `${base}/host`, message: 'ip and host name different addresses' })
  if (host !== undefined && c.serialPort !== undefined) {
    problems.push({ path: `${base}/serialPort`, message: 'set either ip/host (Modbus TCP) or serialPort (Modbus RTU), not both' })
  }
  if (host === undefined && c.serialPort === undefined) {
    problems.push({ path: base, message: 'set ip (or host) for Modbus TCP, or serialPort for Modbus RTU' })
    return undefined
  }
  if (c.serialPort !== undefined && (c.slaveID < 1 || c.slaveID > 247)) {
    problems.push({ path: `${base}/slaveID`, message: 'on a serial line the slave id is 1-247 (0 is broadcast: nobody answers)' })
  }
  const transport: Transport =
    host !== undefined
      ? { kind: 'tcp', host, port: c.port }
      : { kind: 'rtu', path: c.serialPort ?? '', baudRate: c.baudRate, dataBits: c.dataBits, parity: c.parity, stopBits: c.stopBits }
  return {
    transport,
    slave: c.slaveID,
    timeoutMs: c.timeout,
    interFrameDelayMs: c.interFrameDelayMs ?? defaultInterFrameDelay(transport),
    maxGap: c.maxGap,
  }
}

/** Modbus over serial line §2.5.1.1: frames are separated by at least 3.5 character times. */
export function defaultInterFrameDelay(transport: Transport): number {
  if (transport.kind === 'tcp') return 0
  const bitsPerChar = 1 + transport.dataBits + (transport.parity === 'none' ? 0 : 1) + transport.stopBits
  return Math.max(2, Math.ceil((3.5 * bitsPerChar * 1000) / transport.baudRate))
}

function resolvePoint(property: EdgeProperty, base: string, problems: Problem[]): Point | undefined {
  const configData = property.visitors.configData
  if (Object.keys(configData).length === 0) return undefined
  const v = checkConfigData(checkVisitor, configData, base, problems)
  if (v === undefined) return undefined
  if (v.scale === 0 || !Number.isFinite(v.scale)) {
    problems.push({ path: `${base}/scale`, message: 'scale must be a non-zero number' })
    return undefined
  }
  const type = resolveType(v.register, property.type, v.dataType, v.limit)
  if (!type.ok) {
    problems.push({ path: base, message: type.message })
    return undefined
  }
  const table = TABLES[v.register]
  if (type.bit) return { name: property.name, table, offset: v.offset, count: 1, propertyType: property.type, format: undefined }
  if (v.offset + type.count > 65536) {
    problems.push({ path: `${base}/offset`, message: `offset ${v.offset} + ${type.count} registers passes the last address 65535` })
    return undefined
  }
  const format: RegisterFormat = {
    dataType: type.dataType,
    count: type.count,
    scale: v.scale,
    byteSwap: v.isSwap,
    wordSwap: v.isRegisterSwap,
    propertyType: property.type,
  }
  return { name: property.name, table, offset: v.offset, count: type.count, propertyType: property.type, format }
}
