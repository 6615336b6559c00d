/**
 * A protocol for tests: in-memory devices with registers whose behaviour a test changes while the
 * mapper runs — values, unreachable devices, failing reads or writes, a device that clamps what is
 * written, calls that throw, return garbage, are slow, or never settle (mappers-go device
 * simulators with fault modes). Device state lives in the protocol, not the driver, so it survives
 * the runtime's reconnects with fresh drivers, as a real device does.
 */
import type { EdgeDevice, EdgeProperty } from '../../schemas/device.js'
import type { ErrorCode } from '../../schemas/errors.js'
import type { Problem } from '../../schemas/validate.js'
import { fail, ok, type DeviceDriver, type DriverContext, type Outcome, type Protocol } from '../../mappers/driver.js'
import type { Clock } from '../../mappers/runtime/clock.js'

export const FAKE = 'fake'

export type Op = 'connect' | 'read' | 'write' | 'health' | 'close'

export interface Call {
  op: Op
  at: number
  properties?: string[]
  value?: string
}

/** One simulated device. Change its fields at any time; every driver of the device sees them. */
export class FakeDevice {
  readonly registers = new Map<string, string>()
  /** false: connect fails, and a connected driver loses its link on the next call */
  reachable = true
  /** properties whose reads fail (the link stays up) */
  readonly failReads = new Map<string, ErrorCode>()
  /** writes fail with this code (the link stays up) */
  failWrites: ErrorCode | undefined
  /** the device stores at most this value for a property (numeric) */
  readonly clamp = new Map<string, number>()
  /** these calls throw */
  readonly throwOn = new Set<Op>()
  /** `read` returns something that is not a Map of outcomes */
  garbage: 'not-a-map' | 'numbers' | 'missing' | 'invalid-value' | undefined
  /** these calls never settle */
  readonly hangOn = new Set<Op>()
  /** every call settles after this long on the clock */
  delayMs = 0
  readonly calls: Call[] = []
  /** drivers currently connected */
  openLinks = 0

  callsOf(op: Op): Call[] {
    return this.calls.filter((c) => c.op === op)
  }
}

export class FakeProtocol implements Protocol {
  readonly name = FAKE
  readonly devices = new Map<string, FakeDevice>()
  readonly #clock: Clock
  closed = 0

  constructor(clock: Clock) {
    this.#clock = clock
  }

  /** The simulated device named `name` (created on first use). */
  device(name: string): FakeDevice {
    let device = this.devices.get(name)
    if (device === undefined) {
      device = new FakeDevice()
      this.devices.set(name, device)
    }
    return device
  }

  /** A device is invalid when its configData says `invalid: true`, or a property's visitor lacks `register`. */
  validate(device: EdgeDevice): Problem[] {
    const problems: Problem[] = []
    if (device.protocol.configData.invalid === true) problems.push({ path: '/spec/protocol/configData/invalid', message: 'the fake device is marked invalid' })
    device.properties.forEach((p, i) => {
      if (typeof p.visitors.configData.register !== 'string') problems.push({ path: `/spec/properties/${i}/visitors/configData/register`, message: 'is required' })
    })
    return problems
  }

  createDriver(device: EdgeDevice, _context: DriverContext): DeviceDriver {
    const sim = this.device(device.name)
    for (const p of device.properties) {
      const register = registerOf(p)
      if (!sim.registers.has(register)) sim.registers.set(register, p.type === 'BOOLEAN' ? 'false' : p.type === 'STRING' ? '' : '0')
    }
    return new FakeDriver(sim, this.#clock)
  }

  close(): Promise<void> {
    this.closed++
    return Promise.resolve()
  }
}

export function registerOf(property: EdgeProperty): string {
  const register = property.visitors.configData.register
  return typeof register === 'string' ? register : property.name
}

class FakeDriver implements DeviceDriver {
  readonly #sim: FakeDevice
  readonly #clock: Clock
  #connected = false

  constructor(sim: FakeDevice, clock: Clock) {
    this.#sim = sim
    this.#clock = clock
  }

  async connect(): Promise<Outcome<void>> {
    await this.#enter({ op: 'connect', at: this.#clock.now() })
    if (this.#connected) return ok(undefined)
    if (!this.#sim.reachable) return fail('MAPPER_CONNECT_FAILED', 'fake device unreachable', true)
    this.#connected = true
    this.#sim.openLinks++
    return ok(undefined)
  }

  async read(properties: readonly EdgeProperty[]): Promise<Map<string, Outcome<string>>> {
    await this.#enter({ op: 'read', at: this.#clock.now(), properties: properties.map((p) => p.name) })
    const sim = this.#sim
    switch (sim.garbage) {
      case 'not-a-map':
        return { nonsense: true } as unknown as Map<string, Outcome<string>>
      case 'numbers':
        return new Map(properties.map((p) => [p.name, 42])) as unknown as Map<string, Outcome<string>>
      case 'missing':
        return new Map()
      case 'invalid-value':
        return new Map(properties.map((p) => [p.name, ok('not a number')]))
      case undefined:
        break
    }
    const out = new Map<string, Outcome<string>>()
    for (const p of properties) {
      const failure = sim.failReads.get(p.name)
      if (!this.#linkUp()) out.set(p.name, fail('MAPPER_LINK_LOST', 'fake device went away', true))
      else if (failure !== undefined) out.set(p.name, fail(failure, `fake read of ${p.name} fails`))
      else out.set(p.name, ok(sim.registers.get(registerOf(p)) ?? ''))
    }
    return out
  }

  async write(property: EdgeProperty, value: string): Promise<Outcome<void>> {
    await this.#enter({ op: 'write', at: this.#clock.now(), properties: [property.name], value })
    if (!this.#linkUp()) return fail('MAPPER_LINK_LOST', 'fake device went away', true)
    if (this.#sim.failWrites !== undefined) return fail(this.#sim.failWrites, `fake write of ${property.name} fails`)
    const limit = this.#sim.clamp.get(property.name)
    const stored = limit !== undefined && Number(value) > limit ? String(limit) : value
    this.#sim.registers.set(registerOf(property), stored)
    return ok(undefined)
  }

  async health(): Promise<Outcome<void>> {
    await this.#enter({ op: 'health', at: this.#clock.now() })
    return this.#linkUp() ? ok(undefined) : fail('MAPPER_LINK_LOST', 'fake device went away', true)
  }

  async close(): Promise<void> {
    await this.#enter({ op: 'close', at: this.#clock.now() })
    if (this.#connected) this.#sim.openLinks--
    this.#connected = false
  }

  /** Records the call, then throws, hangs or waits as the device is told to. */
  async #enter(call: Call): Promise<void> {
    const sim = this.#sim
    sim.calls.push(call)
    if (sim.throwOn.has(call.op)) throw new Error(`fake ${call.op} throws`)
    if (sim.hangOn.has(call.op)) await new Promise<never>(() => {})
    if (sim.delayMs > 0) await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, sim.delayMs))
  }

  #linkUp(): boolean {
    if (!this.#connected) return false
    if (this.#sim.reachable) return true
    this.#connected = false
    this.#sim.openLinks--
    return false
  }
}
