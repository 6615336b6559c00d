/**
 * The Bluetooth LE mapper against a simulated peripheral at the lowest layer that runs here (DESIGN.md
 * §10): node-ble's real code over a private dbus-daemon, talking to the fake BlueZ of
 * test/support/fake-bluez.ts. This kernel has no Bluetooth (test-env-notes §5), so no radio, no
 * bluetoothd and no controller are involved: these tests prove the mapper speaks BlueZ's D-Bus API
 * as node-ble uses it, not that a given peripheral or adapter behaves so.
 */
import { strict as assert } from 'node:assert'
import { pino } from 'pino'
import type { DeviceDriver, Outcome } from '../../mappers/driver.js'
import { bluetoothProtocol, type BluetoothProtocol } from '../../mappers/bluetooth/protocol.js'
import type { EdgeDevice } from '../../schemas/device.js'
import { deviceTopic, nodeTopic } from '../../schemas/topics.js'
import { BATTERY, SETPOINT, SWITCH, TEMPERATURE, thermometer, thermometerDevice, thermometerFrame } from '../support/bluetooth.js'
import { startFakeBluez, type FakeBluezBus } from '../support/fake-bluez.js'
import { mapperHarness, type Harness } from '../support/mapper-harness.js'
import { clientPool } from '../support/mqtt.js'

const MAC = 'A4:C1:38:00:11:22'
const context = { log: pino({ level: 'silent' }), dataDir: '/nonexistent' }
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const values = (m: Map<string, Outcome<string>>): Record<string, string> => Object.fromEntries([...m].map(([k, o]) => [k, o.ok ? o.value : o.error.code]))

async function eventually(test: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

describe('Bluetooth LE driver: node-ble against a fake BlueZ on a private D-Bus', function () {
  this.timeout(30_000)
  let fake: FakeBluezBus
  let protocol: BluetoothProtocol
  const drivers: DeviceDriver[] = []
  const open = (device: EdgeDevice): DeviceDriver => {
    assert.deepEqual(protocol.validate(device), [])
    const driver = protocol.createDriver(device, context)
    drivers.push(driver)
    return driver
  }

  beforeEach(async () => {
    fake = await startFakeBluez()
    protocol = bluetoothProtocol({ busAddress: fake.address })
  })
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.close()
    await protocol.close?.()
    await fake.stop()
  })

  it('scans for a device BlueZ does not know, connects, resolves services; discovery stops after', async () => {
    const peer = thermometer(fake.bluez, MAC)
    const driver = open(thermometerDevice('thermo', MAC))
    assert.deepEqual(await driver.connect(), { ok: true, value: undefined })
    assert.equal(fake.bluez.discoveries, 1)
    assert.equal(fake.bluez.discovering, false, 'StopDiscovery after the device was seen')
    assert.equal(peer.connected, true)
    assert.deepEqual(values(await driver.read(thermometerDevice('thermo', MAC).properties)), { temperature: '21.5', battery: '87', setpoint: '21.5', switch: '0' })
  })

  it('a device never seen: BLUETOOTH_DEVICE_NOT_FOUND after scanTimeout; a refused connect: BLUETOOTH_CONNECT_FAILED', async () => {
    const missing = open(thermometerDevice('gone', 'A4:C1:38:00:99:99', { scanTimeout: 200 }))
    const out = await missing.connect()
    assert.equal(out.ok ? 'ok' : out.error.code, 'BLUETOOTH_DEVICE_NOT_FOUND')
    thermometer(fake.bluez, MAC, { known: true }).refused = true
    const refused = open(thermometerDevice('thermo', MAC))
    const r = await refused.connect()
    assert.equal(r.ok ? 'ok' : r.error.code, 'BLUETOOTH_CONNECT_FAILED')
    assert.equal(protocol.slots.inUse('hci0'), 0, 'failed connects gave their slots back')
  })

  it('a missing adapter: BLUETOOTH_ADAPTER_UNAVAILABLE', async () => {
    const driver = open(thermometerDevice('thermo', MAC, { adapter: 'hci3' }))
    const out = await driver.connect()
    assert.equal(out.ok ? 'ok' : out.error.code, 'BLUETOOTH_ADAPTER_UNAVAILABLE')
  })

  it('notifications: read() answers from the last indicated value, without GATT reads; polled characteristics are read each round', async () => {
    const peer = thermometer(fake.bluez, MAC, { known: true, indicateOnly: true })
    const device = thermometerDevice('thermo', MAC)
    const driver = open(device)
    assert.equal((await driver.connect()).ok, true)
    assert.ok(peer.calls.includes(`notify ${TEMPERATURE}`), 'StartNotify on the indicating characteristic')
    const [temperature, battery] = device.properties
    assert.ok(temperature && battery)
    assert.deepEqual(values(await driver.read([temperature])), { temperature: 'BLUETOOTH_NO_VALUE' }, 'nothing indicated yet, and it cannot be read')
    peer.set(TEMPERATURE, thermometerFrame(36.4))
    await eventually(async () => (await driver.read([temperature])).get('temperature')?.ok === true, 'the indication')
    assert.deepEqual(values(await driver.read([temperature, battery])), { temperature: '36.4', battery: '87' })
    peer.set(TEMPERATURE, thermometerFrame(37.2))
    peer.set(BATTERY, Buffer.from([86]))
    await eventually(async () => (await driver.read([temperature])).get('temperature')?.ok === true && values(await driver.read([temperature])).temperature === '37.2', 'the second indication')
    assert.deepEqual(values(await driver.read([battery])), { battery: '86' })
    assert.equal(peer.calls.filter((c) => c === `read ${TEMPERATURE}`).length, 0, 'no GATT read of a notify-only characteristic')
    assert.ok(peer.calls.filter((c) => c === `read ${BATTERY}`).length >= 2, 'the battery is polled')
  })

  it('writes: the typed encoder (with response) and dataWrite (without response, as the flags offer)', async () => {
    const peer = thermometer(fake.bluez, MAC, { known: true })
    const device = thermometerDevice('thermo', MAC)
    const driver = open(device)
    assert.equal((await driver.connect()).ok, true)
    const setpoint = device.properties.find((p) => p.name === 'setpoint')
    const sw = device.properties.find((p) => p.name === 'switch')
    assert.ok(setpoint && sw)
    assert.deepEqual(await driver.write(setpoint, '23.5'), { ok: true, value: undefined })
    assert.ok(peer.calls.includes(`write ${SETPOINT} eb00 request`), peer.calls.join('\n'))
    assert.deepEqual(values(await driver.read([setpoint])), { setpoint: '23.5' }, 'read back (notify cache refreshed after the write)')
    assert.deepEqual(await driver.write(sw, 'ON'), { ok: true, value: undefined })
    assert.ok(peer.calls.includes(`write ${SWITCH} 01 command`), peer.calls.join('\n'))
    assert.deepEqual(values(await driver.read([sw])), { switch: '1' })
    assert.deepEqual(await driver.write(sw, 'OFF'), { ok: true, value: undefined })
    assert.ok(peer.calls.includes(`write ${SWITCH} 00 command`))
    const bad = await driver.write(setpoint, '99999')
    assert.equal(bad.ok ? 'ok' : bad.error.code, 'BLUETOOTH_VALUE_INVALID')
  })

  it('link drop: connectionLost outcomes, then a fresh driver reconnects', async () => {
    const peer = thermometer(fake.bluez, MAC, { known: true })
    const device = thermometerDevice('thermo', MAC)
    const driver = open(device)
    assert.equal((await driver.connect()).ok, true)
    peer.disconnect() // the supervision timeout: BlueZ flips Connected to false
    await eventually(async () => !(await driver.health()).ok, 'the lost link')
    const after = await driver.read(device.properties)
    for (const o of after.values()) assert.deepEqual(o.ok ? undefined : [o.error.code, o.error.connectionLost], ['BLUETOOTH_CONNECTION_LOST', true])
    await driver.close()
    assert.equal(protocol.slots.inUse('hci0'), 0)
    const again = open(device)
    assert.deepEqual(await again.connect(), { ok: true, value: undefined })
    assert.equal(peer.connects, 2)
    assert.equal(values(await again.read(device.properties)).battery, '87')
  })

  it('the device leaves D-Bus (BlueZ forgot it): lost, and found again by discovery', async () => {
    const peer = thermometer(fake.bluez, MAC, { known: true })
    const device = thermometerDevice('thermo', MAC)
    const driver = open(device)
    assert.equal((await driver.connect()).ok, true)
    peer.remove()
    await eventually(async () => !(await driver.health()).ok, 'the lost link')
    const h = await driver.health()
    assert.deepEqual(h.ok ? undefined : [h.error.code, h.error.connectionLost], ['BLUETOOTH_CONNECTION_LOST', true])
    await driver.close()
    const again = open(device)
    assert.equal((await again.connect()).ok, true)
    assert.equal(fake.bluez.discoveries, 1, 'the device was rediscovered')
  })

  it('adapter reset: the adapter and its devices leave D-Bus and come back; the driver reconnects', async () => {
    thermometer(fake.bluez, MAC, { known: true })
    const device = thermometerDevice('thermo', MAC)
    const driver = open(device)
    assert.equal((await driver.connect()).ok, true)
    const reset = fake.bluez.resetAdapter(300)
    await eventually(async () => !(await driver.health()).ok, 'the lost link')
    await driver.close()
    const during = open(device)
    const down = await during.connect()
    assert.equal(down.ok ? 'ok' : down.error.code, 'BLUETOOTH_ADAPTER_UNAVAILABLE')
    await reset
    const again = open(device)
    assert.deepEqual(await again.connect(), { ok: true, value: undefined })
    assert.equal(values(await again.read(device.properties)).temperature, '21.5')
  })

  it('reconnecting many times leaves no D-Bus signal subscriptions behind (node-ble keeps them unless released)', async () => {
    const peer = thermometer(fake.bluez, MAC, { known: true })
    const device = thermometerDevice('thermo', MAC)
    const leaks: string[] = []
    const onWarning = (w: Error): void => {
      if (w.name === 'MaxListenersExceededWarning') leaks.push(w.message)
    }
    process.on('warning', onWarning)
    try {
      for (let i = 0; i < 25; i++) {
        const driver = open(device)
        assert.equal((await driver.connect()).ok, true)
        await driver.read(device.properties)
        if (i % 2 === 0) peer.disconnect()
        await driver.close()
      }
      await sleep(50) // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning)
    }
    assert.deepEqual(leaks, [])
  })

  it('connection limit: devices beyond maxConnections queue for a slot (FIFO), time out after queueTimeout, and get one when it frees', async () => {
    const macs = ['A4:C1:38:00:00:01', 'A4:C1:38:00:00:02', 'A4:C1:38:00:00:03']
    const peers = macs.map((m) => thermometer(fake.bluez, m, { known: true }))
    const devices = macs.map((m, i) => thermometerDevice(`t${i}`, m, { maxConnections: 2, queueTimeout: 3000 }))
    const [d0, d1, d2] = devices.map((d) => open(d))
    assert.ok(d0 && d1 && d2)
    assert.equal((await d0.connect()).ok, true)
    assert.equal((await d1.connect()).ok, true)
    let third: Outcome<void> | undefined
    const queued = d2.connect().then((o) => (third = o))
    await sleep(200)
    assert.equal(third, undefined, 'the third device waits')
    assert.equal(peers[2]?.connects, 0)
    assert.equal(protocol.slots.inUse('hci0'), 2)
    await d0.close()
    await queued
    assert.deepEqual(third, { ok: true, value: undefined })
    assert.equal(peers[2]?.connected, true)
    // with every slot taken and a short queue timeout: BLUETOOTH_ADAPTER_BUSY
    const impatient = open(thermometerDevice('t9', macs[0] ?? '', { maxConnections: 2, queueTimeout: 100 }))
    const busy = await impatient.connect()
    assert.equal(busy.ok ? 'ok' : busy.error.code, 'BLUETOOTH_ADAPTER_BUSY')
  })
})

describe('Bluetooth LE mapper end to end: runtime → node-ble → fake BlueZ → twin', function () {
  this.timeout(30_000)
  const start = mapperHarness()
  let fake: FakeBluezBus | undefined
  afterEach(async () => {
    await fake?.stop()
    fake = undefined
  })

  /** advances the mapper's manual clock in small steps while real D-Bus I/O runs */
  async function pump(h: Harness, test: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs:\n${h.logs.map((l) => JSON.stringify(l)).join('\n')}`)
      await h.clock.advance(200)
      await sleep(20)
    }
  }

  it('values reach the twin, indications update it, desired values are written and read back, a dropped link reconnects', async () => {
    fake = await startFakeBluez()
    const peer = thermometer(fake.bluez, MAC, { known: true })
    const protocol = bluetoothProtocol({ busAddress: fake.address })
    const h = await start({ devices: [thermometerDevice('thermo', MAC)], protocol, mapper: { heartbeatMs: 0 } })
    await pump(h, () => h.actual('thermo', 'temperature') === '21.5' && h.actual('thermo', 'battery') === '87', 'first values in the twin')
    assert.equal(h.actual('thermo', 'setpoint'), '21.5')

    peer.set(TEMPERATURE, thermometerFrame(36.4))
    await pump(h, () => h.actual('thermo', 'temperature') === '36.4', 'the indicated temperature in the twin')

    await h.publish(deviceTopic({ layout: 'name', name: 'thermo' }, 'twin/update'), { event_id: 'app-1', timestamp: 0, twin: { setpoint: { expected: { value: '19' } } } })
    await pump(h, () => h.actual('thermo', 'setpoint') === '19', 'the written setpoint read back into the twin')
    assert.ok(peer.calls.includes(`write ${SETPOINT} be00 request`))

    peer.disconnect()
    await pump(h, () => h.on('thermo', 'state/update').some((m) => m.body.state === 'offline'), 'offline after the link drop')
    peer.set(BATTERY, Buffer.from([50]))
    await pump(h, () => h.actual('thermo', 'battery') === '50', 'values again after the reconnect')
    assert.equal(peer.connects, 2)
    assert.equal(h.on('thermo', 'state/update').at(-1)?.body.state, 'online')
    await h.mapper.stop()
    await protocol.close?.()
  })

  const pool = clientPool()
  it("an app's membership/get (another MQTT client) does not disconnect the peripheral", async () => {
    fake = await startFakeBluez()
    const peer = thermometer(fake.bluez, MAC, { known: true })
    const protocol = bluetoothProtocol({ busAddress: fake.address })
    const h = await start({ devices: [thermometerDevice('thermo', MAC)], protocol, mapper: { heartbeatMs: 0 } })
    await pump(h, () => h.actual('thermo', 'temperature') === '21.5' && h.twin.devices.get('default/thermo')?.state === 'online', 'first values, online')
    const { client, inbox } = await pool.connect(await h.listen())
    await client.subscribeAsync(nodeTopic('edge-1', 'membership/get/result'), { qos: 1 })
    await client.publishAsync(nodeTopic('edge-1', 'membership/get'), JSON.stringify({ event_id: 'app-1' }), { qos: 1 })
    await inbox.waitFor((m) => m.payload.includes('"app-1"'), 'the answer')
    for (let i = 0; i < 10; i++) {
      await h.clock.advance(200)
      await sleep(20)
    }
    assert.deepEqual({ connects: peer.connects, disconnects: peer.disconnects, connected: peer.connected }, { connects: 1, disconnects: 0, connected: true })
    await h.mapper.stop()
    await protocol.close?.()
  })
})
