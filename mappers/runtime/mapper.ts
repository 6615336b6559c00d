/**
 * A mapper: one protocol's devices on one node, served over the bus alone, so the same code runs
 * inside `tern edge` (aedes bus) and as `tern mapper <protocol>` (MQTT client bus). It learns its
 * devices from the twin's membership topics, runs one DeviceSupervisor per device whose
 * `protocol.protocolName` is its protocol's name, hands them `.../twin/update/delta`, and publishes
 * what they report. Lifecycle as every part: the constructor stores, `start()` does I/O, `stop()` is
 * idempotent.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Bus } from '../../broker/bus.js'
import type { EdgeDevice } from '../../schemas/device.js'
import { deviceRef, deviceTopic, deviceTopicFilters, mapperMetricsTopic, nodeTopic, parseTopic, type DeviceRef, type DeviceTopicLayout } from '../../schemas/topics.js'
import { DeviceTwinDelta as deviceTwinDeltaCheck } from '../../schemas/generated/validators/DeviceTwinDelta.js'
import { validator, formatProblems } from '../../schemas/validate.js'
import type { Protocol } from '../driver.js'
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js'
import type { Clock, TimerHandle } from './clock.js'
import { deviceKey, parseMembershipGetResult, parseMembershipUpdated, pendingDesired, type Member, type MembershipMessage } from './membership.js'
import { stateReport, twinReport } from './report.js'
import { DeviceSupervisor, type SupervisorTuning } from './supervisor.js'

export interface MapperTuning extends SupervisorTuning {
  /** how long `start()` waits for the twin's membership answer before going on (and asking again), ms */
  membershipTimeoutMs: number
  /** how often the protocol's counters are published (retained) on the metrics topic, ms; 0 = never */
  metricsMs: number
}

export const DEFAULT_MAPPER_TUNING: Omit<MapperTuning, 'random'> = {
  heartbeatMs: 60_000,
  backoff: DEFAULT_BACKOFF,
  callTimeoutMs: 10_000,
  spreadPolls: true,
  membershipTimeoutMs: 5_000,
  metricsMs: 60_000,
}

export interface MapperOptions {
  bus: Bus
  protocol: Protocol
  nodeName: string
  /** the node's topic layout: devices' topics are built in it (deltas arrive in it) */
  layout: DeviceTopicLayout
  log: Logger
  clock: Clock
  dataDir: string
  options?: Partial<Omit<MapperTuning, 'backoff'>> & { backoff?: Partial<BackoffOptions> }
}

const QOS = 1
/** how long `stop()` waits for reports still in flight (a broker that is down must not block shutdown) */
const STOP_FLUSH_MS = 2000
const validateDelta = validator(deviceTwinDeltaCheck)

export class Mapper {
  readonly #o: MapperOptions
  readonly #tuning: MapperTuning
  readonly #log: Logger
  readonly #supervisors = new Map<string, DeviceSupervisor>()
  /** twin/get event id → device key: the twin's desired values when a device's supervisor starts */
  readonly #twinGets = new Map<string, string>()
  readonly #inflight = new Set<Promise<void>>()
  readonly #eventPrefix = `mapper-${randomUUID()}`
  #eventSeq = 0
  /** membership messages are applied one at a time, in arrival order */
  #membership: Promise<void> = Promise.resolve()
  #answered: (() => void) | undefined
  #gotMembership = false
  /** the bus reconnected and the next device list answers the mapper's question again */
  #resyncing = false
  #retry: TimerHandle | undefined
  #metricsTimer: TimerHandle | undefined
  #started = false
  #stopped = false

  constructor(options: MapperOptions) {
    this.#o = options
    const o = options.options ?? {}
    this.#tuning = {
      ...DEFAULT_MAPPER_TUNING,
      random: Math.random,
      ...o,
      backoff: { ...DEFAULT_BACKOFF, ...o.backoff },
    }
    this.#log = options.log.child({ part: 'mapper', protocol: options.protocol.name })
  }

  /** The devices served now, by `<namespace>/<name>` (for tests and the CLI). */
  get devices(): ReadonlyMap<string, EdgeDevice> {
    return new Map([...this.#supervisors].map(([key, s]) => [key, s.device]))
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { bus, nodeName } = this.#o
    const handler = (topic: string, payload: Buffer): void => this.#receive(topic, payload)
    const filters = [
      nodeTopic(nodeName, 'membership/get/result'),
      nodeTopic(nodeName, 'membership/updated'),
      ...deviceTopicFilters('twin/update/delta'),
      ...deviceTopicFilters('twin/get/result'),
    ]
    for (const filter of filters) await bus.subscribe(filter, handler, { qos: 1 })
    bus.onReconnect?.(() => this.#resync())
    const answered = new Promise<void>((resolve) => (this.#answered = resolve))
    await this.#askMembership()
    const timedOut = await new Promise<boolean>((resolve) => {
      const timer = this.#o.clock.setTimeout(() => resolve(true), this.#tuning.membershipTimeoutMs)
      void answered.then(() => {
        this.#o.clock.clearTimeout(timer)
        resolve(false)
      })
    })
    if (timedOut) this.#log.warn({ node: nodeName, timeoutMs: this.#tuning.membershipTimeoutMs }, 'no membership answer from the twin yet; asking again in the background')
    await this.#membership
    this.#scheduleMetrics()
    this.#log.info({ node: nodeName, devices: this.#supervisors.size }, 'mapper ready')
  }

  /** The protocol's name (`modbus`, `opcua`, …). */
  get protocol(): string {
    return this.#o.protocol.name
  }

  /** The protocol's counters per device id (requests, `ok`, error codes), for metrics; empty when it keeps none. */
  counters(): Record<string, Record<string, number>> {
    return this.#o.protocol.metrics?.() ?? {}
  }

  /** Publishes the protocol's counters every `metricsMs`, retained, so a late subscriber sees the last ones. */
  #scheduleMetrics(): void {
    const { metricsMs } = this.#tuning
    const { protocol } = this.#o
    if (metricsMs <= 0 || protocol.metrics === undefined || this.#stopped) return
    this.#metricsTimer = this.#o.clock.setTimeout(() => {
      const payload = { timestamp: this.#o.clock.now(), node: this.#o.nodeName, protocol: this.#o.protocol.name, devices: protocol.metrics?.() ?? {} }
      const topic = mapperMetricsTopic(this.#o.nodeName, this.#o.protocol.name)
      this.#o.bus.publish(topic, JSON.stringify(payload), { qos: QOS, retain: true }).catch((err: unknown) => this.#log.warn({ err, topic }, 'metrics not published'))
      this.#scheduleMetrics()
    }, metricsMs)
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    if (this.#retry !== undefined) this.#o.clock.clearTimeout(this.#retry)
    if (this.#metricsTimer !== undefined) this.#o.clock.clearTimeout(this.#metricsTimer)
    this.#answered?.()
    await this.#membership
    const supervisors = [...this.#supervisors.values()]
    this.#supervisors.clear()
    await Promise.all(supervisors.map((s) => s.stop(true)))
    await this.#flush(STOP_FLUSH_MS)
    try {
      await this.#o.protocol.close?.()
    } catch (err) {
      this.#log.error({ err }, 'protocol close failed')
    }
  }

  async #askMembership(): Promise<void> {
    if (this.#stopped || this.#gotMembership) return
    await this.#publish(nodeTopic(this.#o.nodeName, 'membership/get'), { event_id: this.#nextEventId(), timestamp: this.#o.clock.now() })
    // Ask until the twin answers (it may start after a separate mapper process).
    this.#retry = this.#o.clock.setTimeout(() => void this.#askMembership(), this.#tuning.membershipTimeoutMs)
  }

  /**
   * The bus's connection came back (a broker restart): membership/updated and deltas published
   * meanwhile were lost, so the device list is asked for again and taken whole, as at start, and
   * every device that keeps running asks for its twin again.
   */
  #resync(): void {
    if (this.#stopped) return
    this.#log.info({ node: this.#o.nodeName }, 'bus reconnected: asking for the membership again')
    if (this.#retry !== undefined) this.#o.clock.clearTimeout(this.#retry)
    this.#gotMembership = false
    this.#resyncing = true
    void this.#askMembership()
  }

  #receive(topic: string, payload: Buffer): void {
    if (this.#stopped) return
    const parsed = parseTopic(topic)
    if (parsed === undefined) return
    if (parsed.scope === 'node') {
      if (parsed.node !== this.#o.nodeName) return
      if (parsed.suffix === 'membership/get/result') this.#enqueue(parseMembershipGetResult(payload), topic)
      else if (parsed.suffix === 'membership/updated') this.#enqueue(parseMembershipUpdated(payload), topic)
      return
    }
    if (parsed.suffix === 'twin/update/delta') this.#delta(parsed.device, payload, topic)
    else if (parsed.suffix === 'twin/get/result') this.#twinGetResult(payload)
  }

  #enqueue(message: MembershipMessage, topic: string): void {
    if (message.kind === 'error') return
    if (message.kind === 'invalid') {
      this.#log.error({ code: 'MAPPER_BAD_MESSAGE', topic, problems: message.problems }, `membership message ignored:\n${formatProblems(message.problems)}`)
      return
    }
    if (message.kind === 'all') {
      // Only an answer to this mapper's own request is its device list (apps ask too, and every
      // answer goes to the same topic); of those only the first (asked again while the twin was
      // slow): membership/updated has told every change since, in order. Its event ids carry a
      // prefix of its own, so no request needs remembering while the twin stays away.
      if (this.#gotMembership || !message.eventId.startsWith(`${this.#eventPrefix}-`)) return
      this.#gotMembership = true
      if (this.#retry !== undefined) this.#o.clock.clearTimeout(this.#retry)
    }
    const resync = message.kind === 'all' && this.#resyncing
    if (resync) this.#resyncing = false
    this.#membership = this.#membership
      .then(() => this.#apply(message, resync))
      .catch((err: unknown) => this.#log.error({ err }, 'membership change failed'))
      .finally(() => {
        if (message.kind === 'all') this.#answered?.()
      })
  }

  async #apply(message: Extract<MembershipMessage, { kind: 'all' | 'change' }>, resync: boolean): Promise<void> {
    if (this.#stopped) return
    if (message.kind === 'all') {
      const listed = new Set(message.members.map((m) => m.key))
      for (const key of [...this.#supervisors.keys()]) if (!listed.has(key)) await this.#stopDevice(key, 'removed')
      for (const m of message.members) {
        const before = this.#supervisors.get(m.key)
        await this.#upsert(m)
        // kept running across the outage: its desired values may have changed meanwhile
        const after = this.#supervisors.get(m.key)
        if (resync && after !== undefined && after === before) this.#askTwin(m.key, after.device)
      }
      return
    }
    for (const r of message.removed) {
      const key = r.key ?? this.#keyByName(r.name)
      if (key !== undefined) await this.#stopDevice(key, 'removed')
    }
    for (const m of message.added) await this.#upsert(m)
  }

  /** Starts, restarts (changed spec) or stops (no longer ours, or invalid) the device's supervisor. */
  async #upsert(member: Member): Promise<void> {
    const { protocol } = this.#o
    if (member.protocolName !== protocol.name) return this.#stopDevice(member.key, 'protocol changed')
    if (!('device' in member)) {
      this.#log.error({ code: 'MAPPER_DEVICE_INVALID', device: member.key, problems: member.problems }, 'member device is not a valid EdgeDevice; skipped')
      return this.#stopDevice(member.key, 'invalid')
    }
    const { device } = member
    let problems
    try {
      problems = protocol.validate(device)
    } catch (err) {
      problems = [{ path: '/', message: `validate threw: ${err instanceof Error ? err.message : String(err)}` }]
    }
    if (problems.length > 0) {
      this.#log.error({ code: 'MAPPER_DEVICE_INVALID', device: member.key, problems }, `device skipped: its ${protocol.name} configuration is not valid:\n${formatProblems(problems)}`)
      return this.#stopDevice(member.key, 'invalid')
    }
    const running = this.#supervisors.get(member.key)
    // only a changed spec restarts a device (member devices are specs alone: membership.ts)
    if (running !== undefined && JSON.stringify(running.device) === JSON.stringify(device)) return
    if (running !== undefined) await this.#stopDevice(member.key, 'changed')
    if (this.#stopped) return
    const supervisor = this.#supervisor(member.key, device)
    this.#supervisors.set(member.key, supervisor)
    supervisor.start()
    this.#log.info({ device: member.key, properties: device.properties.length }, running === undefined ? 'device added' : 'device restarted with its new spec')
    this.#askTwin(member.key, device)
  }

  /** Asks for the device's twin; its answer hands the supervisor the desired values not yet reached. */
  #askTwin(key: string, device: EdgeDevice): void {
    const eventId = this.#nextEventId()
    this.#twinGets.set(eventId, key)
    // not awaited: 1,000 devices ask together rather than one round trip after another (stop() waits for it)
    void this.#publish(deviceTopic(this.#ref(device), 'twin/get'), { event_id: eventId, timestamp: this.#o.clock.now() })
  }

  #supervisor(key: string, device: EdgeDevice): DeviceSupervisor {
    const { protocol, clock, dataDir } = this.#o
    const log = this.#log.child({ device: key })
    const ref = this.#ref(device)
    return new DeviceSupervisor({
      device,
      protocol,
      context: { log, dataDir },
      clock,
      tuning: this.#tuning,
      log,
      reportValues: (values) => void this.#publish(deviceTopic(ref, 'twin/update'), twinReport(values, device.properties, clock.now())),
      reportState: (state) => void this.#publish(deviceTopic(ref, 'state/update'), stateReport(state, clock.now())),
    })
  }

  async #stopDevice(key: string, why: string): Promise<void> {
    const supervisor = this.#supervisors.get(key)
    if (supervisor === undefined) return
    this.#supervisors.delete(key)
    for (const [id, k] of this.#twinGets) if (k === key) this.#twinGets.delete(id)
    await supervisor.stop(why === 'protocol changed')
    this.#log.info({ device: key, why }, 'device stopped')
  }

  #delta(ref: DeviceRef, payload: Buffer, topic: string): void {
    const key = ref.layout === 'namespace/name' ? deviceKey(ref.namespace, ref.name) : this.#keyByName(ref.name)
    const supervisor = key === undefined ? undefined : this.#supervisors.get(key)
    if (supervisor === undefined) return
    let body: unknown
    try {
      body = JSON.parse(payload.toString('utf8'))
    } catch {
      body = undefined
    }
    const checked = validateDelta(body)
    if (!checked.ok) {
      this.#log.error({ code: 'MAPPER_BAD_MESSAGE', topic, problems: checked.problems }, 'delta ignored')
      return
    }
    supervisor.delta(checked.value.delta)
  }

  #twinGetResult(payload: Buffer): void {
    const result = pendingDesired(payload)
    if (result === undefined) return // an error result, or another client's answer
    const key = this.#twinGets.get(result.eventId)
    if (key === undefined) return
    this.#twinGets.delete(result.eventId)
    this.#supervisors.get(key)?.delta(result.delta)
  }

  #keyByName(name: string | undefined): string | undefined {
    const keys = [...this.#supervisors.entries()].filter(([, s]) => s.device.name === name).map(([k]) => k)
    return keys.length === 1 ? keys[0] : undefined
  }

  #ref(device: EdgeDevice): DeviceRef {
    return deviceRef(this.#o.layout, device.namespace, device.name)
  }

  #nextEventId(): string {
    return `${this.#eventPrefix}-${++this.#eventSeq}`
  }

  async #flush(ms: number): Promise<void> {
    if (this.#inflight.size === 0) return
    let timer: TimerHandle | undefined
    await Promise.race([
      Promise.allSettled([...this.#inflight]),
      new Promise<void>((resolve) => (timer = this.#o.clock.setTimeout(resolve, ms))),
    ])
    if (timer !== undefined) this.#o.clock.clearTimeout(timer)
  }

  /** Publishes without holding up a poll loop; `stop()` waits for what is in flight. */
  #publish(topic: string, payload: unknown): Promise<void> {
    const p = this.#o.bus.publish(topic, JSON.stringify(payload), { qos: QOS }).catch((err: unknown) => this.#log.warn({ err, topic }, 'publish failed'))
    this.#inflight.add(p)
    void p.finally(() => this.#inflight.delete(p))
    return p
  }
}
