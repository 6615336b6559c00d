/**
 * Bluetooth LE with no D-Bus system bus at all: a gateway without bluetoothd's
 * bus, or a container without the socket. dbus-next never settles the calls made on a connection
 * that failed, so each connect used to hang until the runtime's call timeout, and stopping waited
 * for it. Every connect must report BLUETOOTH_ADAPTER_UNAVAILABLE at once, and a stop must not wait.
 * The system bus address points at a socket nobody listens on, in a scratch directory.
 */
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { bluetoothProtocol } from '../../mappers/bluetooth/protocol.js'
import type { Outcome } from '../../mappers/driver.js'
import { thermometerDevice } from '../support/bluetooth.js'
import { protocolHarness } from '../support/protocol-harness.js'
import { scratchDir } from '../support/resources.js'
import { startTernEdge } from '../support/tern.js'

const MAC = 'A4:C1:38:00:11:22'
const MANIFESTS = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: thermometer }
spec:
  protocol: bluetooth
  properties:
    - { name: battery, type: INT, accessMode: ReadOnly }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: thermo }
spec:
  deviceModelRef: { name: thermometer }
  protocol: { protocolName: bluetooth, configData: { macAddress: "${MAC}" } }
  properties:
    - { name: battery, visitors: { configData: { characteristicUUID: 2a19 } } }
`
/** far below the runtime's call timeout (10 s), far above an immediate answer on a loaded machine */
const PROMPT_MS = 5000

/** `work`, or 'still pending' after `ms` (a hang must fail the test, not time it out) */
async function settledWithin<T>(work: Promise<T>, ms: number): Promise<T | 'still pending'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'still pending'>((resolve) => (timer = setTimeout(() => resolve('still pending'), ms)))
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

describe('Bluetooth LE with no D-Bus system bus', function () {
  this.timeout(60_000)
  const start = protocolHarness()
  let dir: { path: string; remove(): Promise<void> }
  let saved: string | undefined
  beforeEach(async () => {
    dir = await scratchDir('tern-nobus-')
    saved = process.env.DBUS_SYSTEM_BUS_ADDRESS
    process.env.DBUS_SYSTEM_BUS_ADDRESS = `unix:path=${join(dir.path, 'system_bus_socket')}`
  })
  afterEach(async () => {
    if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved
    await dir.remove()
  })

  it('each connect reports BLUETOOTH_ADAPTER_UNAVAILABLE at once, and close does not wait', async () => {
    const protocol = bluetoothProtocol()
    const driver = protocol.createDriver(thermometerDevice('thermo', MAC), { log: pino({ level: 'silent' }), dataDir: dir.path })
    try {
      for (const attempt of [1, 2]) {
        const out = await settledWithin(driver.connect(), PROMPT_MS)
        assert.notEqual(out, 'still pending', `connect ${attempt} settled`)
        const outcome = out as Outcome<void>
        assert.equal(outcome.ok, false)
        if (!outcome.ok) {
          assert.equal(outcome.error.code, 'BLUETOOTH_ADAPTER_UNAVAILABLE', outcome.error.message)
          assert.match(outcome.error.message, /no D-Bus system bus/)
        }
      }
      assert.notEqual(await settledWithin(driver.close(), PROMPT_MS), 'still pending', 'close settled')
    } finally {
      await protocol.close?.()
    }
  })

  it('through the mapper: the device is offline with BLUETOOTH_ADAPTER_UNAVAILABLE, and the mapper stops without waiting', async () => {
    const protocol = bluetoothProtocol()
    const h = await start({ devices: [thermometerDevice('thermo', MAC)], protocol, dataDir: dir.path, mapper: { heartbeatMs: 0 } })
    await h.until(() => h.state('thermo') === 'offline', 'the device offline', PROMPT_MS)
    assert.equal(h.logged('BLUETOOTH_ADAPTER_UNAVAILABLE').length, 1, 'the outage logged once with its code')
    assert.equal(h.logged('MAPPER_TIMEOUT').length, 0, 'not a call that timed out')
    const stopping = Date.now()
    assert.notEqual(await settledWithin(h.mapper.stop(), PROMPT_MS), 'still pending', 'the mapper stopped')
    assert.ok(Date.now() - stopping < PROMPT_MS)
  })

  it('tern edge (the built binary): the outage logged with BLUETOOTH_ADAPTER_UNAVAILABLE at once, and SIGTERM stops the node without waiting', async () => {
    const devices = join(dir.path, 'devices')
    await mkdir(devices)
    await writeFile(join(devices, 'thermo.yaml'), MANIFESTS)
    // the child inherits DBUS_SYSTEM_BUS_ADDRESS from beforeEach
    const node = await startTernEdge(dir.path, { node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }] }, mappers: { enabled: ['bluetooth'] } })
    try {
      const seen = Date.now()
      await node.waitForLine((l) => l.includes('BLUETOOTH_ADAPTER_UNAVAILABLE'), PROMPT_MS)
      assert.ok(Date.now() - seen < PROMPT_MS)
      const stopping = Date.now()
      await node.stop(3 * PROMPT_MS)
      const took = Date.now() - stopping
      assert.deepEqual(await node.exited(), { code: 0, signal: null })
      assert.ok(took < PROMPT_MS, `stopped in ${took} ms`)
      assert.doesNotMatch(node.output(), /MAPPER_TIMEOUT/)
    } finally {
      await node.stop()
    }
  })
})
