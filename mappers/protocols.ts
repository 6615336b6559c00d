/**
 * The protocols tern can run a mapper for, by `spec.protocol.protocolName`. `mappers.enabled` in the
 * edge config and `tern mapper <protocol>` name entries of this table. Adding a protocol: a folder
 * `mappers/<name>/` exporting a factory `(options: ProtocolOptions) => Protocol`, and one line here.
 */
import { BLUETOOTH, bluetoothProtocol } from './bluetooth/protocol.js'
import type { Protocol } from './driver.js'
import { MODBUS, modbusProtocol } from './modbus/protocol.js'
import { OPCUA, opcuaProtocol } from './opcua/protocol.js'
import { VIRTUAL, virtualProtocol } from './virtual/protocol.js'

/** What every protocol factory is given. */
export interface ProtocolOptions {
  /** the node's data directory (certificates, trust lists) */
  dataDir: string
}

export type ProtocolFactory = (options: ProtocolOptions) => Protocol

export const protocols: Readonly<Record<string, ProtocolFactory>> = {
  // One line per protocol folder, mappers/<name>/.
  [BLUETOOTH]: () => bluetoothProtocol(),
  [MODBUS]: () => modbusProtocol(),
  [OPCUA]: (options) => opcuaProtocol({ dataDir: options.dataDir }),
  [VIRTUAL]: () => virtualProtocol(),
}

export function protocolNames(): string[] {
  return Object.keys(protocols).sort()
}

/** The factory of `name`, or undefined when tern has no such protocol. */
export function protocolFactory(name: string): ProtocolFactory | undefined {
  return Object.hasOwn(protocols, name) ? protocols[name] : undefined
}
