/**
 * One device's life in the mapper: connect → poll on each property's collectCycle → report →
 * apply desired values → on a lost link close, report `offline`, wait with capped jittered
 * back-off, reconnect with a fresh driver. One loop per device is the only caller of its driver,
 * so writes are serialised with polling. The loop catches everything: nothing a driver or the bus
 * does ends it; only `stop()` does.
 */
import type { Logger } from 'pino'
import type { EdgeDevice, EdgeProperty } from '../../schemas/device.js'
import type { DeviceDriver, DriverContext, DriverError, Protocol } from '../driver.js'
import { Backoff, type BackoffOptions } from './backoff.js'
import { Alarm, type Clock } from './clock.js'
import { checkWritable, guarded, guardedRead, guardedVoid, StopSignal, type CallLimits } from './guard.js'
import { ReportedValues, type MapperDeviceState } from './report.js'
import { DEFAULT_COLLECT_CYCLE_MS, PollSchedule } from './schedule.js'
import { DesiredWrites } from './writes.js'

const MAX_SLEEP_MS = 2 ** 31 - 1

export interface SupervisorTuning {
  /** re-report unchanged values this often, ms; 0 = only changes */
  heartbeatMs: number
  backoff: BackoffOptions
  /** a driver call that has not settled after this long counts as a lost link, ms */
  callTimeoutMs: number
  /** jitter source, [0, 1) */
  random: () => number
  /**
   * after its first read on connect, each device polls on a grid at a random phase of its
   * shortest cycle, so the devices of one line do not all fall due at once (false: grid from connect)
   */
  spreadPolls: boolean
}

export interface SupervisorOptions {
  device: EdgeDevice
  protocol: Protocol
  context: DriverContext
  clock: Clock
  tuning: SupervisorTuning
  log: Logger
  reportValues(values: ReadonlyMap<string, string>): void
  reportState(state: MapperDeviceState): void
}

export class DeviceSupervisor {
  readonly #o: SupervisorOptions
  readonly #log: Logger
  readonly #alarm: Alarm
  readonly #backoff: Backoff
  readonly #schedule: PollSchedule
  readonly #reported: ReportedValues
  readonly #writes: DesiredWrites
  readonly #properties: Map<string, EdgeProperty>
  readonly #lastRead = new Map<string, string>()
  // Created when first needed: a node holds thousands of devices and most never fail or refuse.
  /** property → code of its failing read, to log a failure once rather than every cycle */
  #failing: Map<string, string> | undefined
  /** property → value refused, to log a refused delta once rather than after every deal */
  #refused: Map<string, string> | undefined
  #driver: DeviceDriver | undefined
  #state: MapperDeviceState | undefined
  #nextProbe = 0
  /** code and message of the failure last logged as a warning in this outage (repeats go to debug) */
  #outage: string | undefined
  #stopped = false
  #loop: Promise<void> | undefined
  /** cuts short a driver call in flight when the supervisor stops */
  readonly #stop = new StopSignal()
  readonly #limits: CallLimits

  constructor(options: SupervisorOptions) {
    this.#o = options
    this.#log = options.log
    this.#alarm = new Alarm(options.clock)
    this.#backoff = new Backoff(options.tuning.backoff, options.tuning.random)
    this.#schedule = new PollSchedule(options.device.properties)
    this.#reported = new ReportedValues(options.tuning.heartbeatMs)
    this.#writes = new DesiredWrites(options.tuning.backoff, options.tuning.random)
    this.#properties = new Map(options.device.properties.map((p) => [p.name, p]))
    this.#limits = { clock: options.clock, timeoutMs: options.tuning.callTimeoutMs, stop: this.#stop }
  }

  get device(): EdgeDevice {
    return this.#o.device
  }

  get state(): MapperDeviceState | undefined {
    return this.#state
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  /** Ends the loop and closes the driver; `reportOffline` tells the twin nobody serves the device now. */
  async stop(reportOffline = false): Promise<void> {
    if (this.#stopped) return this.#loop
    this.#stopped = true
    this.#alarm.wake()
    this.#stop.stop()
    await this.#loop
    await this.#close()
    if (reportOffline && this.#state !== undefined) this.#o.reportState('offline')
  }

  /** A complete delta (`.../twin/update/delta` or the twin's state at start): property → expected value. */
  delta(values: Readonly<Record<string, string>>): void {
    const writable = new Map<string, string>()
    for (const [name, value] of Object.entries(values)) {
      const property = this.#properties.get(name)
      if (property === undefined) continue // a twin that is not a device property: nothing to write
      const check = checkWritable(property, value)
      if (check.ok) {
        writable.set(name, value)
        this.#refused?.delete(name)
      } else if (this.#refused?.get(name) !== value) {
        ;(this.#refused ??= new Map()).set(name, value)
        this.#log.error({ code: check.error.code, property: name, value }, `desired value not written: ${check.error.message}`)
      }
    }
    this.#writes.offer(writable, (name) => this.#lastRead.get(name), this.#o.clock.now())
    if (this.#driver !== undefined) this.#alarm.wake()
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#step()
      } catch (err) {
        // Only a bug in the runtime itself gets here; drivers are guarded. Keep going, slowly.
        this.#log.error({ err, code: 'MAPPER_DRIVER_THREW' }, 'poll step failed')
        await this.#lose({ code: 'MAPPER_DRIVER_THREW', message: String(err), connectionLost: true })
      }
    }
  }

  async #step(): Promise<void> {
    if (this.#driver === undefined && !(await this.#connect())) return
    const now = this.#o.clock.now()
    const writes = this.#writes.due(now, (name) => this.#lastRead.get(name))
    if (writes.length > 0 && !(await this.#write(writes))) return
    const due = this.#schedule.due(now)
    if (due.length > 0 && !(await this.#poll(due, now))) return
    if (this.#properties.size === 0 && now >= this.#nextProbe && !(await this.#probe(now))) return
    if (this.#stopped) return
    const wakeAt = Math.min(this.#schedule.nextDue() ?? Infinity, this.#writes.nextDue() ?? Infinity, this.#properties.size === 0 ? this.#nextProbe : Infinity)
    // Node's timers overflow past 2^31-1 ms (and would fire at once)
    await this.#alarm.sleep(Math.min(MAX_SLEEP_MS, Math.max(0, wakeAt - this.#o.clock.now())))
  }

  /** Opens a fresh driver; on failure reports offline and waits out the back-off. */
  async #connect(): Promise<boolean> {
    const { protocol, device, context, clock } = this.#o
    const created = await guarded(this.#limits, 'create', () => Promise.resolve(protocol.createDriver(device, context)))
    if (!created.ok) {
      await this.#lose(created.error)
      return false
    }
    const driver = created.value as DeviceDriver
    this.#driver = driver
    const out = await guardedVoid(this.#limits, 'connect', () => driver.connect())
    if (this.#stopped) return false
    if (!out.ok) {
      await this.#lose(out.error)
      return false
    }
    const now = clock.now()
    this.#log.info({ attempt: this.#backoff.attempt }, 'device connected')
    this.#outage = undefined
    this.#backoff.succeeded(now)
    this.#schedule.restart(now, this.#o.tuning.spreadPolls ? this.#o.tuning.random() : 0)
    this.#nextProbe = now
    this.#setState('online')
    return true
  }

  /** One read round of every due property: one `driver.read`, one report with every changed value. */
  async #poll(due: EdgeProperty[], now: number): Promise<boolean> {
    const driver = this.#driver
    if (driver === undefined) return false
    const result = await guardedRead(this.#limits, driver, due)
    if (!result.ok) return this.#lose(result.error)
    const doneAt = this.#o.clock.now()
    this.#schedule.done(due, now)
    const values = new Map<string, string>()
    let lost: DriverError | undefined
    for (const [name, outcome] of result.outcomes) {
      if (outcome.ok) {
        values.set(name, outcome.value)
        this.#lastRead.set(name, outcome.value)
        if (this.#failing?.delete(name) === true) this.#log.info({ property: name }, 'property readable again')
      } else {
        if (outcome.error.connectionLost) lost ??= outcome.error
        if (this.#failing?.get(name) !== outcome.error.code) {
          ;(this.#failing ??= new Map()).set(name, outcome.error.code)
          this.#log.warn({ code: outcome.error.code, property: name }, `read failed: ${outcome.error.message}`)
        }
      }
    }
    const changed = this.#reported.take(values, doneAt)
    if (changed.size > 0) this.#o.reportValues(changed)
    if (lost !== undefined) return this.#lose(lost)
    this.#setState(this.#failing !== undefined && this.#failing.size > 0 ? 'unhealthy' : 'online')
    return true
  }

  /** Writes desired values one by one, reads each back, reports the read-back values together. */
  async #write(writes: Array<[string, string]>): Promise<boolean> {
    const { clock } = this.#o
    const readBack = new Map<string, string>()
    let alive = true
    for (const [name, value] of writes) {
      const driver = this.#driver
      const property = this.#properties.get(name)
      if (driver === undefined || property === undefined) break
      const out = await guardedVoid(this.#limits, 'write', () => driver.write(property, value))
      if (!out.ok) {
        this.#writes.failed(name, value, clock.now())
        this.#log.warn({ code: out.error.code, property: name, value }, `write failed: ${out.error.message}`)
        if (out.error.connectionLost) {
          alive = false
          await this.#lose(out.error)
          break
        }
        continue
      }
      const read = await guardedRead(this.#limits, driver, [property])
      const outcome = read.ok ? read.outcomes.get(name) : undefined
      const got = outcome?.ok === true ? outcome.value : undefined
      this.#writes.written(name, value, got, clock.now())
      this.#log.info({ property: name, value, readBack: got }, 'desired value written')
      if (got !== undefined) {
        readBack.set(name, got)
        this.#lastRead.set(name, got)
      }
      if (!read.ok || outcome?.ok === false) {
        const error = read.ok ? (outcome?.ok === false ? outcome.error : undefined) : read.error
        if (error?.connectionLost === true) {
          alive = false
          await this.#lose(error)
          break
        }
      }
    }
    if (readBack.size > 0) this.#o.reportValues(this.#reported.force(readBack, clock.now()))
    return alive
  }

  /** A device with no properties: a health probe every default cycle keeps its state current. */
  async #probe(now: number): Promise<boolean> {
    const driver = this.#driver
    if (driver === undefined) return false
    const out = await guardedVoid(this.#limits, 'health', () => driver.health())
    this.#nextProbe = now + DEFAULT_COLLECT_CYCLE_MS
    if (!out.ok && out.error.connectionLost) return this.#lose(out.error)
    this.#setState(out.ok ? 'online' : 'unhealthy')
    return true
  }

  /** The link is gone: close the driver, report offline, wait out the back-off. Always false. */
  async #lose(error: DriverError): Promise<false> {
    await this.#close()
    if (this.#stopped) return false
    const delay = this.#backoff.next(this.#o.clock.now())
    // one warning per outage and cause: a gateway down for an hour is not thousands of lines per device
    const cause = `${error.code} ${error.message}`
    const level = this.#outage === cause ? 'debug' : 'warn'
    this.#outage = cause
    this.#log[level]({ code: error.code, retryInMs: delay, attempt: this.#backoff.attempt }, `device link down: ${error.message}`)
    this.#setState('offline')
    this.#alarm.reset()
    await this.#alarm.sleep(delay)
    return false
  }

  /** Closes the driver; waited for even while stopping (a socket must really be closed), bounded by the call timeout. */
  async #close(): Promise<void> {
    const driver = this.#driver
    this.#driver = undefined
    if (driver === undefined) return
    const out = await guarded({ ...this.#limits, stop: undefined }, 'close', () => driver.close())
    if (!out.ok) this.#log.warn({ code: out.error.code }, out.error.message)
  }

  #setState(state: MapperDeviceState): void {
    if (this.#state === state || this.#stopped) return
    this.#state = state
    this.#o.reportState(state)
  }
}
