/**
 * The edge end of downstream cloud sync (DESIGN.md §6): keeps the node's cloud objects (Devices
 * and DeviceModels) in the `meta` space of the node database and turns every change into the
 * node's membership.
 *
 * - `resync` (content NodeDeviceSet, sent on every connect) replaces the whole set;
 * - `update`/`insert`/`delete` of `<ns>/device/<name>` or `<ns>/devicemodel/<name>` change one
 *   object; an update older (integer resourceVersion) than the held copy is ignored, and acked;
 * - then the set is resolved (twin/device-set.ts `resolveDevices`) and handed to `onChange` (the
 *   DeviceTwin's `setMembers`); the message is acknowledged only after that resolved, so an ack
 *   means "written". Bad content is answered with CLOUD_MESSAGE_INVALID and changes nothing.
 *
 * Messages are applied one at a time, in arrival order, whichever session they came on
 * (downlink-receiver.ts). Messages for other parts (other resources) are left alone.
 */
import type { Logger } from 'pino'
import type { EdgeDevice } from '../../schemas/device.js'
import { Device as deviceCheck } from '../../schemas/generated/validators/Device.js'
import { DeviceModel as deviceModelCheck } from '../../schemas/generated/validators/DeviceModel.js'
import { validator, type Problem } from '../../schemas/validate.js'
import { resolveDevices, type Manifest, type TopicLayout } from '../../twin/device-set.js'
import type { LevelStore } from '../../twin/store.js'
import { Operations, parseObjectResource, RESYNC_RESOURCE, Sources, validateNodeDeviceSet, type Envelope } from '../messages.js'
import type { Session } from '../session.js'
import { contentProblems as prefixed, DownlinkReceiver, type Applied } from './downlink-receiver.js'
import { applyDelete, applyResync, applyUpdate, keyOfObject, type Change, type CloudObjects, type CloudObjectSpaces } from './cloud-objects.js'

const validateDevice = validator(deviceCheck)
const validateModel = validator(deviceModelCheck)

export interface EdgeSyncOptions {
  /** the node database's `meta` space */
  store: LevelStore<CloudObjectSpaces>
  nodeName: string
  layout: TopicLayout
  log: Logger
  /** called with the node's whole resolved device set after every change (the twin's `setMembers`) */
  onChange(devices: EdgeDevice[]): Promise<void>
  /** `route.source` of the answers (default `twin`) */
  source?: string
}

type Outcome = { ok: true; change: Change | undefined } | { ok: false; problems: Problem[] }

export class EdgeSync {
  readonly #o: EdgeSyncOptions & { source: string }
  readonly #log: Logger
  #objects: CloudObjects = new Map()
  /** whether `onChange` has taken the current set (false after it failed: the next message retries) */
  #applied = true
  readonly #receiver: DownlinkReceiver

  constructor(options: EdgeSyncOptions) {
    this.#o = { source: Sources.edge, ...options }
    this.#log = options.log.child({ part: 'cloud-sync' })
    this.#receiver = new DownlinkReceiver({ log: this.#log, source: this.#o.source, claims: isMine, apply: (message) => this.#handle(message) })
  }

  /**
   * Loads the objects stored by earlier runs and returns their resolved devices, or undefined if
   * nothing is stored (the node has never been synced: its membership stays as it is).
   */
  async start(): Promise<EdgeDevice[] | undefined> {
    const objects = new Map<string, Manifest>()
    for (const { key, value } of await this.#o.store.loadAll('meta')) {
      const stored = value as { kind?: unknown; doc?: unknown } | null
      const kind = stored?.kind === 'Device' ? 'device' : stored?.kind === 'DeviceModel' ? 'devicemodel' : undefined
      const checked = kind === undefined ? { ok: false as const, problems: [{ path: '/kind', message: 'not Device or DeviceModel' }] } : toObject(kind, stored?.doc)
      if (!checked.ok || keyOfObject(checked.value) !== key) {
        this.#log.error({ code: 'CLOUD_OBJECT_INVALID', key, problems: checked.ok ? undefined : checked.problems }, 'stored cloud object is corrupt; skipped')
        continue
      }
      objects.set(key, checked.value)
    }
    this.#objects = objects
    this.#log.info({ objects: objects.size }, 'cloud objects loaded')
    return objects.size === 0 ? undefined : this.#resolve()
  }

  /** Applies the downstream messages of `session` from now on. */
  attach(session: Session): void {
    this.#receiver.attach(session)
  }

  /** The held cloud objects, by edge resource (for tests and the CLI). */
  get objects(): CloudObjects {
    return this.#objects
  }

  /** Waits for the message being applied; later messages are dropped unanswered (the cloud re-sends). */
  async stop(): Promise<void> {
    await this.#receiver.stop()
  }

  async #handle(message: Envelope): Promise<Applied> {
    const outcome = this.#apply(message)
    if (!outcome.ok) return { ok: false, code: 'CLOUD_MESSAGE_INVALID', problems: outcome.problems }
    const change = outcome.change
    const always = message.route.operation === Operations.resync // the cloud re-asserts desired values on every resync
    if (change !== undefined) {
      await this.#o.store.write(change.ops)
      this.#objects = change.next
    }
    if (always || (change !== undefined && change.ops.length > 0) || !this.#applied) {
      this.#applied = false
      await this.#o.onChange(this.#resolve())
      this.#applied = true
    }
    return { ok: true }
  }

  /** The change a message asks for (undefined: an outdated update, nothing to do), or why it is refused. */
  #apply(message: Envelope): Outcome {
    const { operation, resource } = message.route
    if (operation === Operations.resync) {
      const checked = validateNodeDeviceSet(message.content)
      return checked.ok ? { ok: true, change: applyResync(this.#objects, checked.value) } : { ok: false, problems: prefixed(checked.problems) }
    }
    const target = parseObjectResource(resource)
    if (target === undefined) return { ok: false, problems: [{ path: '/route/resource', message: `not <ns>/device/<name> or <ns>/devicemodel/<name>` }] }
    if (operation === Operations.delete) return { ok: true, change: applyDelete(this.#objects, resource) }
    const object = toObject(target.kind, message.content)
    if (!object.ok) return object
    if (keyOfObject(object.value) !== resource) return { ok: false, problems: [{ path: '/content/metadata', message: `names ${keyOfObject(object.value)}, not ${resource}` }] }
    const change = applyUpdate(this.#objects, object.value, message.header.resourceversion)
    if (change === undefined) this.#log.debug({ resource, resourceVersion: object.value.doc.metadata.resourceVersion }, 'outdated update ignored')
    return { ok: true, change }
  }

  #resolve(): EdgeDevice[] {
    const { devices, problems } = resolveDevices([...this.#objects.values()], { nodeName: this.#o.nodeName, layout: this.#o.layout })
    for (const p of problems) this.#log.error({ code: 'CLOUD_OBJECT_INVALID', device: p.source, path: p.path }, `device left out: ${p.message}`)
    return devices
  }
}

function isMine(message: Envelope): boolean {
  const { operation, resource } = message.route
  if (operation === Operations.resync) return resource === RESYNC_RESOURCE
  if (operation !== Operations.update && operation !== Operations.delete && operation !== 'insert') return false
  return parseObjectResource(resource) !== undefined
}

function toObject(kind: 'device' | 'devicemodel', content: unknown): { ok: true; value: Manifest } | { ok: false; problems: Problem[] } {
  if (kind === 'device') {
    const checked = validateDevice(content)
    return checked.ok ? { ok: true, value: { kind: 'Device', doc: checked.value } } : { ok: false, problems: prefixed(checked.problems) }
  }
  const checked = validateModel(content)
  return checked.ok ? { ok: true, value: { kind: 'DeviceModel', doc: checked.value } } : { ok: false, problems: prefixed(checked.problems) }
}
