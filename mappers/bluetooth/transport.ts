/**
 * The narrow seam between the Bluetooth driver and a BLE central stack: an adapter that finds a
 * device (discovering until seen), a peripheral that connects and resolves its GATT services, and
 * characteristics that read, write and notify. Every call returns an outcome; a lost link (the
 * device disconnected, it or its adapter left D-Bus, the bus itself closed) is reported once through
 * `onLost` and as `connectionLost` outcomes after it. The implementation in use is BlueZ over
 * D-Bus through node-ble (node-ble.ts).
 */
import type { Outcome } from '../driver.js'

export interface BleTransport {
  /** The adapter `name` (e.g. hci0), present and powered, or BLUETOOTH_ADAPTER_UNAVAILABLE. */
  adapter(name: string): Promise<Outcome<BleAdapter>>
  /** Closes the bus connection; drivers' peripherals are gone after it. Idempotent. */
  close(): Promise<void>
}

export interface BleAdapter {
  readonly name: string
  /**
   * The peripheral with `address` (AA:BB:...), discovering until it is seen or `timeoutMs` passed
   * (BLUETOOTH_DEVICE_NOT_FOUND). Discovery on one adapter is shared by concurrent finds.
   */
  find(address: string, timeoutMs: number): Promise<Outcome<BlePeripheral>>
}

export interface BlePeripheral {
  readonly address: string
  /** Connects and waits for GATT service discovery (BLUETOOTH_CONNECT_FAILED after `timeoutMs`). */
  connect(timeoutMs: number): Promise<Outcome<BleGatt>>
  /** Called once when the link is lost after a successful connect; returns an unsubscribe. */
  onLost(listener: (reason: string) => void): () => void
  /** Disconnects; never fails (a link already gone is fine). */
  disconnect(): Promise<void>
}

export interface BleGatt {
  /** The characteristic `uuid` (normalized 128-bit, lower case), in `service` when given. */
  characteristic(uuid: string, service: string | undefined): Promise<Outcome<BleCharacteristic>>
}

/** GATT characteristic properties as BlueZ names them in `Flags` (read, write, write-without-response, notify, indicate, ...). */
export type BleFlag = string

export interface BleCharacteristic {
  readonly uuid: string
  readonly flags: readonly BleFlag[]
  read(timeoutMs: number): Promise<Outcome<Buffer>>
  write(value: Buffer, withResponse: boolean, timeoutMs: number): Promise<Outcome<void>>
  /** Subscribes; `listener` gets each notified or indicated value. */
  subscribe(listener: (value: Buffer) => void, timeoutMs: number): Promise<Outcome<void>>
  /** Unsubscribes; never fails. */
  unsubscribe(): Promise<void>
}
