/**
 * One BLE link through node-ble: the peripheral (Connect, ServicesResolved, lost-link events), its
 * GATT server and characteristics, and how D-Bus errors become outcomes. The transport that finds
 * peripherals and watches the bus is node-ble.ts.
 */
import type { MessageBus } from 'dbus-next'
import type NodeBle from 'node-ble'
import { fail, ok, type Outcome } from '../driver.js'
import type { ErrorCode } from '../../schemas/errors.js'
import { normalizeUuid } from './codec.js'
import type { BleCharacteristic, BleGatt, BlePeripheral } from './transport.js'

/** D-Bus error names that mean the object or the link is gone (BlueZ, or the bus daemon). */
const LOST_ERRORS = new Set([
  'org.freedesktop.DBus.Error.UnknownObject',
  'org.freedesktop.DBus.Error.UnknownMethod',
  'org.freedesktop.DBus.Error.ServiceUnknown',
  'org.freedesktop.DBus.Error.NoReply',
  'org.freedesktop.DBus.Error.Disconnected',
  'org.bluez.Error.NotConnected',
])
const REFUSED_ERRORS = new Set(['org.bluez.Error.NotPermitted', 'org.bluez.Error.NotAuthorized', 'org.bluez.Error.NotSupported'])

export function describe(err: unknown): { name: string | undefined; message: string } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { type?: unknown; text?: unknown; message?: unknown }
  const name = typeof e.type === 'string' ? e.type : undefined
  const text = typeof e.text === 'string' ? e.text : typeof e.message === 'string' ? e.message : String(err)
  return { name, message: name !== undefined ? `${name}: ${text}` : text }
}

/** A GATT or connect failure as an outcome; `lost` when the link is known to be gone. */
function classify<T>(err: unknown, otherwise: ErrorCode, lost: boolean): Outcome<T> {
  const { name, message } = describe(err)
  if (lost || (name !== undefined && LOST_ERRORS.has(name))) return fail('BLUETOOTH_CONNECTION_LOST', message, true)
  if (name !== undefined && REFUSED_ERRORS.has(name)) return fail('BLUETOOTH_NOT_PERMITTED', message)
  return fail(otherwise, message)
}

/** `work`, or `onTimeout()` after `ms`. The work is not cancelled (D-Bus calls cannot be). */
export async function within<T>(work: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(onTimeout()), ms)))
  // a late rejection of abandoned work must not become an unhandled rejection
  work.catch(() => undefined)
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * node-ble 1.13 keeps the PropertiesChanged subscription each of its objects makes (every device,
 * and every characteristic of a resolved GATT server, once per connection) until its internal
 * `helper.removeListeners()` is called, which it does only after a successful Disconnect. Without
 * this, each reconnect leaks those subscriptions on the shared bus.
 */
function releaseSubscriptions(o: unknown): void {
  const helper = (o as { helper?: { removeListeners?: unknown } } | undefined)?.helper
  if (helper !== undefined && typeof helper.removeListeners === 'function') (helper.removeListeners as () => void).call(helper)
}

function releaseGatt(server: NodeBle.GattServer): void {
  const services = (server as unknown as { _services?: Record<string, { _characteristics?: Record<string, unknown> }> })._services ?? {}
  for (const service of Object.values(services)) for (const c of Object.values(service._characteristics ?? {})) releaseSubscriptions(c)
}

/** The D-Bus connection shared by the protocol's links. */
export interface Session {
  bus: MessageBus
  bluetooth: NodeBle.Bluetooth
  /** object path prefix → listeners fired when an object at or under it leaves D-Bus */
  watchers: Map<string, Set<(reason: string) => void>>
  watching: Promise<void> | undefined
  dead: boolean
  /** the bus said hello: a failure after this is a lost bus, before it there never was one */
  connected: boolean
  /**
   * settles with the reason when the connection fails or is closed: dbus-next never settles the
   * calls in flight on a dead connection, so every wait on the bus races this
   */
  gone: Promise<string>
}

export class NodeBlePeripheral implements BlePeripheral {
  readonly address: string
  readonly #device: NodeBle.Device
  readonly #path: string
  readonly #session: Session
  readonly #listeners = new Set<(reason: string) => void>()
  #connected = false
  #server: NodeBle.GattServer | undefined
  #lost: string | undefined
  readonly #onLost = (reason: string): void => {
    if (!this.#connected || this.#lost !== undefined) return
    this.#lost = reason
    for (const listener of this.#listeners) listener(reason)
  }
  readonly #onDisconnect = (): void => this.#onLost('the device disconnected')

  constructor(address: string, device: NodeBle.Device, path: string, session: Session) {
    this.address = address
    this.#device = device
    this.#path = path
    this.#session = session
  }

  get lost(): boolean {
    return this.#lost !== undefined || this.#session.dead
  }

  async connect(timeoutMs: number): Promise<Outcome<BleGatt>> {
    let watchers = this.#session.watchers.get(this.#path)
    if (watchers === undefined) this.#session.watchers.set(this.#path, (watchers = new Set()))
    watchers.add(this.#onLost)
    this.#device.on('disconnect', this.#onDisconnect)
    const work = (async (): Promise<Outcome<BleGatt>> => {
      try {
        await this.#device.connect()
        const server = await this.#device.gatt()
        this.#server = server
        return ok(new NodeBleGatt(server, this))
      } catch (err) {
        return classify(err, 'BLUETOOTH_CONNECT_FAILED', false)
      }
    })()
    const out = await within(work, timeoutMs, () => fail<BleGatt>('BLUETOOTH_CONNECT_FAILED', `no connection with resolved services within ${timeoutMs} ms`))
    if (!out.ok) {
      await this.disconnect()
      // a lost object while connecting is still a failed connect for the runtime
      return out.error.code === 'BLUETOOTH_CONNECTION_LOST' ? fail('BLUETOOTH_CONNECT_FAILED', out.error.message) : out
    }
    this.#connected = true
    return out
  }

  onLost(listener: (reason: string) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async disconnect(): Promise<void> {
    this.#connected = false
    this.#session.watchers.get(this.#path)?.delete(this.#onLost)
    if (this.#session.watchers.get(this.#path)?.size === 0) this.#session.watchers.delete(this.#path)
    this.#device.off('disconnect', this.#onDisconnect)
    this.#listeners.clear()
    const server = this.#server
    this.#server = undefined
    if (!this.#session.dead) {
      try {
        await within(this.#device.disconnect(), 2000, () => undefined)
      } catch {
        // the device or the adapter is already gone
      }
    }
    if (server !== undefined) releaseGatt(server)
    releaseSubscriptions(this.#device)
  }
}

class NodeBleGatt implements BleGatt {
  readonly #server: NodeBle.GattServer
  readonly #peripheral: NodeBlePeripheral

  constructor(server: NodeBle.GattServer, peripheral: NodeBlePeripheral) {
    this.#server = server
    this.#peripheral = peripheral
  }

  async characteristic(uuid: string, service: string | undefined): Promise<Outcome<BleCharacteristic>> {
    try {
      const services = service !== undefined ? [normalizeUuid(service)] : await this.#server.services()
      for (const s of services) {
        const gattService = await this.#server.getPrimaryService(s).catch(() => undefined)
        if (gattService === undefined) continue
        const uuids = await gattService.characteristics()
        if (!uuids.includes(uuid)) continue
        const characteristic = await gattService.getCharacteristic(uuid)
        const flags = await characteristic.getFlags()
        return ok(new NodeBleCharacteristic(uuid, flags, characteristic, this.#peripheral))
      }
      return fail('BLUETOOTH_CHARACTERISTIC_NOT_FOUND', `no characteristic ${uuid}${service !== undefined ? ` in service ${service}` : ''}`)
    } catch (err) {
      return classify(err, 'BLUETOOTH_OPERATION_FAILED', this.#peripheral.lost)
    }
  }
}

class NodeBleCharacteristic implements BleCharacteristic {
  readonly uuid: string
  readonly flags: readonly string[]
  readonly #c: NodeBle.GattCharacteristic
  readonly #peripheral: NodeBlePeripheral

  constructor(uuid: string, flags: readonly string[], characteristic: NodeBle.GattCharacteristic, peripheral: NodeBlePeripheral) {
    this.uuid = uuid
    this.flags = flags
    this.#c = characteristic
    this.#peripheral = peripheral
  }

  async read(timeoutMs: number): Promise<Outcome<Buffer>> {
    return this.#call(async () => ok(await this.#c.readValue()), timeoutMs, 'read')
  }

  async write(value: Buffer, withResponse: boolean, timeoutMs: number): Promise<Outcome<void>> {
    return this.#call(
      async () => {
        await (withResponse ? this.#c.writeValueWithResponse(value) : this.#c.writeValueWithoutResponse(value))
        return ok(undefined)
      },
      timeoutMs,
      'write',
    )
  }

  async subscribe(listener: (value: Buffer) => void, timeoutMs: number): Promise<Outcome<void>> {
    this.#c.on('valuechanged', listener)
    return this.#call(
      async () => {
        await this.#c.startNotifications()
        return ok(undefined)
      },
      timeoutMs,
      'StartNotify',
    )
  }

  async unsubscribe(): Promise<void> {
    this.#c.removeAllListeners('valuechanged')
    if (this.#peripheral.lost) return
    try {
      await within(this.#c.stopNotifications(), 2000, () => undefined)
    } catch {
      // the link is gone; BlueZ stops notifying by itself
    }
  }

  async #call<T>(work: () => Promise<Outcome<T>>, timeoutMs: number, what: string): Promise<Outcome<T>> {
    if (this.#peripheral.lost) return fail('BLUETOOTH_CONNECTION_LOST', 'the link is lost', true)
    const run = (async (): Promise<Outcome<T>> => {
      try {
        return await work()
      } catch (err) {
        return classify(err, 'BLUETOOTH_OPERATION_FAILED', this.#peripheral.lost)
      }
    })()
    // a GATT request that never completes is a dead link in all but name (BlueZ times out ATT after 30 s)
    return within(run, timeoutMs, () => fail<T>('BLUETOOTH_CONNECTION_LOST', `GATT ${what} got no answer within ${timeoutMs} ms`, true))
  }
}
