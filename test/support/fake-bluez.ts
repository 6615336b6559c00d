/**
 * A fake BlueZ for tests: a private `dbus-daemon` (its own config in a scratch directory, session
 * style, everyone may own and send anything; the "Failed to set fd limit" warning is harmless) and
 * an `org.bluez` service written with dbus-next that implements the subset of BlueZ's D-Bus API
 * (doc/org.bluez.Adapter.rst, Device.rst, GattService.rst, GattCharacteristic.rst) node-ble and the
 * transport use: ObjectManager signals on `/`, AgentManager1 on /org/bluez, Adapter1 (Powered,
 * Discovering, SetDiscoveryFilter, StartDiscovery, StopDiscovery), Device1 (Address, Name,
 * Connected, ServicesResolved, Connect, Disconnect), GattService1 and GattCharacteristic1 (UUID,
 * Flags, Value, Notifying, ReadValue, WriteValue, StartNotify, StopNotify). node-ble's own code runs
 * against it unchanged; this kernel has no Bluetooth, so nothing below here is real.
 *
 * Peripherals are registered with `peripheral()`: known ones are on D-Bus from the start, others
 * appear only while the adapter discovers (after `advertiseAfterMs`). Faults: `dropLink` (the
 * link supervision timeout: Connected → false), `removeDevice` (BlueZ forgets the device),
 * `resetAdapter` (the adapter and its devices leave D-Bus and the adapter comes back), `refuse`.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DBusError, interface as dbusInterface, NameFlag, sessionBus, Variant, type MessageBus } from 'dbus-next'
import { scratchDir, startChild, type Child } from './resources.js'

const { Interface } = dbusInterface

export interface FakeCharacteristic {
  uuid: string
  service: string
  flags: string[]
  value: Buffer
}

export interface FakePeripheralOptions {
  address: string
  name?: string
  /** on D-Bus from the start (BlueZ knows it), else only after discovery finds it */
  known?: boolean
  advertiseAfterMs?: number
  characteristics: FakeCharacteristic[]
  /** called on every WriteValue; the default stores the bytes as the new value */
  onWrite?: (characteristic: FakeCharacteristic, value: Buffer) => void
}

type Props = Record<string, Variant>

/** An exported object: its interfaces' properties for InterfacesAdded. */
interface Exported {
  path: string
  ifaces: Array<{ iface: InstanceType<typeof Interface>; props(): Props }>
}

class ObjectManager extends Interface {
  constructor(private readonly objects: Map<string, Exported>) {
    super('org.freedesktop.DBus.ObjectManager')
  }
  GetManagedObjects(): Record<string, Record<string, Props>> {
    const out: Record<string, Record<string, Props>> = {}
    for (const [path, o] of this.objects) out[path] = Object.fromEntries(o.ifaces.map((i) => [nameOf(i.iface), i.props()]))
    return out
  }
  InterfacesAdded(path: string, ifaces: Record<string, Props>): [string, Record<string, Props>] {
    return [path, ifaces]
  }
  InterfacesRemoved(path: string, ifaces: string[]): [string, string[]] {
    return [path, ifaces]
  }
}
ObjectManager.configureMembers({
  methods: { GetManagedObjects: { outSignature: 'a{oa{sa{sv}}}' } },
  signals: { InterfacesAdded: { signature: 'oa{sa{sv}}' }, InterfacesRemoved: { signature: 'oas' } },
})

class AgentManager extends Interface {
  constructor() {
    super('org.bluez.AgentManager1')
  }
}

class Adapter extends Interface {
  Address = '00:1A:7D:DA:71:13'
  Name = 'tern-fake'
  Powered = true
  Discovering = false
  constructor(private readonly bluez: FakeBluez) {
    super('org.bluez.Adapter1')
  }
  SetDiscoveryFilter(): void {}
  StartDiscovery(): void {
    if (this.Discovering) throw new DBusError('org.bluez.Error.InProgress', 'Operation already in progress')
    this.Discovering = true
    this.bluez.discoveryChanged(true)
  }
  StopDiscovery(): void {
    if (!this.Discovering) throw new DBusError('org.bluez.Error.Failed', 'No discovery started')
    this.Discovering = false
    this.bluez.discoveryChanged(false)
  }
}
Adapter.configureMembers({
  properties: {
    Address: { signature: 's', access: 'read' },
    Name: { signature: 's', access: 'read' },
    Powered: { signature: 'b', access: 'readwrite' },
    Discovering: { signature: 'b', access: 'read' },
  },
  methods: { SetDiscoveryFilter: { inSignature: 'a{sv}' }, StartDiscovery: {}, StopDiscovery: {} },
})

class Device extends Interface {
  Connected = false
  ServicesResolved = false
  constructor(
    readonly peripheral: FakePeripheral,
    readonly Address: string,
    readonly Name: string,
  ) {
    super('org.bluez.Device1')
  }
  async Connect(): Promise<void> {
    await this.peripheral.connect()
  }
  Disconnect(): void {
    this.peripheral.disconnect()
  }
}
Device.configureMembers({
  properties: {
    Address: { signature: 's', access: 'read' },
    Name: { signature: 's', access: 'read' },
    Connected: { signature: 'b', access: 'read' },
    ServicesResolved: { signature: 'b', access: 'read' },
  },
  methods: { Connect: {}, Disconnect: {} },
})

class Service extends Interface {
  Primary = true
  constructor(
    readonly UUID: string,
    readonly Device: string,
  ) {
    super('org.bluez.GattService1')
  }
}
Service.configureMembers({
  properties: { UUID: { signature: 's', access: 'read' }, Primary: { signature: 'b', access: 'read' }, Device: { signature: 'o', access: 'read' } },
})

class Characteristic extends Interface {
  Notifying = false
  constructor(
    readonly peripheral: FakePeripheral,
    readonly spec: FakeCharacteristic,
    readonly Service: string,
  ) {
    super('org.bluez.GattCharacteristic1')
  }
  get UUID(): string {
    return this.spec.uuid
  }
  get Flags(): string[] {
    return this.spec.flags
  }
  get Value(): Buffer {
    return this.spec.value
  }
  ReadValue(): Buffer {
    this.peripheral.calls.push(`read ${this.spec.uuid}`)
    if (!this.spec.flags.includes('read')) throw new DBusError('org.bluez.Error.NotPermitted', 'Read not permitted')
    return this.spec.value
  }
  WriteValue(value: Buffer, options: Record<string, Variant>): void {
    const type = options.type?.value as unknown
    this.peripheral.calls.push(`write ${this.spec.uuid} ${Buffer.from(value).toString('hex')} ${typeof type === 'string' ? type : ''}`)
    if (!this.spec.flags.includes('write') && !this.spec.flags.includes('write-without-response')) throw new DBusError('org.bluez.Error.NotPermitted', 'Write not permitted')
    this.peripheral.written(this, Buffer.from(value))
  }
  StartNotify(): void {
    if (!this.spec.flags.includes('notify') && !this.spec.flags.includes('indicate')) throw new DBusError('org.bluez.Error.NotSupported', 'Notify not supported')
    this.Notifying = true
    this.peripheral.calls.push(`notify ${this.spec.uuid}`)
  }
  StopNotify(): void {
    this.Notifying = false
  }
  /** a new value from the device: notified when subscribed */
  set(value: Buffer): void {
    this.spec.value = value
    if (this.Notifying) Interface.emitPropertiesChanged(this, { Value: value }, [])
  }
}
Characteristic.configureMembers({
  properties: {
    UUID: { signature: 's', access: 'read' },
    Service: { signature: 'o', access: 'read' },
    Flags: { signature: 'as', access: 'read' },
    Value: { signature: 'ay', access: 'read' },
    Notifying: { signature: 'b', access: 'read' },
  },
  methods: { ReadValue: { inSignature: 'a{sv}', outSignature: 'ay' }, WriteValue: { inSignature: 'aya{sv}' }, StartNotify: {}, StopNotify: {} },
})

export class FakePeripheral {
  readonly options: FakePeripheralOptions
  readonly path: string
  /** GATT calls in order: `read <uuid>`, `write <uuid> <hex> <type>`, `notify <uuid>` */
  readonly calls: string[] = []
  connects = 0
  /** links ended: Disconnect calls and drops */
  disconnects = 0
  /** a refused peripheral fails Connect (out of range, or connectable no more) */
  refused = false
  device: Device | undefined
  characteristics = new Map<string, Characteristic>()
  #advertiseTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly bluez: FakeBluez,
    options: FakePeripheralOptions,
  ) {
    this.options = options
    this.path = `/org/bluez/hci0/dev_${options.address.toUpperCase().replace(/:/g, '_')}`
  }

  get connected(): boolean {
    return this.device?.Connected === true
  }

  appear(): void {
    if (this.device !== undefined) return
    this.device = new Device(this, this.options.address.toUpperCase(), this.options.name ?? 'fake')
    this.bluez.add(this.path, this.device)
  }

  scheduleAdvert(): void {
    if (this.device !== undefined || this.#advertiseTimer !== undefined) return
    this.#advertiseTimer = setTimeout(() => {
      this.#advertiseTimer = undefined
      if (this.bluez.discovering) this.appear()
    }, this.options.advertiseAfterMs ?? 50)
  }

  cancelAdvert(): void {
    clearTimeout(this.#advertiseTimer)
    this.#advertiseTimer = undefined
  }

  async connect(): Promise<void> {
    const device = this.device
    if (device === undefined) throw new DBusError('org.freedesktop.DBus.Error.UnknownObject', 'gone')
    if (this.refused) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      throw new DBusError('org.bluez.Error.Failed', 'le-connection-abort-by-local')
    }
    this.connects++
    if (device.Connected) return
    device.Connected = true
    Interface.emitPropertiesChanged(device, { Connected: true }, [])
    // BlueZ exports the GATT database, then flips ServicesResolved
    const services = new Map<string, string>()
    this.options.characteristics.forEach((spec, i) => {
      let servicePath = services.get(spec.service)
      if (servicePath === undefined) {
        servicePath = `${this.path}/service${(0x10 + services.size * 0x10).toString(16).padStart(4, '0')}`
        services.set(spec.service, servicePath)
        this.bluez.add(servicePath, new Service(spec.service, this.path))
      }
      const c = new Characteristic(this, spec, servicePath)
      this.characteristics.set(spec.uuid, c)
      this.bluez.add(`${servicePath}/char${(0x11 + i).toString(16).padStart(4, '0')}`, c)
    })
    device.ServicesResolved = true
    Interface.emitPropertiesChanged(device, { ServicesResolved: true }, [])
  }

  /** Disconnect, or the link dropping (supervision timeout): Connected → false, the GATT objects go. */
  disconnect(): void {
    const device = this.device
    if (device === undefined || !device.Connected) return
    this.disconnects++
    this.#removeGatt()
    device.ServicesResolved = false
    device.Connected = false
    Interface.emitPropertiesChanged(device, { ServicesResolved: false, Connected: false }, [])
  }

  /** BlueZ forgets the device: its object leaves D-Bus (no Connected=false first). */
  remove(): void {
    if (this.device === undefined) return
    this.#removeGatt()
    this.bluez.remove(this.path)
    this.device = undefined
  }

  written(c: Characteristic, value: Buffer): void {
    if (this.options.onWrite !== undefined) this.options.onWrite(c.spec, value)
    else c.set(value)
  }

  /** the device measures something new */
  set(uuid: string, value: Buffer): void {
    const c = this.characteristics.get(uuid)
    const spec = this.options.characteristics.find((s) => s.uuid === uuid)
    if (spec === undefined) throw new Error(`no characteristic ${uuid}`)
    if (c !== undefined) c.set(value)
    else spec.value = value
  }

  #removeGatt(): void {
    for (const path of this.bluez.paths().filter((p) => p.startsWith(`${this.path}/`)).sort().reverse()) this.bluez.remove(path)
    this.characteristics.clear()
  }
}

export class FakeBluez {
  readonly address: string
  readonly peripherals = new Map<string, FakePeripheral>()
  adapter: Adapter | undefined
  readonly #bus: MessageBus
  readonly #objects = new Map<string, Exported>()
  readonly #manager: ObjectManager
  /** StartDiscovery calls so far */
  discoveries = 0

  constructor(bus: MessageBus, address: string) {
    this.#bus = bus
    this.address = address
    this.#manager = new ObjectManager(this.#objects)
  }

  async start(): Promise<void> {
    this.#bus.export('/', this.#manager)
    this.#bus.export('/org/bluez', new AgentManager())
    this.#addAdapter()
    await this.#bus.requestName('org.bluez', NameFlag.DO_NOT_QUEUE)
  }

  get discovering(): boolean {
    return this.adapter?.Discovering === true
  }

  peripheral(options: FakePeripheralOptions): FakePeripheral {
    const p = new FakePeripheral(this, options)
    this.peripherals.set(options.address.toUpperCase(), p)
    if (options.known === true) p.appear()
    return p
  }

  discoveryChanged(on: boolean): void {
    if (on) this.discoveries++
    for (const p of this.peripherals.values()) {
      if (on) p.scheduleAdvert()
      else p.cancelAdvert()
    }
  }

  /** The adapter goes away with everything under it (a USB dongle unplugged, `hciconfig hci0 reset`), then comes back. */
  async resetAdapter(downMs = 100): Promise<void> {
    for (const p of this.peripherals.values()) p.remove()
    this.remove('/org/bluez/hci0')
    this.adapter = undefined
    await new Promise((resolve) => setTimeout(resolve, downMs))
    this.#addAdapter()
    for (const p of this.peripherals.values()) if (p.options.known === true) p.appear()
  }

  add(path: string, iface: InstanceType<typeof Interface>): void {
    const props = (): Props => propsOf(iface)
    this.#objects.set(path, { path, ifaces: [{ iface, props }] })
    this.#bus.export(path, iface)
    this.#manager.InterfacesAdded(path, { [nameOf(iface)]: props() })
  }

  remove(path: string): void {
    const o = this.#objects.get(path)
    if (o === undefined) return
    this.#objects.delete(path)
    for (const i of o.ifaces) this.#bus.unexport(path, i.iface)
    this.#manager.InterfacesRemoved(path, o.ifaces.map((i) => nameOf(i.iface)))
  }

  paths(): string[] {
    return [...this.#objects.keys()]
  }

  stop(): void {
    this.#bus.disconnect()
  }

  #addAdapter(): void {
    this.adapter = new Adapter(this)
    this.add('/org/bluez/hci0', this.adapter)
  }
}

function nameOf(iface: InstanceType<typeof Interface>): string {
  return (iface as unknown as { $name: string }).$name
}

/** Current property values of a service interface, as variants (for InterfacesAdded / GetManagedObjects). */
function propsOf(iface: InstanceType<typeof Interface>): Props {
  const described = (iface as unknown as { $properties?: Record<string, { name: string; signature: string }> }).$properties ?? {}
  const values = iface as unknown as Record<string, unknown>
  return Object.fromEntries(Object.entries(described).map(([key, p]) => [p.name, new Variant(p.signature, values[key])]))
}

export interface FakeBluezBus {
  /** the private bus's address, for the transport's `busAddress` */
  address: string
  bluez: FakeBluez
  stop(): Promise<void>
}

/** Starts a private dbus-daemon and the fake org.bluez on it. Stop it (by PID) with `stop()`. */
export async function startFakeBluez(): Promise<FakeBluezBus> {
  const dir = await scratchDir('tern-bluez-')
  const socket = join(dir.path, 'bus.sock')
  const config = join(dir.path, 'dbus.conf')
  await writeFile(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`,
  )
  let daemon: Child | undefined
  try {
    daemon = startChild('dbus-daemon', ['--config-file', config, '--nofork', '--print-address'])
    const address = (await daemon.waitForLine((line) => line.startsWith('unix:'), 5000)).trim()
    const bus = sessionBus({ busAddress: address })
    const bluez = new FakeBluez(bus, address)
    await bluez.start()
    const d = daemon
    return {
      address,
      bluez,
      stop: async () => {
        bluez.stop()
        await d.stop()
        await dir.remove()
      },
    }
  } catch (err) {
    await daemon?.stop()
    await dir.remove()
    throw err
  }
}
