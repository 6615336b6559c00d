/**
 * The Modbus device driver (mappers/driver.ts contract): reads planned into batched requests
 * (plan.ts), values through the codec (codec.ts), requests through a link shared per serial port
 * or TCP endpoint (link.ts). Every device problem comes back as an outcome with a stable code.
 */
import type { Logger } from 'pino'
import { fail, ok, type DeviceDriver, type DriverError, type Outcome } from '../driver.js'
import type { EdgeDevice, EdgeProperty } from '../../schemas/device.js'
import { decodeBit, decodeRegisters, encodeBit, encodeRegisters } from './codec.js'
import type { ModbusCounters } from './faults.js'
import type { LinkRegistry, LinkRequest, LinkResponse, ModbusLink } from './link.js'
import { planReads, type ReadItem, type ReadRequest } from './plan.js'
import type { ModbusSettings, Point } from './points.js'

export interface ModbusDriverOptions {
  readonly device: EdgeDevice
  readonly settings: ModbusSettings
  readonly points: ReadonlyMap<string, Point>
  readonly links: LinkRegistry
  readonly plans: SharedPlans
  readonly counters: ModbusCounters
  readonly log: Logger
  readonly sleep?: (ms: number) => Promise<void>
}

type Results = Map<string, Outcome<string>>

interface Plan {
  readonly requests: readonly ReadRequest[]
  /** properties without a Modbus point */
  readonly unmapped: readonly string[]
}
const MAX_PLANS = 16
/** distinct layouts kept; past this SharedPlans starts over (drivers keep the plans they hold) */
const MAX_LAYOUTS = 1024

/**
 * Read plans shared by the drivers of devices laid out alike (the same points and maxGap): 1,000
 * identical meters hold one set of plans rather than one each (~1 KiB a device).
 */
export class SharedPlans {
  readonly #layouts = new Map<string, Map<string, Plan>>()

  /** The plans of a layout, by the names of the properties due together. */
  of(points: ReadonlyMap<string, Point>, maxGap: number): Map<string, Plan> {
    const key = JSON.stringify([maxGap, ...[...points.values()].map((p) => [p.name, p.table, p.offset, p.count])])
    let plans = this.#layouts.get(key)
    if (plans === undefined) {
      if (this.#layouts.size >= MAX_LAYOUTS) this.#layouts.clear()
      this.#layouts.set(key, (plans = new Map<string, Plan>()))
    }
    return plans
  }
}

/** A request's table and items, the key of `#unbatchable`; computed only once some request was refused (not kept per plan). */
function signatureOf(request: ReadRequest): string {
  return `${request.table}:${request.items.map((i) => i.key).join(',')}`
}

export class ModbusDriver implements DeviceDriver {
  readonly #o: ModbusDriverOptions
  readonly #id: string
  #link: ModbusLink | undefined
  /** batched requests the slave refused as a whole (a gap it does not implement): read item by item */
  #unbatchable: Set<string> | undefined
  /** property names due together → their plan, shared with the devices laid out alike */
  readonly #plans: Map<string, Plan>

  constructor(options: ModbusDriverOptions) {
    this.#o = options
    this.#id = options.device.id
    this.#plans = options.plans.of(options.points, options.settings.maxGap)
  }

  async connect(): Promise<Outcome<void>> {
    const s = this.#o.settings
    this.#link ??= this.#o.links.acquire(s.transport, {
      interFrameDelayMs: s.interFrameDelayMs,
      connectTimeoutMs: Math.max(s.timeoutMs, 1000),
      log: this.#o.log,
      ...(this.#o.sleep !== undefined ? { sleep: this.#o.sleep } : {}),
    })
    return this.#link.open()
  }

  async read(properties: readonly EdgeProperty[]): Promise<Results> {
    const results: Results = new Map()
    const plan = this.#plan(properties)
    for (const name of plan.unmapped) results.set(name, fail('MODBUS_CONFIG_INVALID', `${name} has no Modbus visitor`))
    // After a timeout or a lost link the rest of the round is not sent: a silent slave costs the
    // other devices on its line one timeout per round, not one per request.
    let stop: DriverError | undefined
    for (const request of plan.requests) {
      if (stop !== undefined) {
        for (const item of request.items) results.set(item.key, { ok: false, error: stop })
        continue
      }
      stop = await this.#readRequest(request, results)
    }
    return results
  }

  /** The requests that read these properties; the same properties (every round, mostly) reuse one plan. */
  #plan(properties: readonly EdgeProperty[]): Plan {
    const key = properties.map((p) => p.name).join('\n')
    let plan = this.#plans.get(key)
    if (plan !== undefined) return plan
    const items: ReadItem[] = []
    const unmapped: string[] = []
    for (const property of properties) {
      const point = this.#o.points.get(property.name)
      if (point === undefined) unmapped.push(property.name)
      else items.push({ key: point.name, table: point.table, offset: point.offset, count: point.count })
    }
    plan = { requests: planReads(items, { maxGap: this.#o.settings.maxGap }), unmapped }
    // bounded: the distinct sets of properties due together (a few per device); a stray flood starts over
    if (this.#plans.size >= MAX_PLANS) this.#plans.clear()
    this.#plans.set(key, plan)
    return plan
  }

  async #readRequest(request: ReadRequest, results: Results): Promise<DriverError | undefined> {
    if (request.items.length > 1 && this.#unbatchable?.has(signatureOf(request)) === true) return this.#readOneByOne(request, results)
    const out = await this.#send({ op: 'read', slave: this.#o.settings.slave, table: request.table, offset: request.offset, count: request.count })
    if (out.ok) {
      for (const item of request.items) results.set(item.key, this.#decode(item, request.offset, out.value))
      return undefined
    }
    const code = out.error.code
    if (request.items.length > 1 && (code === 'MODBUS_ILLEGAL_ADDRESS' || code === 'MODBUS_ILLEGAL_VALUE')) {
      this.#o.log.info({ device: this.#id, table: request.table, offset: request.offset, count: request.count, code }, 'slave refused a batched read; reading these properties one by one')
      ;(this.#unbatchable ??= new Set()).add(signatureOf(request))
      return this.#readOneByOne(request, results)
    }
    for (const item of request.items) results.set(item.key, out)
    return code === 'MODBUS_TIMEOUT' || out.error.connectionLost ? out.error : undefined
  }

  async #readOneByOne(request: ReadRequest, results: Results): Promise<DriverError | undefined> {
    for (const [i, item] of request.items.entries()) {
      const out = await this.#send({ op: 'read', slave: this.#o.settings.slave, table: item.table, offset: item.offset, count: item.count })
      results.set(item.key, out.ok ? this.#decode(item, item.offset, out.value) : out)
      if (!out.ok && (out.error.code === 'MODBUS_TIMEOUT' || out.error.connectionLost)) {
        for (const rest of request.items.slice(i + 1)) results.set(rest.key, out)
        return out.error
      }
    }
    return undefined
  }

  #decode(item: ReadItem, start: number, response: LinkResponse): Outcome<string> {
    const point = this.#o.points.get(item.key)
    const at = item.offset - start
    if (point === undefined) return fail('MODBUS_CONFIG_INVALID', `${item.key} has no Modbus visitor`)
    if ('bits' in response) {
      const bit = response.bits[at]
      return bit === undefined ? fail('MODBUS_BAD_RESPONSE', 'the answer has too few bits') : ok(decodeBit(point.propertyType, bit))
    }
    if ('words' in response && point.format !== undefined) return decodeRegisters(point.format, response.words.slice(at, at + item.count))
    return fail('MODBUS_BAD_RESPONSE', 'the answer does not carry what was asked')
  }

  async write(property: EdgeProperty, value: string): Promise<Outcome<void>> {
    const point = this.#o.points.get(property.name)
    if (point === undefined) return fail('MODBUS_CONFIG_INVALID', `${property.name} has no Modbus visitor`)
    const slave = this.#o.settings.slave
    let request: LinkRequest
    if (point.table === 'coil') {
      const bit = encodeBit(value)
      if (!bit.ok) return bit
      request = { op: 'writeCoil', slave, offset: point.offset, value: bit.value }
    } else if (point.table === 'holding' && point.format !== undefined) {
      const words = encodeRegisters(point.format, value)
      if (!words.ok) return words
      // FC 6 for one register (every slave has it), FC 16 for more
      request =
        words.value.length === 1
          ? { op: 'writeRegister', slave, offset: point.offset, value: words.value[0] ?? 0 }
          : { op: 'writeRegisters', slave, offset: point.offset, values: words.value }
    } else {
      return fail('MODBUS_CONFIG_INVALID', `${property.name} is in a read-only table (${point.table}); only coils and holding registers are writable`)
    }
    const out = await this.#send(request)
    return out.ok ? ok(undefined) : out
  }

  /** Any answer, even a Modbus exception, proves the slave is there; silence or a lost link does not. */
  async health(): Promise<Outcome<void>> {
    const first = [...this.#o.points.values()].sort((a, b) => a.offset - b.offset)[0]
    const probe: LinkRequest = first
      ? { op: 'read', slave: this.#o.settings.slave, table: first.table, offset: first.offset, count: first.count }
      : { op: 'read', slave: this.#o.settings.slave, table: 'holding', offset: 0, count: 1 }
    const out = await this.#send(probe)
    if (out.ok || (!out.error.connectionLost && out.error.code !== 'MODBUS_TIMEOUT' && out.error.code !== 'MODBUS_CRC')) return ok(undefined)
    return out
  }

  async close(): Promise<void> {
    const link = this.#link
    this.#link = undefined
    if (link !== undefined) await this.#o.links.release(link)
  }

  async #send(request: LinkRequest): Promise<Outcome<LinkResponse>> {
    const link = this.#link
    if (link === undefined) return fail('MODBUS_CONNECTION_LOST', 'not connected', true)
    this.#o.counters.request(this.#id)
    const out = await link.request(this.#id, request, this.#o.settings.timeoutMs)
    this.#o.counters.outcome(this.#id, out.ok ? 'ok' : out.error.code)
    if (!out.ok) this.#o.log.debug({ device: this.#id, op: request.op, slave: request.slave, offset: request.offset, code: out.error.code }, out.error.message)
    return out
  }
}
