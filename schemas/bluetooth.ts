/**
 * Bluetooth LE `protocol.configData` and property `visitors.configData`, declared once with TypeBox
 * (generated into schemas/generated/bluetooth-*.schema.json). Key names are KubeEdge's
 * (kubeedge-compat.md §6.9): the protocol's `macAddress`, the visitor's `characteristicUUID`,
 * `dataWrite` and `dataConverter` {`startIndex`, `endIndex`, `shiftLeft`, `shiftRight`,
 * `orderOfOperations`}. tern adds the adapter and its connection limit, timeouts, `byteOrder` of
 * the converter's byte join (KubeEdge joined decimal strings: bytes 1, 23 → 123), typed decodings
 * (`dataType`), `serviceUUID`, `readMode` and `writeType`.
 *
 * Cross-field rules (index ranges against the data type, data type against the model property
 * type) are checked in mappers/bluetooth/points.ts with the same paths.
 */
import { Type, type Static } from '@sinclair/typebox'
import { StringEnum } from './typebox.js'

/** Typed decodings of the selected bytes; `le`/`be` name the byte order. */
export const BLE_DATA_TYPES = [
  'int8',
  'uint8',
  'int16le',
  'int16be',
  'uint16le',
  'uint16be',
  'int32le',
  'int32be',
  'uint32le',
  'uint32be',
  'float32le',
  'float32be',
  'sfloat',
  'float',
  'utf8',
  'bytes',
] as const

export const BLE_OPERATIONS = ['Add', 'Subtract', 'Multiply', 'Divide'] as const

const MAC = '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$'
const UUID = '^([0-9A-Fa-f]{4}|[0-9A-Fa-f]{8}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$'

export const BluetoothProtocolConfig = Type.Object(
  {
    macAddress: Type.String({ pattern: MAC, description: 'the peripheral’s address, e.g. A4:C1:38:00:11:22 (KubeEdge key)' }),
    adapter: Type.String({ pattern: '^hci[0-9]+$', default: 'hci0', description: 'the BlueZ adapter (controller) to use' }),
    scanTimeout: Type.Integer({ minimum: 100, maximum: 120_000, default: 4000, description: 'ms to scan for a device BlueZ does not know yet before connect fails' }),
    connectTimeout: Type.Integer({ minimum: 100, maximum: 120_000, default: 3500, description: 'ms for Connect and GATT service discovery' }),
    maxConnections: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 5,
      description: 'connections the adapter holds at once; further devices queue for a slot (devices on one adapter that disagree: the smallest wins)',
    }),
    queueTimeout: Type.Integer({ minimum: 0, maximum: 120_000, default: 2000, description: 'ms a device waits in the queue for a connection slot before its connect fails (and is retried with back-off)' }),
  },
  // The DMI cache merges the model's protocolConfigData under the instance's; unknown keys are ignored.
  { additionalProperties: true },
)

export const BluetoothOperation = Type.Object(
  {
    operationType: Type.String({ description: 'Add, Subtract, Multiply or Divide, matched case-insensitively as KubeEdge does; applied in order' }),
    operationValue: Type.Number(),
  },
  { additionalProperties: false },
)

export const BluetoothDataConverter = Type.Object(
  {
    startIndex: Type.Optional(Type.Integer({ minimum: 0, maximum: 511, description: 'first byte of the value (default 0)' })),
    endIndex: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 511, description: 'last byte, inclusive (default: the last byte); startIndex > endIndex takes the bytes in reverse order' }),
    ),
    shiftLeft: Type.Optional(Type.Integer({ minimum: 0, maximum: 52, description: 'bits; applied to the joined integer (if non-zero, shiftRight is ignored, as KubeEdge)' })),
    shiftRight: Type.Optional(Type.Integer({ minimum: 0, maximum: 52, description: 'bits; applied to the joined integer' })),
    orderOfOperations: Type.Optional(Type.Array(BluetoothOperation, { maxItems: 16 })),
    byteOrder: Type.Optional(
      StringEnum(['big', 'little'], {
        description: 'tern: how the selected bytes are joined into an integer when no dataType is set; big (default) = the first selected byte is the most significant',
      }),
    ),
  },
  { additionalProperties: false },
)

export const BluetoothVisitor = Type.Object(
  {
    characteristicUUID: Type.String({ pattern: UUID, description: 'the GATT characteristic: 16-bit (2a1c), 32-bit or 128-bit UUID' }),
    serviceUUID: Type.Optional(Type.String({ pattern: UUID, description: 'tern: the service holding it, when two services have the same characteristic' })),
    dataWrite: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { maxItems: 512 })]), {
        description: 'desired value → bytes to write; bytes as base64 (KubeEdge JSON of []byte) or an array of numbers',
      }),
    ),
    dataConverter: Type.Optional(BluetoothDataConverter),
    dataType: Type.Optional(
      StringEnum(BLE_DATA_TYPES, {
        description: 'tern: typed decoding of the selected bytes (sfloat/float: IEEE-11073 16/32-bit as in GATT measurements); default: the byte join of dataConverter',
      }),
    ),
    readMode: StringEnum(['auto', 'notify', 'poll'], {
      default: 'auto',
      description: 'tern: auto = notifications when the characteristic has notify/indicate, else reads at collectCycle',
    }),
    writeType: StringEnum(['auto', 'request', 'command'], {
      default: 'auto',
      description: 'tern: request = write with response, command = without; auto = request unless only write-without-response is offered',
    }),
  },
  { additionalProperties: false },
)

export type BluetoothProtocolConfig = Static<typeof BluetoothProtocolConfig>
export type BluetoothVisitor = Static<typeof BluetoothVisitor>
export type BluetoothDataConverter = Static<typeof BluetoothDataConverter>
export type BleDataType = (typeof BLE_DATA_TYPES)[number]
export type BleOperation = (typeof BLE_OPERATIONS)[number]
