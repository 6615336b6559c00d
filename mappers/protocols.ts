/**
 * The protocols tern can run a mapper for, by `spec.protocol.protocolName`. `mappers.enabled` in the
 * edge config and `tern mapper <protocol>` name entries of this table. Adding a protocol: a folder
 * `mappers/<name>/` exporting a factory `(options: ProtocolOptions) => Protocol`, and one line here.
 *
 * Each entry loads its folder on first use (dynamic `import()`): a protocol's client library is
 * large (node-ble with dbus-next, modbus-serial with serialport, node-opcua), and an edge node
 * should carry in memory only the protocols it runs.
 */
import type { Protocol } from './driver.js'

/** What every protocol factory is given. */
export interface ProtocolOptions {
  /** the node's data directory (certificates, trust lists) */
  dataDir: string
}

export type ProtocolFactory = (options: ProtocolOptions) => Protocol

/** Loads a protocol's folder and returns its factory. */
export type ProtocolLoader = () => Promise<ProtocolFactory>

export const protocols: Readonly<Record<string, ProtocolLoader>> = {
  // One line per protocol folder, mappers/<name>/; the key is the folder's protocol name constant.
  bluetooth: async () => {
    const { bluetoothProtocol } = await import('./bluetooth/protocol.js')
    return () => bluetoothProtocol()
  },
  modbus: async () => {
    const { modbusProtocol } = await import('./modbus/protocol.js')
    return () => modbusProtocol()
  },
  opcua: async () => {
    const { opcuaProtocol } = await import('./opcua/protocol.js')
    return (options) => opcuaProtocol({ dataDir: options.dataDir })
  },
  virtual: async () => {
    const { virtualProtocol } = await import('./virtual/protocol.js')
    return () => virtualProtocol()
  },
}

export function protocolNames(): string[] {
  return Object.keys(protocols).sort()
}

/** The factory of `name` (loading its folder), or undefined when tern has no such protocol. */
export async function protocolFactory(name: string): Promise<ProtocolFactory | undefined> {
  const load = Object.hasOwn(protocols, name) ? protocols[name] : undefined
  return load?.()
}
