/**
 * A Bluetooth LE device's configuration, resolved: the link settings from `protocol.configData`
 * and one point (characteristic, value format, write table) per property visitor. Every problem
 * is reported with its path as the manifest spells it; a property without a visitor has no point.
 */
import type { EdgeDevice, EdgeProperty, PropertyType } from '../../schemas/device.js'
import type { BleDataType } from '../../schemas/bluetooth.js'
import { BluetoothProtocolConfig as bluetoothProtocolConfigCheck } from '../../schemas/generated/validators/BluetoothProtocolConfig.js'
import { BluetoothVisitor as bluetoothVisitorCheck } from '../../schemas/generated/validators/BluetoothVisitor.js'
import { validator, type Problem } from '../../schemas/validate.js'
import { MAX_JOIN_BYTES, normalizeUuid, parseOperation, typeWidth, type Operation, type ValueFormat } from './codec.js'
import { PROTOCOL_CONFIG_PATH, checkConfigData, visitorConfigPath } from '../config-data.js'

export interface BluetoothSettings {
  readonly address: string
  readonly adapter: string
  readonly scanTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly maxConnections: number
  readonly queueTimeoutMs: number
}

export interface Point {
  readonly name: string
  readonly characteristic: string
  readonly service: string | undefined
  readonly format: ValueFormat
  /** desired value → bytes (KubeEdge dataWrite) */
  readonly dataWrite: ReadonlyMap<string, Buffer>
  readonly readMode: 'auto' | 'notify' | 'poll'
  readonly writeType: 'auto' | 'request' | 'command'
}

export type ResolvedDevice = { ok: true; settings: BluetoothSettings; points: ReadonlyMap<string, Point> } | { ok: false; problems: Problem[] }

const checkProtocol = validator(bluetoothProtocolConfigCheck)
const checkVisitor = validator(bluetoothVisitorCheck)

/** Which property types each decoding can produce. */
function fits(dataType: BleDataType | 'join', type: PropertyType): boolean {
  if (dataType === 'bytes') return type === 'BYTES'
  if (dataType === 'utf8') return type === 'STRING'
  return type === 'INT' || type === 'FLOAT' || type === 'DOUBLE' || type === 'BOOLEAN' || type === 'STRING'
}

function defaultType(type: PropertyType): BleDataType | 'join' {
  if (type === 'STRING') return 'utf8'
  if (type === 'BYTES' || type === 'STREAM') return 'bytes'
  return 'join'
}

export function resolveDevice(device: EdgeDevice): ResolvedDevice {
  const problems: Problem[] = []
  const c = checkConfigData(checkProtocol, device.protocol.configData, PROTOCOL_CONFIG_PATH, problems)
  const points = new Map<string, Point>()
  device.properties.forEach((property, i) => {
    const point = resolvePoint(property, visitorConfigPath(i), problems)
    if (point !== undefined) points.set(property.name, point)
  })
  if (c === undefined || problems.length > 0) return { ok: false, problems }
  return {
    ok: true,
    settings: {
      address: c.macAddress.toUpperCase(),
      adapter: c.adapter,
      scanTimeoutMs: c.scanTimeout,
      connectTimeoutMs: c.connectTimeout,
      maxConnections: c.maxConnections,
      queueTimeoutMs: c.queueTimeout,
    },
    points,
  }
}

function resolvePoint(property: EdgeProperty, base: string, problems: Problem[]): Point | undefined {
  const configData = property.visitors.configData
  if (Object.keys(configData).length === 0) return undefined
  const v = checkConfigData(checkVisitor, configData, base, problems)
  if (v === undefined) return undefined
  const conv = v.dataConverter ?? {}
  const dataType = v.dataType ?? defaultType(property.type)
  const before = problems.length
  if (!fits(dataType, property.type)) problems.push({ path: `${base}/dataType`, message: `${dataType} cannot hold a ${property.type} property` })
  const width = typeWidth(dataType)
  const start = conv.startIndex ?? 0
  if (width !== undefined && conv.endIndex !== undefined && Math.abs(conv.endIndex - start) + 1 !== width) {
    problems.push({ path: `${base}/dataConverter/endIndex`, message: `${dataType} is ${width} bytes; startIndex..endIndex selects ${Math.abs(conv.endIndex - start) + 1}` })
  }
  if (dataType === 'join' && conv.endIndex !== undefined && Math.abs(conv.endIndex - start) + 1 > MAX_JOIN_BYTES) {
    problems.push({ path: `${base}/dataConverter/endIndex`, message: `a byte join spans at most ${MAX_JOIN_BYTES} bytes` })
  }
  const operations: Operation[] = []
  ;(conv.orderOfOperations ?? []).forEach((o, k) => {
    const op = parseOperation(o.operationType, o.operationValue)
    if (op === undefined) problems.push({ path: `${base}/dataConverter/orderOfOperations/${k}/operationType`, message: 'must be Add, Subtract, Multiply or Divide' })
    else if ((op.op === 'divide' || op.op === 'multiply') && op.value === 0) problems.push({ path: `${base}/dataConverter/orderOfOperations/${k}/operationValue`, message: `${o.operationType} by 0` })
    else operations.push(op)
  })
  const dataWrite = new Map<string, Buffer>()
  for (const [value, bytes] of Object.entries(v.dataWrite ?? {})) {
    if (typeof bytes !== 'string') dataWrite.set(value, Buffer.from(bytes))
    else if (/^[A-Za-z0-9+/]*={0,2}$/.test(bytes) && bytes.length % 4 === 0) dataWrite.set(value, Buffer.from(bytes, 'base64'))
    else problems.push({ path: `${base}/dataWrite/${value.replace(/~/g, '~0').replace(/\//g, '~1')}`, message: 'not base64 (KubeEdge writes []byte as base64) nor an array of bytes' })
  }
  if (problems.length > before) return undefined
  return {
    name: property.name,
    characteristic: normalizeUuid(v.characteristicUUID),
    service: v.serviceUUID !== undefined ? normalizeUuid(v.serviceUUID) : undefined,
    format: {
      dataType,
      startIndex: start,
      endIndex: conv.endIndex,
      byteOrder: conv.byteOrder ?? 'big',
      shiftLeft: conv.shiftLeft ?? 0,
      shiftRight: conv.shiftRight ?? 0,
      operations,
      propertyType: property.type,
    },
    dataWrite,
    readMode: v.readMode,
    writeType: v.writeType,
  }
}
