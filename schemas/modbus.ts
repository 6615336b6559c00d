/**
 * Modbus `protocol.configData` and property `visitors.configData`, declared once with TypeBox
 * (generated into schemas/generated/modbus-*.schema.json). Key names are KubeEdge's
 * (kubeedge-compat.md §6.7): the v1.15 reference mapper's `slaveID`, `serialPort`, `baudRate`,
 * `dataBits`, `stopBits`, `parity`, `timeout`, the proposal's `ip`/`port` for TCP, and the visitor's
 * `register`, `offset`, `limit`, `scale`, `isSwap`, `isRegisterSwap`, `dataType`. tern adds
 * explicit data types, `host`, `interFrameDelayMs` and `maxGap`.
 *
 * A field with a `default` is filled in by the validator. Cross-field rules (TCP xor serial, limit
 * against data type, data type against the model property type) are checked in
 * mappers/modbus/points.ts, with the same paths.
 */
import { Type, type Static } from '@sinclair/typebox'
import { StringEnum } from './typebox.js'

export const MODBUS_REGISTERS = ['CoilRegister', 'DiscreteInputRegister', 'InputRegister', 'HoldingRegister'] as const

/** Explicit data types; each names its width (registers) and signedness. */
export const MODBUS_DATA_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'boolean', 'string', 'bytes'] as const
/** KubeEdge's v1beta1 `dataType` vocabulary (`boolean` and `string` are shared with the explicit list). */
export const MODBUS_LEGACY_DATA_TYPES = ['int', 'float', 'double'] as const

export const ModbusProtocolConfig = Type.Object(
  {
    slaveID: Type.Integer({ minimum: 0, maximum: 255, default: 1, description: 'slave (unit) id; 1-247 on a serial line' }),
    ip: Type.Optional(Type.String({ minLength: 1, description: 'Modbus TCP: address of the device or gateway (KubeEdge key)' })),
    host: Type.Optional(Type.String({ minLength: 1, description: 'Modbus TCP: same as `ip`' })),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 502, description: 'Modbus TCP: port' }),
    serialPort: Type.Optional(Type.String({ minLength: 1, description: 'Modbus RTU: serial device path, e.g. /dev/ttyUSB0' })),
    baudRate: Type.Integer({ minimum: 50, maximum: 4_000_000, default: 9600, description: 'Modbus RTU: bits per second' }),
    dataBits: Type.Integer({ minimum: 5, maximum: 8, default: 8, description: 'Modbus RTU: 5, 6, 7 or 8' }),
    parity: StringEnum(['none', 'even', 'odd'], { default: 'none', description: 'Modbus RTU: parity (KubeEdge maps even→E, odd→O, else N)' }),
    stopBits: Type.Integer({ minimum: 1, maximum: 2, default: 1, description: 'Modbus RTU: 1 or 2' }),
    timeout: Type.Integer({
      minimum: 1,
      maximum: 60_000,
      default: 1000,
      description: 'ms to wait for each answer (and for a TCP connect); KubeEdge v1.15 read this as nanoseconds',
    }),
    interFrameDelayMs: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 10_000,
        description: 'silence between two requests on one line; default: 3.5 character times at baudRate (at least 2 ms) on serial, 0 on TCP',
      }),
    ),
    maxGap: Type.Integer({
      minimum: 0,
      maximum: 2000,
      default: 8,
      description: 'unused registers (or coils) a batched read may span to merge two properties into one request; 0 merges only adjacent ones',
    }),
  },
  // The DMI cache merges the model's protocolConfigData under the instance's; unknown keys are ignored.
  { additionalProperties: true },
)

export const ModbusVisitor = Type.Object(
  {
    register: StringEnum(MODBUS_REGISTERS, { description: 'table: coils, discrete inputs, input registers or holding registers' }),
    offset: Type.Integer({ minimum: 0, maximum: 65535, description: 'address of the first coil or register (0-based, as on the wire)' }),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 125,
        description: 'registers the value spans; default from dataType (string/bytes: 1); coils and discrete inputs: 1',
      }),
    ),
    scale: Type.Number({ default: 1, description: 'value = raw × scale; writes divide by it (KubeEdge: a missing scale was 0)' }),
    isSwap: Type.Boolean({ default: false, description: 'swap the two bytes inside each register (byte order)' }),
    isRegisterSwap: Type.Boolean({ default: false, description: 'reverse the order of the registers (word order)' }),
    dataType: Type.Optional(
      StringEnum([...MODBUS_DATA_TYPES, ...MODBUS_LEGACY_DATA_TYPES], {
        description: 'register encoding; default from the model property type and limit (README, Modbus)',
      }),
    ),
  },
  { additionalProperties: false },
)

export type ModbusProtocolConfig = Static<typeof ModbusProtocolConfig>
export type ModbusVisitor = Static<typeof ModbusVisitor>
export type ModbusRegister = (typeof MODBUS_REGISTERS)[number]
export type ModbusDataType = (typeof MODBUS_DATA_TYPES)[number]
export type ModbusLegacyDataType = (typeof MODBUS_LEGACY_DATA_TYPES)[number]
