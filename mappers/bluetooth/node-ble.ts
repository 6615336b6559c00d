/**
 * BleTransport over BlueZ's D-Bus API through node-ble (README, Bluetooth LE: why node-ble). The
 * transport owns one D-Bus connection (the system bus, or `busAddress`) shared by every driver of
 * the protocol, and watches it for what node-ble does not report: objects leaving D-Bus
 * (ObjectManager.InterfacesRemoved of a device or its adapter, e.g. an adapter reset or a device
 * BlueZ forgot) and org.bluez itself going away (bluetoothd restarted). Each becomes a lost link.
 *
 * node-ble's `createBluetooth()` always opens the system bus from DBUS_SYSTEM_BUS_ADDRESS; its
 * `Bluetooth` class takes any dbus-next bus, so it is constructed here on our own connection.
 */
import { createRequire } from 'node:module'
import { sessionBus, systemBus, type ClientInterface, type MessageBus } from 'dbus-next'
import type NodeBle from 'node-ble'
import type { Logger } from 'pino'
import { fail, ok, type Outcome } from '../driver.js'
import { describe, NodeBlePeripheral, type Session } from './node-ble-link.js'
import type { BleAdapter, BlePeripheral, BleTransport } from './transport.js'

const require = createRequire(import.meta.url)
// node-ble 1.13 src/Bluetooth.js: `new Bluetooth(dbus)`; not exported from its index
const Bluetooth = require('node-ble/src/Bluetooth.js') as new (bus: MessageBus) => NodeBle.Bluetooth

const BLUEZ = 'org.bluez'
const FIND_POLL_MS = 100

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface NodeBleTransportOptions {
  log: Logger
  /** a D-Bus address (`unix:path=...`) instead of the system bus; tests point this at a private bus */
  busAddress?: string
}

export class NodeBleTransport implements BleTransport {
  readonly #o: NodeBleTransportOptions
  #session: Session | undefined
  /** adapter name → finds sharing its discovery */
  readonly #discovery = new Map<string, number>()
  /** settles a session's `gone` */
  readonly #gone = new WeakMap<Session, (reason: string) => void>()

  constructor(options: NodeBleTransportOptions) {
    this.#o = options
  }

  async adapter(name: string): Promise<Outcome<BleAdapter>> {
    const session = this.#open()
    // No system bus (no socket, or nothing listening): at once, not after a call timeout
    const gone = session.gone.then((reason) => fail('BLUETOOTH_ADAPTER_UNAVAILABLE', `adapter ${name}: ${reason}`))
    return Promise.race([this.#adapterOn(session, name), gone])
  }

  async #adapterOn(session: Session, name: string): Promise<Outcome<BleAdapter>> {
    try {
      await (session.watching ??= this.#watch(session))
      const adapter = await session.bluetooth.getAdapter(name)
      if (!(await adapter.isPowered())) return fail('BLUETOOTH_ADAPTER_UNAVAILABLE', `adapter ${name} is powered off`)
      return ok(new NodeBleAdapter(name, adapter, session, this.#discovery, this.#o.log))
    } catch (err) {
      session.watching = undefined
      return fail('BLUETOOTH_ADAPTER_UNAVAILABLE', `adapter ${name}: ${describe(err).message}`)
    }
  }

  close(): Promise<void> {
    const session = this.#session
    this.#session = undefined
    if (session !== undefined) this.#kill(session, 'the transport closed')
    return Promise.resolve()
  }

  #open(): Session {
    if (this.#session !== undefined && !this.#session.dead) return this.#session
    const address = this.#o.busAddress
    const bus = address !== undefined ? sessionBus({ busAddress: address }) : systemBus()
    let gone: (reason: string) => void = () => undefined
    const session: Session = {
      bus,
      bluetooth: new Bluetooth(bus),
      watchers: new Map(),
      watching: undefined,
      dead: false,
      connected: false,
      gone: new Promise((resolve) => (gone = resolve)),
    }
    this.#gone.set(session, gone)
    bus.on('connect', () => (session.connected = true))
    // dbus-next reports a lost or refused connection as an 'error' event: without a listener it would crash the process
    bus.on('error', (err: unknown) => {
      const message = describe(err).message
      // a bus that never connected is reported by every connect's outcome (BLUETOOTH_ADAPTER_UNAVAILABLE)
      if (session.connected) this.#o.log.warn({ code: 'BLUETOOTH_CONNECTION_LOST', err: message }, 'D-Bus connection lost')
      else this.#o.log.debug({ err: message }, 'no D-Bus connection')
      this.#kill(session, session.connected ? `D-Bus connection lost: ${message}` : `no D-Bus ${address ?? 'system bus'}: ${message}`)
    })
    this.#session = session
    return session
  }

  #kill(session: Session, reason: string): void {
    if (session.dead) return
    session.dead = true
    this.#gone.get(session)?.(reason)
    for (const listeners of session.watchers.values()) for (const listener of listeners) listener(reason)
    session.watchers.clear()
    session.bus.disconnect()
  }

  /** Lost links the D-Bus way: objects removed, org.bluez gone. */
  async #watch(session: Session): Promise<void> {
    const root = await session.bus.getProxyObject(BLUEZ, '/')
    const manager: ClientInterface = root.getInterface('org.freedesktop.DBus.ObjectManager')
    manager.on('InterfacesRemoved', (path: string, interfaces: string[]) => {
      for (const [prefix, listeners] of session.watchers) {
        if (prefix !== path && !prefix.startsWith(`${path}/`)) continue
        for (const listener of listeners) listener(`${path} left D-Bus (${interfaces.join(', ')})`)
      }
    })
    const daemon = await session.bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus')
    daemon.getInterface('org.freedesktop.DBus').on('NameOwnerChanged', (name: string, _old: string, owner: string) => {
      if (name !== BLUEZ || owner !== '') return
      for (const listeners of session.watchers.values()) for (const listener of listeners) listener('org.bluez left D-Bus (bluetoothd stopped)')
    })
  }
}

function devicePath(adapter: string, address: string): string {
  return `/org/bluez/${adapter}/dev_${address.toUpperCase().replace(/:/g, '_')}`
}

class NodeBleAdapter implements BleAdapter {
  readonly name: string
  readonly #adapter: NodeBle.Adapter
  readonly #session: Session
  readonly #discovery: Map<string, number>
  readonly #log: Logger

  constructor(name: string, adapter: NodeBle.Adapter, session: Session, discovery: Map<string, number>, log: Logger) {
    this.name = name
    this.#adapter = adapter
    this.#session = session
    this.#discovery = discovery
    this.#log = log
  }

  async find(address: string, timeoutMs: number): Promise<Outcome<BlePeripheral>> {
    const known = await this.#device(address)
    if (known !== undefined) return ok(this.#peripheral(address, known))
    await this.#startDiscovery()
    try {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline && !this.#session.dead) {
        await sleep(FIND_POLL_MS)
        const device = await this.#device(address)
        if (device !== undefined) return ok(this.#peripheral(address, device))
      }
      return fail('BLUETOOTH_DEVICE_NOT_FOUND', `${address} was not seen on ${this.name} within ${timeoutMs} ms`)
    } finally {
      await this.#stopDiscovery()
    }
  }

  async #device(address: string): Promise<NodeBle.Device | undefined> {
    try {
      return await this.#adapter.getDevice(address)
    } catch {
      return undefined // 'Device not found', or the adapter is gone: keep looking until the deadline
    }
  }

  #peripheral(address: string, device: NodeBle.Device): BlePeripheral {
    return new NodeBlePeripheral(address, device, devicePath(this.name, address), this.#session)
  }

  async #startDiscovery(): Promise<void> {
    const users = this.#discovery.get(this.name) ?? 0
    this.#discovery.set(this.name, users + 1)
    if (users > 0) return
    try {
      await this.#adapter.startDiscovery()
    } catch (err) {
      // "Discovery already in progress" (another program scans): the device shows up all the same
      this.#log.debug({ adapter: this.name, err: describe(err).message }, 'StartDiscovery failed')
    }
  }

  async #stopDiscovery(): Promise<void> {
    const users = (this.#discovery.get(this.name) ?? 1) - 1
    if (users > 0) {
      this.#discovery.set(this.name, users)
      return
    }
    this.#discovery.delete(this.name)
    try {
      await this.#adapter.stopDiscovery()
    } catch {
      // not discovering any more, or the adapter is gone
    }
  }
}
