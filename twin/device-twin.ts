/**
 * DeviceTwin: serves KubeEdge's `$hw/events/...` topics over the bus, keeps every member device's
 * twins in memory and durable in the store. One device's requests run in order (KeyedQueues);
 * devices run concurrently. Each request: pure merge (twin/merge.ts) → one store write → outputs
 * published in KubeEdge's order (result, document, delta). Nothing here throws at a client: every
 * bad request is answered with a 4xx on the device's own result topic.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Bus } from '../broker/bus.js'
import { StoredDevice as storedDeviceCheck } from '../schemas/generated/validators/StoredDevice.js'
import { TwinRecord as twinRecordCheck } from '../schemas/generated/validators/TwinRecord.js'
import { validator } from '../schemas/validate.js'
import { TWIN_LIMIT_DEFAULTS } from '../schemas/twin-limits.js'
import type { EdgeDevice } from '../schemas/device.js'
import { deviceIdOf, deviceRef, deviceTopic, deviceTopicFilters, nodeTopic, nodeTopicFilter, parseTopic, type DeviceRef, type DeviceTopicLayout } from '../schemas/topics.js'
import type { MemberDevice } from '../schemas/twin.js'
import { desiredSync } from './desired.js'
import { answerTwinGet } from './get.js'
import { memberDevice, memberDeviceWithTwins, membershipGetResult, membershipUpdated } from './membership.js'
import { applyTwinUpdate, type TwinUpdateApplied } from './merge.js'
import { errorResult, summaryReason } from './outputs.js'
import { RequestIntake } from './intake.js'
import { KeyedQueues } from './queues.js'
import { admitRequest, decodeRequest, eventIdOf, parseGetRequest, type DecodedRequest, type RequestBytes } from './request.js'
import { applyStateUpdate } from './state.js'
import type { LevelStore } from './store.js'
import { deviceOp, splitTwinStoreKey, twinOps, twinStoreKey, type DeviceRecord, type TwinSpaces, type TwinStoreOp } from './stored-device.js'
import type { DeviceModelProperties, TwinRecord } from './types.js'

export interface DeviceTwinOptions {
  bus: Bus
  store: LevelStore<TwinSpaces>
  nodeName: string
  /** topic layout of the topics the edge originates (requests are answered in their own layout) */
  layout: DeviceTopicLayout
  log: Logger
  now?: () => number
  newEventId?: () => string
  /** told of every persisted change of a member's twins or state (the cloud outbox); optional */
  changes?: TwinChanges
  /** what one request may be and add (config `twin.maxRequestBytes`, `twin.maxKeysPerDevice`) */
  limits?: TwinLimits
  /** told of every request answered (metrics); optional */
  observer?: TwinObserver
}

/** The request topics the twin answers. */
export type TwinRequestTopic = 'twin/update' | 'twin/get' | 'state/update' | 'membership/get'

export interface TwinObserver {
  /** `topic`'s request, received at `startedMs` (performance.now()), was answered with `code` (200, 400, 404, 500) */
  answered(topic: TwinRequestTopic, code: number, startedMs: number): void
}

export interface TwinLimits {
  /** larger payloads are answered with a 400 without being parsed */
  readonly maxRequestBytes: number
  /** most twins per device, tombstones included, that local updates may create */
  readonly maxKeysPerDevice: number
}

/**
 * A hook whose store operations join the batch of every change of a member device, so what it
 * records (e.g. "report this to the cloud") is exactly as durable as the change itself. Called
 * inside the device's request order; a change it is told of may still fail to be written.
 */
export interface TwinChanges {
  /** `twins`: keys whose record changed (or the cloud must hear again); `state`: the status changed */
  changed(deviceKey: string, change: { twins: readonly string[]; state: boolean }): TwinStoreOp[]
  /** the device is being removed from the node */
  removed(deviceKey: string): TwinStoreOp[]
}

const QOS = 1 // as KubeEdge publishes to an external broker (kubeedge-compat.md §1.1)
/** other nodes' names whose `membership/get` was logged once; past this many, no more are logged */
const OTHER_NODES_LOGGED = 100
/** requests processed at once; more wait as received (twin/intake.ts) */
const REQUESTS_IN_PROCESS = 256
const validateStored = validator(storedDeviceCheck)
const validateTwin = validator(twinRecordCheck)

export class DeviceTwin {
  readonly #o: Required<Omit<DeviceTwinOptions, 'changes' | 'observer'>> & Pick<DeviceTwinOptions, 'changes' | 'observer'>
  readonly #log: Logger
  /** by `<namespace>/<name>` */
  readonly #devices = new Map<string, DeviceRecord>()
  /** name → keys, for requests in the flat `<name>` layout */
  readonly #byName = new Map<string, Set<string>>()
  readonly #queues: KeyedQueues
  readonly #intake = new RequestIntake(REQUESTS_IN_PROCESS, (topic, payload, receivedMs) => this.#receive(topic, payload, receivedMs))
  readonly #otherNodes = new Set<string>()

  constructor(options: DeviceTwinOptions) {
    this.#o = { now: Date.now, newEventId: randomUUID, limits: TWIN_LIMIT_DEFAULTS, ...options }
    this.#log = options.log.child({ part: 'twin' })
    this.#queues = new KeyedQueues((key, err) => this.#log.error({ err, device: key }, 'request processing failed'))
  }

  async start(): Promise<void> {
    await this.#load()
    const handler = (topic: string, payload: Buffer): void => this.#intake.receive(topic, payload)
    const filters = [
      ...deviceTopicFilters('twin/update'),
      ...deviceTopicFilters('twin/get'),
      ...deviceTopicFilters('state/update'),
      nodeTopicFilter('membership/get'),
    ]
    for (const filter of filters) await this.#o.bus.subscribe(filter, handler, { qos: 1 })
    this.#log.info({ devices: this.#devices.size }, 'device twin ready')
  }

  async stop(): Promise<void> {
    await this.#intake.idle()
    await this.#queues.drain()
  }

  /** Loads every stored device and its twins; corrupt records are logged and skipped. */
  async #load(): Promise<void> {
    const twins = new Map<string, Record<string, TwinRecord>>()
    for (const { key, value } of await this.#o.store.loadAll('twin')) {
      const split = splitTwinStoreKey(key)
      const checked = validateTwin(value)
      if (split === undefined || !checked.ok) {
        this.#log.error({ code: 'TWIN_STORE_FAILED', key }, 'stored twin record is corrupt; skipped')
        continue
      }
      const [deviceKey, twinKey] = split
      const map = twins.get(deviceKey) ?? {}
      map[twinKey] = checked.value
      twins.set(deviceKey, map)
    }
    for (const { key, value } of await this.#o.store.loadAll('device')) {
      const checked = validateStored(value)
      if (checked.ok) this.#remember({ ...checked.value, twins: twins.get(key) ?? {} })
      else this.#log.error({ code: 'TWIN_STORE_FAILED', device: key, problems: checked.problems }, 'stored device record is corrupt; skipped')
    }
  }

  /** Current member devices (for tests and the CLI). */
  get devices(): ReadonlyMap<string, DeviceRecord> {
    return this.#devices
  }

  /**
   * Makes `devices` the node's whole membership: adds new devices, updates changed ones, removes the
   * rest; each change is persisted, then announced on `membership/updated`; desired values of the
   * spec become the twins' expected values.
   */
  async setMembers(devices: readonly EdgeDevice[]): Promise<void> {
    const wanted = new Map(devices.map((d) => [keyOf(d.namespace, d.name), d]))
    const work: Array<Promise<void>> = []
    for (const key of this.#devices.keys()) {
      if (!wanted.has(key)) work.push(this.#queues.run(key, () => this.#removeMember(key)))
    }
    for (const [key, device] of wanted) work.push(this.#queues.run(key, () => this.#upsertMember(key, device)))
    await Promise.all(work)
  }

  /**
   * Runs `read` on a member's record (undefined if not a member) after every request queued for it
   * so far: a view consistent with the changes the `changes` hook was told of.
   */
  async readDevice<T>(key: string, read: (record: DeviceRecord | undefined) => T): Promise<T> {
    const out: { value?: T } = {}
    await this.#queues.run(key, () => {
      out.value = read(this.#devices.get(key))
      return Promise.resolve()
    })
    return out.value as T
  }

  /** Starts answering a request; undefined for a topic the twin does not answer. */
  #receive(topic: string, payload: Buffer, receivedMs: number): Promise<void> | undefined {
    const parsed = parseTopic(topic)
    if (parsed === undefined) return
    if (parsed.scope === 'node') {
      if (parsed.suffix !== 'membership/get') return
      if (parsed.node !== this.#o.nodeName) {
        this.#otherNode(parsed.node)
        return
      }
      const bytes = admitRequest(payload, this.#o.limits.maxRequestBytes)
      return this.#run('$membership', 'membership/get', receivedMs, () => this.#membershipGet(bytes))
    }
    const key = this.#resolve(parsed.device)
    const queueKey = key ?? `?${topic}`
    const bytes = admitRequest(payload, this.#o.limits.maxRequestBytes)
    switch (parsed.suffix) {
      case 'twin/update':
        return this.#run(queueKey, 'twin/update', receivedMs, () => this.#twinUpdate(parsed.device, key, bytes))
      case 'twin/get':
        return this.#run(queueKey, 'twin/get', receivedMs, () => this.#twinGet(parsed.device, key, bytes))
      case 'state/update':
        return this.#run(queueKey, 'state/update', receivedMs, () => this.#stateUpdate(parsed.device, key, bytes))
      default:
        return // our own outputs, echoed back by the subscription
    }
  }

  /** Queues a request; with an observer, tells it the answer's code and when the request came in. */
  #run(queueKey: string, topic: TwinRequestTopic, receivedMs: number, answer: () => Promise<number>): Promise<void> {
    const observer = this.#o.observer
    if (observer === undefined) return this.#queues.run(queueKey, answer)
    return this.#queues.run(queueKey, () => answer().then((code) => observer.answered(topic, code, receivedMs)))
  }

  /**
   * KubeEdge answers a `membership/get` under any node name, on its own node's topic, where the asker
   * does not listen; tern leaves it to the named node (several nodes may share an external broker)
   * and says so once per name, which finds a mapper configured with the wrong node name.
   */
  #otherNode(node: string): void {
    if (this.#otherNodes.has(node) || this.#otherNodes.size >= OTHER_NODES_LOGGED) return
    this.#otherNodes.add(node)
    this.#log.warn({ node, thisNode: this.#o.nodeName }, 'membership/get for another node: not answered')
  }

  async #twinUpdate(ref: DeviceRef, key: string | undefined, bytes: RequestBytes): Promise<number> {
    const now = this.#o.now()
    const reply = deviceTopic(ref, 'twin/update/result')
    // Parsed before the device is looked up: malformed JSON is a 400 for any device, as in KubeEdge.
    const body = decodeRequest(bytes)
    if (!body.ok) return this.#badRequest(reply, body, now)
    const device = key === undefined ? undefined : this.#devices.get(key)
    if (device === undefined) return this.#notFound(reply, body.value, now, 'update rejected due to the device is not existed')
    const out = applyTwinUpdate({
      twins: device.twins,
      request: body.value,
      deal: 'local',
      now,
      newEventId: this.#o.newEventId,
      model: modelOf(device.spec),
      maxKeys: this.#o.limits.maxKeysPerDevice,
    })
    if (!out.ok) return this.#answer(reply, out.result)
    const deviceKey = keyOf(device.spec.namespace, device.spec.name)
    const ops = [...twinOps(deviceKey, out.twins, out.changed), ...(this.#o.changes?.changed(deviceKey, { twins: out.changed, state: false }) ?? [])]
    if (out.changed.length > 0 && !(await this.#persist({ ...device, twins: out.twins }, ops, reply, out.result?.event_id ?? ''))) return 500
    await this.#publish(reply, out.result)
    await this.#publishOutputs(device, out)
    return 200
  }

  async #twinGet(ref: DeviceRef, key: string | undefined, bytes: RequestBytes): Promise<number> {
    const now = this.#o.now()
    const reply = deviceTopic(ref, 'twin/get/result')
    const body = decodeRequest(bytes)
    if (!body.ok) return this.#badRequest(reply, body, now)
    const device = key === undefined ? undefined : this.#devices.get(key)
    if (device === undefined) return this.#notFound(reply, body.value, now, `Device ${deviceIdOf(ref)} not found while getting twin`)
    const out = answerTwinGet({ twins: device.twins, request: body.value, now })
    return this.#answer(reply, out.result)
  }

  async #stateUpdate(ref: DeviceRef, key: string | undefined, bytes: RequestBytes): Promise<number> {
    const now = this.#o.now()
    const reply = deviceTopic(ref, 'state/update/result')
    const body = decodeRequest(bytes)
    if (!body.ok) return this.#badRequest(reply, body, now)
    const device = key === undefined ? undefined : this.#devices.get(key)
    // KubeEdge ignores a state update for an unknown device; tern answers 404, as for the twin topics,
    // so a mapper with a wrong device id is seen (README: deliberate differences).
    if (device === undefined) return this.#notFound(reply, body.value, now, `Device ${deviceIdOf(ref)} not found while updating state`)
    const out = applyStateUpdate({
      name: device.spec.name,
      previous: { state: device.state, ...(device.lastOnline === undefined ? {} : { lastOnline: device.lastOnline }) },
      request: body.value,
      now,
      newEventId: this.#o.newEventId,
    })
    if (!out.ok) return this.#answer(reply, out.result)
    if (out.changed) {
      const next: DeviceRecord = { ...device, state: out.status.state, ...(out.status.lastOnline === undefined ? {} : { lastOnline: out.status.lastOnline }) }
      const deviceKey = keyOf(next.spec.namespace, next.spec.name)
      const ops = [deviceOp(deviceKey, next), ...(this.#o.changes?.changed(deviceKey, { twins: [], state: true }) ?? [])]
      if (!(await this.#persist(next, ops, reply, out.result.event_id))) return 500
    }
    return this.#answer(reply, out.result)
  }

  async #membershipGet(bytes: RequestBytes): Promise<number> {
    const now = this.#o.now()
    const reply = nodeTopic(this.#o.nodeName, 'membership/get/result')
    const body = decodeRequest(bytes)
    if (!body.ok) return this.#badRequest(reply, body, now)
    const request = parseGetRequest(body.value)
    if (!request.ok) {
      const reason = summaryReason('membership get rejected', request.problems)
      return this.#answer(reply, errorResult({ eventId: request.eventId, now, code: 400, errorCode: 'TWIN_BAD_REQUEST', reason, problems: request.problems }))
    }
    const result = membershipGetResult({ eventId: request.value.eventId, now }, [])
    result.devices = [...this.#devices.values()].map((d) => withSpec(memberDevice(memberInfo(d)), d.spec))
    return this.#answer(reply, result)
  }

  async #upsertMember(key: string, spec: EdgeDevice): Promise<void> {
    const now = this.#o.now()
    const existing = this.#devices.get(key)
    const base: DeviceRecord = existing === undefined ? { spec, state: 'unknown', twins: {} } : { ...existing, spec }
    const sync = desiredSync(spec.properties, base.twins, now)
    const out = sync === undefined ? undefined : applyTwinUpdate({ twins: base.twins, request: sync, deal: 'cloud-sync', now, newEventId: this.#o.newEventId, model: modelOf(spec) })
    if (out !== undefined && !out.ok) this.#log.error({ device: key, problems: out.problems }, 'desired values of the device spec were refused')
    const next: DeviceRecord = out?.ok === true ? { ...base, twins: out.twins } : base
    for (const problem of out?.ok === true ? out.skipped : []) this.#log.warn({ device: key, problem }, 'desired value not applied')
    const specChanged = existing === undefined || JSON.stringify(existing.spec) !== JSON.stringify(spec)
    const changedTwins = out?.ok === true ? out.changed : []
    // Changed twins and those a sync found the edge ahead on: the cloud hears the edge's values.
    const toCloud = [...new Set([...changedTwins, ...Object.keys(out?.ok === true ? (out.cloudSync?.twin ?? {}) : {})])]
    if (!specChanged && toCloud.length === 0) return
    const marks = toCloud.length === 0 ? [] : (this.#o.changes?.changed(key, { twins: toCloud, state: false }) ?? [])
    await this.#o.store.write([...(specChanged ? [deviceOp(key, next)] : []), ...twinOps(key, next.twins, changedTwins), ...marks])
    this.#remember(next)
    if (specChanged) {
      // A changed device is announced again in added_devices: consumers treat it as a replacement.
      const added = [withSpec(memberDeviceWithTwins(memberInfo(next), next.twins), spec)]
      await this.#publish(nodeTopic(this.#o.nodeName, 'membership/updated'), membershipUpdated({ eventId: this.#o.newEventId(), now }, { added }))
      this.#log.info({ device: key, change: existing === undefined ? 'added' : 'updated' }, 'membership changed')
    }
    if (out?.ok === true) await this.#publishOutputs(next, out)
  }

  async #removeMember(key: string): Promise<void> {
    const device = this.#devices.get(key)
    if (device === undefined) return
    const twinKeys = Object.keys(device.twins).map((t): TwinStoreOp => ({ space: 'twin', type: 'del', key: twinStoreKey(key, t) }))
    await this.#o.store.write([{ space: 'device', type: 'del', key }, ...twinKeys, ...(this.#o.changes?.removed(key) ?? [])])
    this.#forget(key, device)
    const removed = [memberDevice(memberInfo(device))]
    await this.#publish(nodeTopic(this.#o.nodeName, 'membership/updated'), membershipUpdated({ eventId: this.#o.newEventId(), now: this.#o.now() }, { removed }))
    this.#log.info({ device: key, change: 'removed' }, 'membership changed')
  }

  /** Writes `ops`, then keeps `next`; on failure answers 500 on `reply` and leaves memory unchanged. */
  async #persist(next: DeviceRecord, ops: readonly TwinStoreOp[], reply: string, eventId: string): Promise<boolean> {
    const key = keyOf(next.spec.namespace, next.spec.name)
    try {
      await this.#o.store.write(ops)
    } catch (err) {
      this.#log.error({ err, code: 'TWIN_STORE_FAILED', device: key }, 'twin store write failed')
      await this.#publish(reply, errorResult({ eventId, now: this.#o.now(), code: 500, errorCode: 'TWIN_STORE_FAILED', reason: `the twin store could not write the change: ${(err as Error).message}` }))
      return false
    }
    this.#remember(next)
    return true
  }

  /**
   * Document and delta, each built and published only if someone can receive it (nobody reads
   * most devices' documents); `outputs` builds them when read (twin/merge.ts).
   */
  async #publishOutputs(device: DeviceRecord, outputs: Pick<TwinUpdateApplied, 'document' | 'delta'>): Promise<void> {
    const ref = deviceRef(this.#o.layout, device.spec.namespace, device.spec.name)
    const documentTopic = deviceTopic(ref, 'twin/update/document')
    const document = (await this.#observed(documentTopic)) ? outputs.document : undefined
    if (document !== undefined) await this.#publish(documentTopic, document)
    // A delta exists only while an expected value differs from its actual one, and a mapper usually listens.
    const delta = outputs.delta
    const deltaTopic = deviceTopic(ref, 'twin/update/delta')
    if (delta !== undefined && (await this.#observed(deltaTopic))) await this.#publish(deltaTopic, delta)
  }

  #observed(topic: string): Promise<boolean> | true {
    return this.#o.bus.observed?.(topic) ?? true
  }

  /**
   * Malformed JSON, an empty or an oversized payload is answered with a 400 on the device's own
   * result topic (DESIGN §4.4); no event_id can be read from it.
   */
  async #badRequest(reply: string, body: Extract<DecodedRequest, { ok: false }>, now: number): Promise<number> {
    const { errorCode, reason } = body
    return this.#answer(reply, errorResult({ eventId: '', now, code: 400, errorCode, reason, problems: [{ path: '/', errorCode, reason }] }))
  }

  async #notFound(reply: string, body: unknown, now: number, reason: string): Promise<number> {
    return this.#answer(reply, errorResult({ eventId: eventIdOf(body), now, code: 404, errorCode: 'TWIN_DEVICE_NOT_FOUND', reason }))
  }

  /** Publishes a request's result; its code: an error result's own, else 200. */
  async #answer(reply: string, result: object): Promise<number> {
    await this.#publish(reply, result)
    return 'code' in result && typeof result.code === 'number' ? result.code : 200
  }

  async #publish(topic: string, payload: unknown): Promise<void> {
    try {
      await this.#o.bus.publish(topic, JSON.stringify(payload), { qos: QOS })
    } catch (err) {
      this.#log.warn({ err, topic }, 'publish failed')
    }
  }

  /** `<namespace>/<name>` of a request's device: exact in the namespaced layout, by unique name in the flat one. */
  #resolve(ref: DeviceRef): string | undefined {
    if (ref.layout === 'namespace/name') return keyOf(ref.namespace, ref.name)
    const keys = this.#byName.get(ref.name)
    return keys?.size === 1 ? [...keys][0] : undefined
  }

  #remember(record: DeviceRecord): void {
    const key = keyOf(record.spec.namespace, record.spec.name)
    this.#devices.set(key, record)
    const keys = this.#byName.get(record.spec.name) ?? new Set()
    keys.add(key)
    this.#byName.set(record.spec.name, keys)
  }

  #forget(key: string, record: DeviceRecord): void {
    this.#devices.delete(key)
    const keys = this.#byName.get(record.spec.name)
    keys?.delete(key)
    if (keys?.size === 0) this.#byName.delete(record.spec.name)
  }
}

export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`
}

/** Each spec's model properties, made once per spec (a record keeps its spec object until the spec changes). */
const models = new WeakMap<EdgeDevice, DeviceModelProperties>()

function modelOf(spec: EdgeDevice): DeviceModelProperties {
  let model = models.get(spec)
  if (model === undefined) {
    model = modelProperties(spec)
    models.set(spec, model)
  }
  return model
}

function modelProperties(spec: EdgeDevice): DeviceModelProperties {
  return Object.fromEntries(spec.properties.map((p) => [p.name, { type: p.type, accessMode: p.accessMode, ...(p.minimum === undefined ? {} : { minimum: p.minimum }), ...(p.maximum === undefined ? {} : { maximum: p.maximum }) }]))
}

function memberInfo(record: DeviceRecord): Parameters<typeof memberDevice>[0] {
  const { spec } = record
  return {
    id: keyOf(spec.namespace, spec.name),
    name: spec.name,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    state: record.state,
    ...(record.lastOnline === undefined ? {} : { lastOnline: record.lastOnline }),
  }
}

/** KubeEdge's member fields plus what a mapper needs: protocol, model and resolved properties. */
function withSpec(member: MemberDevice, spec: EdgeDevice): MemberDevice {
  return { ...member, namespace: spec.namespace, model: spec.model, protocol: spec.protocol, properties: spec.properties } as MemberDevice
}
