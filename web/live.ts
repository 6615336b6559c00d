/**
 * What the web view hears from the bus, in-process: which devices changed (the twin's results,
 * deltas and membership announcements, which the twin publishes anyway, so listening costs the
 * twin nothing extra), the mappers' counters and the cloud link's state. Changed devices are
 * collected and handed on together every `flushMs`, after their numeric actual values are
 * recorded in the history; the twin's own memory is then read for the values, so what the page
 * shows is what the twin stored, never an unchecked request.
 */
import type { Logger } from 'pino'
import type { Bus, MessageHandler } from '../broker/bus.js'
import { CloudLinkMessage as cloudLinkCheck } from '../schemas/generated/validators/CloudLinkMessage.js'
import { MapperMetricsMessage as mapperMetricsCheck } from '../schemas/generated/validators/MapperMetricsMessage.js'
import { cloudLinkStatusTopic, deviceIdOf, deviceTopicFilters, mapperMetricsFilter, nodeTopic, parseTopic } from '../schemas/topics.js'
import { validator } from '../schemas/validate.js'
import type { CloudLinkMessage, MapperMetricsMessage } from '../schemas/web.js'
import type { DeviceRecord } from '../twin/stored-device.js'
import { isNumericType } from './device-view.js'
import type { History } from './history.js'

/** What the live feed reads of the twin: its member devices by `<namespace>/<name>`. */
export interface TwinView {
  readonly devices: ReadonlyMap<string, DeviceRecord>
}

export interface LiveListener {
  /** devices whose record changed; `membership`: devices may also have joined or left the node */
  devices(keys: ReadonlySet<string>, membership: boolean): void
  mappers(protocol: string, metrics: MapperMetricsMessage): void
  cloud(status: CloudLinkMessage): void
  /** a result on a device's `twin/update/result`: the answer to a write may be among them */
  result?(topic: string, payload: Buffer): void
}

export interface LiveFeedOptions {
  bus: Bus
  twin: TwinView
  nodeName: string
  history: History
  listener: LiveListener
  log: Logger
  now?: () => number
  flushMs?: number
}

const validateMetrics = validator(mapperMetricsCheck)
const validateCloud = validator(cloudLinkCheck)

export function seriesKey(device: string, property: string): string {
  return `${device}\u0000${property}`
}

export class LiveFeed {
  readonly #o: Required<LiveFeedOptions>
  /** device ids as topics name them, changed since the last flush */
  readonly #dirty = new Set<string>()
  /** topic id (`<name>` or `<namespace>/<name>`) → twin keys; rebuilt when membership changes */
  #index: Map<string, string[]> | undefined
  #timer: NodeJS.Timeout | undefined
  #membershipChanged = false

  constructor(options: LiveFeedOptions) {
    this.#o = { now: Date.now, flushMs: 250, ...options }
  }

  async start(): Promise<void> {
    const { bus, nodeName } = this.#o
    const changed: MessageHandler = (topic, payload) => this.#changed(topic, payload)
    for (const suffix of ['twin/update/result', 'twin/update/delta', 'state/update/result'] as const) {
      for (const filter of deviceTopicFilters(suffix)) await bus.subscribe(filter, changed, { qos: 0 })
    }
    await bus.subscribe(nodeTopic(nodeName, 'membership/updated'), () => {
      this.#membershipChanged = true
      this.#schedule()
    })
    await bus.subscribe(mapperMetricsFilter(nodeName), (topic, payload) => this.#metrics(topic, payload), { qos: 0 })
    await bus.subscribe(cloudLinkStatusTopic(nodeName), (topic, payload) => this.#cloud(topic, payload), { qos: 0 })
    const now = this.#o.now()
    for (const [key, record] of this.#o.twin.devices) this.#record(key, record, now)
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #changed(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic)
    if (parsed?.scope !== 'device') return
    if (parsed.suffix === 'twin/update/result') this.#o.listener.result?.(topic, payload)
    this.#dirty.add(deviceIdOf(parsed.device))
    this.#schedule()
  }

  #schedule(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => this.#flush(), this.#o.flushMs)
    this.#timer.unref()
  }

  #flush(): void {
    this.#timer = undefined
    const devices = this.#o.twin.devices
    const keys = new Set<string>()
    const membership = this.#membershipChanged
    if (membership) {
      this.#membershipChanged = false
      this.#index = undefined
      for (const key of devices.keys()) keys.add(key)
    }
    const index = this.#indexOf(devices)
    for (const id of this.#dirty) for (const key of index.get(id) ?? []) keys.add(key)
    this.#dirty.clear()
    const now = this.#o.now()
    for (const key of keys) {
      const record = devices.get(key)
      if (record !== undefined) this.#record(key, record, now)
    }
    if (keys.size > 0 || membership) this.#o.listener.devices(keys, membership)
  }

  #indexOf(devices: ReadonlyMap<string, DeviceRecord>): Map<string, string[]> {
    if (this.#index !== undefined && this.#index.size > 0) return this.#index
    const index = new Map<string, string[]>()
    for (const [key, record] of devices) {
      // requests may use either layout: both ids lead to the device
      for (const id of new Set([record.spec.id, key, record.spec.name])) index.set(id, [...(index.get(id) ?? []), key])
    }
    this.#index = index
    return index
  }

  #record(key: string, record: DeviceRecord, now: number): void {
    for (const property of record.spec.properties) {
      if (!isNumericType(property.type)) continue
      const twin = Object.hasOwn(record.twins, property.name) ? record.twins[property.name] : undefined
      const value = twin?.deleted === false ? Number(twin.actual?.value ?? Number.NaN) : Number.NaN
      if (Number.isFinite(value)) this.#o.history.record(seriesKey(key, property.name), now, value)
    }
  }

  #metrics(topic: string, payload: Buffer): void {
    const checked = validateMetrics(parseJson(payload))
    if (!checked.ok) return this.#o.log.warn({ topic, problems: checked.problems }, 'mapper metrics message not understood; not shown')
    this.#o.listener.mappers(checked.value.protocol, checked.value)
  }

  #cloud(topic: string, payload: Buffer): void {
    const checked = validateCloud(parseJson(payload))
    if (!checked.ok) return this.#o.log.warn({ topic, problems: checked.problems }, 'cloud link status not understood; not shown')
    this.#o.listener.cloud(checked.value)
  }
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined
  }
}
