/**
 * The Bluetooth LE device driver (mappers/driver.ts contract): a connection slot of the adapter
 * (slots.ts), the device found by discovery, connected, its GATT services resolved; then each
 * property's characteristic either subscribed (notify/indicate: `read()` answers from the last
 * notified value) or read on every round. Every device problem is an outcome; a lost link (the
 * device disconnected, it or its adapter left D-Bus) makes every later call a `connectionLost`
 * outcome, and the runtime reconnects with back-off through a fresh driver.
 */
import type { Logger } from 'pino'
import { fail, ok, type DeviceDriver, type Outcome } from '../driver.js'
import type { EdgeProperty } from '../../schemas/device.js'
import { decodeValue, encodeValue } from './codec.js'
import type { BluetoothSettings, Point } from './points.js'
import type { AdapterSlots, Release } from './slots.js'
import type { BleCharacteristic, BleGatt, BlePeripheral, BleTransport } from './transport.js'

export interface BluetoothDriverOptions {
  readonly id: string
  readonly settings: BluetoothSettings
  readonly points: ReadonlyMap<string, Point>
  readonly transport: BleTransport
  readonly slots: AdapterSlots
  readonly log: Logger
}

interface Link {
  readonly release: Release
  readonly peripheral: BlePeripheral
  readonly gatt: BleGatt
  /** characteristic key → resolved characteristic (or why not) */
  readonly characteristics: Map<string, Outcome<BleCharacteristic>>
  /** characteristic key → last notified value */
  readonly notified: Map<string, Buffer>
  readonly subscribed: Set<string>
  unwatch: () => void
  lost: string | undefined
}

const keyOf = (point: Point): string => `${point.service ?? '*'}/${point.characteristic}`
const notifies = (c: BleCharacteristic): boolean => c.flags.includes('notify') || c.flags.includes('indicate')

export class BluetoothDriver implements DeviceDriver {
  readonly #o: BluetoothDriverOptions
  #link: Link | undefined
  /** the connect in progress; close() waits for it so a slot taken late is given back */
  #connecting: Promise<Outcome<void>> | undefined

  constructor(options: BluetoothDriverOptions) {
    this.#o = options
  }

  connect(): Promise<Outcome<void>> {
    if (this.#link !== undefined && this.#link.lost === undefined) return Promise.resolve(ok(undefined))
    this.#connecting ??= this.#open().finally(() => (this.#connecting = undefined))
    return this.#connecting
  }

  async #open(): Promise<Outcome<void>> {
    await this.#drop()
    const s = this.#o.settings
    const release = await this.#o.slots.acquire(s.adapter, s.maxConnections, s.queueTimeoutMs)
    if (release === undefined) return fail('BLUETOOTH_ADAPTER_BUSY', `all ${s.maxConnections} connection slots of ${s.adapter} stayed in use for ${s.queueTimeoutMs} ms`)
    let peripheral: BlePeripheral | undefined
    try {
      const adapter = await this.#o.transport.adapter(s.adapter)
      if (!adapter.ok) return adapter
      const found = await adapter.value.find(s.address, s.scanTimeoutMs)
      if (!found.ok) return found
      peripheral = found.value
      const gatt = await peripheral.connect(s.connectTimeoutMs)
      if (!gatt.ok) return gatt
      const link: Link = {
        release,
        peripheral,
        gatt: gatt.value,
        characteristics: new Map(),
        notified: new Map(),
        subscribed: new Set(),
        unwatch: () => undefined,
        lost: undefined,
      }
      link.unwatch = peripheral.onLost((reason) => {
        link.lost = reason
        this.#o.log.info({ device: this.#o.id, code: 'BLUETOOTH_CONNECTION_LOST', reason }, 'Bluetooth link lost')
      })
      this.#link = link
      peripheral = undefined
      const subscribed = await this.#subscribeAll(link)
      if (!subscribed.ok) await this.#drop()
      return subscribed
    } finally {
      if (peripheral !== undefined) await peripheral.disconnect()
      if (this.#link === undefined) release()
    }
  }

  /** Subscribes every notifying characteristic (and reads it once, when readable, so the first round has a value). */
  async #subscribeAll(link: Link): Promise<Outcome<void>> {
    for (const point of this.#o.points.values()) {
      if (point.readMode === 'poll') continue
      const key = keyOf(point)
      if (link.subscribed.has(key)) continue
      const c = await this.#characteristic(link, point)
      if (!c.ok) {
        if (c.error.connectionLost) return fail('BLUETOOTH_CONNECT_FAILED', c.error.message)
        continue // reported per property on read
      }
      if (!notifies(c.value)) continue
      const sub = await c.value.subscribe((value) => link.notified.set(key, value), this.#o.settings.connectTimeoutMs)
      if (!sub.ok) {
        if (sub.error.connectionLost) return fail('BLUETOOTH_CONNECT_FAILED', sub.error.message)
        this.#o.log.warn({ device: this.#o.id, property: point.name, code: sub.error.code }, `StartNotify failed, polling instead: ${sub.error.message}`)
        continue
      }
      link.subscribed.add(key)
      if (c.value.flags.includes('read') && !link.notified.has(key)) {
        const first = await c.value.read(this.#o.settings.connectTimeoutMs)
        if (first.ok && !link.notified.has(key)) link.notified.set(key, first.value)
      }
    }
    return ok(undefined)
  }

  async #characteristic(link: Link, point: Point): Promise<Outcome<BleCharacteristic>> {
    const key = keyOf(point)
    const known = link.characteristics.get(key)
    if (known !== undefined) return known
    const found = await link.gatt.characteristic(point.characteristic, point.service)
    if (found.ok || !found.error.connectionLost) link.characteristics.set(key, found)
    return found
  }

  #alive(): Outcome<Link> {
    const link = this.#link
    if (link === undefined) return fail('BLUETOOTH_CONNECTION_LOST', 'not connected', true)
    if (link.lost !== undefined) return fail('BLUETOOTH_CONNECTION_LOST', link.lost, true)
    return ok(link)
  }

  async read(properties: readonly EdgeProperty[]): Promise<Map<string, Outcome<string>>> {
    const results = new Map<string, Outcome<string>>()
    // one GATT read per characteristic per round, however many properties share it
    const polled = new Map<string, Outcome<Buffer>>()
    for (const property of properties) {
      const point = this.#o.points.get(property.name)
      if (point === undefined) {
        results.set(property.name, fail('BLUETOOTH_CONFIG_INVALID', `${property.name} has no Bluetooth visitor`))
        continue
      }
      const alive = this.#alive()
      if (!alive.ok) {
        results.set(property.name, alive)
        continue
      }
      const bytes = await this.#bytes(alive.value, point, polled)
      results.set(property.name, bytes.ok ? decodeValue(point.format, bytes.value) : bytes)
    }
    return results
  }

  async #bytes(link: Link, point: Point, polled: Map<string, Outcome<Buffer>>): Promise<Outcome<Buffer>> {
    const key = keyOf(point)
    if (link.subscribed.has(key)) {
      const last = link.notified.get(key)
      return last !== undefined ? ok(last) : fail('BLUETOOTH_NO_VALUE', `${point.characteristic} has not notified a value yet`)
    }
    const done = polled.get(key)
    if (done !== undefined) return done
    const c = await this.#characteristic(link, point)
    if (!c.ok) return c
    if (!c.value.flags.includes('read')) return fail('BLUETOOTH_NOT_PERMITTED', `${point.characteristic} is not readable (flags: ${c.value.flags.join(', ')})`)
    const out = await c.value.read(this.#o.settings.connectTimeoutMs)
    polled.set(key, out)
    return out
  }

  async write(property: EdgeProperty, value: string): Promise<Outcome<void>> {
    const point = this.#o.points.get(property.name)
    if (point === undefined) return fail('BLUETOOTH_CONFIG_INVALID', `${property.name} has no Bluetooth visitor`)
    const alive = this.#alive()
    if (!alive.ok) return alive
    const link = alive.value
    const mapped = point.dataWrite.get(value)
    const encoded = mapped !== undefined ? ok(mapped) : encodeValue(point.format, value)
    if (!encoded.ok) {
      if (point.dataWrite.size === 0) return encoded
      return fail('BLUETOOTH_VALUE_INVALID', `${JSON.stringify(value)} is not a key of dataWrite (${[...point.dataWrite.keys()].join(', ')}) and cannot be encoded: ${encoded.error.message}`)
    }
    const c = await this.#characteristic(link, point)
    if (!c.ok) return c
    const flags = c.value.flags
    const withResponse = point.writeType === 'request' || (point.writeType === 'auto' && (flags.includes('write') || !flags.includes('write-without-response')))
    if (!flags.includes(withResponse ? 'write' : 'write-without-response')) {
      return fail('BLUETOOTH_NOT_PERMITTED', `${point.characteristic} does not offer ${withResponse ? 'write' : 'write-without-response'} (flags: ${flags.join(', ')})`)
    }
    const out = await c.value.write(encoded.value, withResponse, this.#o.settings.connectTimeoutMs)
    if (!out.ok) return out
    // a notifying characteristic need not notify its own write: refresh the cache for the read-back
    const key = keyOf(point)
    if (link.subscribed.has(key) && flags.includes('read')) {
      const back = await c.value.read(this.#o.settings.connectTimeoutMs)
      if (back.ok) link.notified.set(key, back.value)
    }
    return ok(undefined)
  }

  /** Connected and not lost: BLE links report their own death (supervision timeout → Connected=false). */
  health(): Promise<Outcome<void>> {
    const alive = this.#alive()
    return Promise.resolve(alive.ok ? ok(undefined) : alive)
  }

  async close(): Promise<void> {
    await this.#connecting?.catch(() => undefined)
    await this.#drop()
  }

  async #drop(): Promise<void> {
    const link = this.#link
    this.#link = undefined
    if (link === undefined) return
    link.unwatch()
    try {
      if (link.lost === undefined) {
        for (const key of link.subscribed) {
          const c = link.characteristics.get(key)
          if (c?.ok === true) await c.value.unsubscribe()
        }
      }
      await link.peripheral.disconnect()
    } finally {
      link.release()
    }
  }
}
