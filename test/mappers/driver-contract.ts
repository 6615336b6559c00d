/**
 * The driver contract suite (mappers/driver.ts), written once and run against every protocol's
 * driver (STYLE: contract suites; MQTT.js abstract_store.ts). A protocol passes when its driver
 * connects idempotently, returns one outcome per property read, reads back what it wrote, reports
 * every device problem as a value (never a throw), closes idempotently (also after a failed
 * connect), and connects again after a close.
 *
 * Usage: `driverContract('modbus tcp', async () => ({ protocol, device, writable, unreachable, teardown }))`.
 */
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import { pino } from 'pino'
import type { DeviceDriver, DriverContext, Outcome, Protocol } from '../../mappers/driver.js'
import { isOutcome } from '../../mappers/runtime/guard.js'
import type { EdgeDevice, EdgeProperty } from '../../schemas/device.js'

export interface ContractSetup {
  protocol: Protocol
  /** a reachable device; every property readable */
  device: EdgeDevice
  /** a ReadWrite property of `device` and two different values it stores exactly */
  writable: { property: string; values: readonly [string, string] }
  /** the same kind of device where nothing answers (a closed port, a missing serial line) */
  unreachable: EdgeDevice
  teardown?(): Promise<void>
}

export function driverContract(name: string, setup: () => Promise<ContractSetup>): void {
  describe(`driver contract: ${name}`, function () {
    this.timeout(20_000)
    let env: ContractSetup
    const drivers: DeviceDriver[] = []
    const context: DriverContext = { log: pino({ level: 'silent' }), dataDir: tmpdir() }
    const driverFor = (device: EdgeDevice): DeviceDriver => {
      const driver = env.protocol.createDriver(device, context)
      drivers.push(driver)
      return driver
    }
    const property = (device: EdgeDevice, name: string): EdgeProperty => {
      const p = device.properties.find((q) => q.name === name)
      assert.ok(p, `setup: ${name} is not a property of ${device.name}`)
      return p
    }

    beforeEach(async () => {
      env = await setup()
      assert.equal(env.protocol.validate(env.device).length, 0, 'setup: the device is valid for its protocol')
    })
    afterEach(async () => {
      for (const d of drivers.splice(0)) await d.close()
      await env.protocol.close?.()
      await env.teardown?.()
    })

    it('connect is idempotent while connected', async () => {
      const driver = driverFor(env.device)
      assert.deepEqual(await driver.connect(), { ok: true, value: undefined })
      assert.deepEqual(await driver.connect(), { ok: true, value: undefined })
      assert.equal((await driver.health()).ok, true)
    })

    it('read of every property returns one outcome per property, values as strings', async () => {
      const driver = driverFor(env.device)
      assert.equal((await driver.connect()).ok, true)
      const outcomes = await driver.read(env.device.properties)
      assert.ok(outcomes instanceof Map)
      assert.deepEqual([...outcomes.keys()].sort(), env.device.properties.map((p) => p.name).sort())
      for (const [name, outcome] of outcomes) {
        assert.ok(isOutcome(outcome), `${name}: an outcome`)
        assert.ok(outcome.ok, `${name}: ${JSON.stringify(outcome)}`)
        assert.equal(typeof outcome.value, 'string')
      }
    })

    it('write then read back returns the written value', async () => {
      const driver = driverFor(env.device)
      assert.equal((await driver.connect()).ok, true)
      const target = property(env.device, env.writable.property)
      for (const value of env.writable.values) {
        assert.deepEqual(await driver.write(target, value), { ok: true, value: undefined })
        const back = (await driver.read([target])).get(target.name)
        assert.deepEqual(back, { ok: true, value })
      }
    })

    it('device errors are values, not throws: connect to an unreachable device', async () => {
      const driver = driverFor(env.unreachable)
      const out = await driver.connect()
      assert.equal(out.ok, false)
      assert.ok(isOutcome(out))
      if (!out.ok) assert.equal(typeof out.error.code, 'string')
    })

    it('device errors are values, not throws: read and write on a closed driver', async () => {
      const driver = driverFor(env.device)
      assert.equal((await driver.connect()).ok, true)
      await driver.close()
      const outcomes = await driver.read(env.device.properties)
      for (const p of env.device.properties) {
        const outcome: Outcome<string> | undefined = outcomes.get(p.name)
        assert.ok(isOutcome(outcome) && !outcome.ok, `${p.name}: a failed outcome after close`)
      }
      const write = await driver.write(property(env.device, env.writable.property), env.writable.values[0])
      assert.equal(write.ok, false)
    })

    it('close is idempotent, safe before connect and after a failed connect', async () => {
      const never = driverFor(env.device)
      await never.close()
      await never.close()
      const failed = driverFor(env.unreachable)
      assert.equal((await failed.connect()).ok, false)
      await failed.close()
      await failed.close()
    })

    it('connect after close works', async () => {
      const driver = driverFor(env.device)
      assert.equal((await driver.connect()).ok, true)
      await driver.close()
      assert.equal((await driver.connect()).ok, true)
      const outcomes = await driver.read(env.device.properties)
      for (const outcome of outcomes.values()) assert.equal(outcome.ok, true)
    })
  })
}
