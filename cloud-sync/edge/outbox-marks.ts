/**
 * The durable half of the edge outbox (DESIGN.md §4.5): one mark per (device, property) and per
 * (device, state) whose change the cloud has not acknowledged yet. A mark carries no content — it
 * says "send the current value" — so any number of changes while offline coalesce into one report.
 * Marks are written by the DeviceTwin in the same batch as the change (the {@link TwinChanges}
 * hook), so a crash can never keep a change and lose its mark.
 *
 * In memory each mark has a sequence number that grows with every change; a report remembers the
 * numbers it was built from, and its acknowledgement clears only the marks still carrying them (a
 * change while the report was in flight keeps its mark and is sent again).
 */
import type { Logger } from 'pino'
import type { TwinChanges } from '../../twin/device-twin.js'
import type { LevelStore } from '../../twin/store.js'
import type { TwinSpaces, TwinStoreOp } from '../../twin/stored-device.js'

const SEPARATOR = '\u0000'
const STATE = 'state'
const TWIN = 'twin:'

/** The marks of one device as a report was built from them. */
export interface MarkSnapshot {
  /** property → sequence number */
  readonly twins: ReadonlyMap<string, number>
  /** sequence number of the state mark, if the state is dirty */
  readonly state: number | undefined
}

interface DeviceMarks {
  twins: Map<string, number>
  state: number | undefined
}

export interface OutboxMarksOptions {
  /** the twin's store, opened with the `outbox` space */
  store: LevelStore<TwinSpaces>
  log: Logger
  now?: () => number
}

export class OutboxMarks implements TwinChanges {
  readonly #store: LevelStore<TwinSpaces>
  readonly #log: Logger
  readonly #now: () => number
  readonly #marks = new Map<string, DeviceMarks>()
  readonly #listeners: Array<(deviceKey: string) => void> = []
  #seq = 0

  constructor(options: OutboxMarksOptions) {
    this.#store = options.store
    this.#log = options.log.child({ part: 'outbox' })
    this.#now = options.now ?? Date.now
  }

  /** Loads the marks left by earlier runs; call before the twin starts taking requests. */
  async start(): Promise<void> {
    for (const { key } of await this.#store.loadAll('outbox')) {
      const parsed = parseMarkKey(key)
      if (parsed === undefined) {
        this.#log.error({ key }, 'stored outbox mark is corrupt; skipped')
        continue
      }
      const marks = this.#device(parsed.device)
      if (parsed.twin === undefined) marks.state = ++this.#seq
      else marks.twins.set(parsed.twin, ++this.#seq)
    }
    this.#log.info({ devices: this.#marks.size }, 'outbox loaded')
  }

  /** Called with a device key whenever one of its marks is set. */
  onDirty(listener: (deviceKey: string) => void): void {
    this.#listeners.push(listener)
  }

  changed(deviceKey: string, change: { twins: readonly string[]; state: boolean }): TwinStoreOp[] {
    if (change.twins.length === 0 && !change.state) return []
    const marks = this.#device(deviceKey)
    const at = this.#now()
    const ops: TwinStoreOp[] = []
    for (const twin of change.twins) {
      marks.twins.set(twin, ++this.#seq)
      ops.push({ space: 'outbox', type: 'put', key: markKey(deviceKey, twin), value: at })
    }
    if (change.state) {
      marks.state = ++this.#seq
      ops.push({ space: 'outbox', type: 'put', key: markKey(deviceKey, undefined), value: at })
    }
    for (const listener of this.#listeners) listener(deviceKey)
    return ops
  }

  removed(deviceKey: string): TwinStoreOp[] {
    const marks = this.#marks.get(deviceKey)
    if (marks === undefined) return []
    this.#marks.delete(deviceKey)
    return delOps(deviceKey, [...marks.twins.keys()], marks.state !== undefined)
  }

  /** Devices with at least one mark. */
  dirtyDevices(): string[] {
    return [...this.#marks.keys()]
  }

  isDirty(deviceKey: string): boolean {
    return this.#marks.has(deviceKey)
  }

  /** Number of marks (for tests and metrics). */
  get size(): number {
    let n = 0
    for (const marks of this.#marks.values()) n += marks.twins.size + (marks.state === undefined ? 0 : 1)
    return n
  }

  /** The device's marks as they are now (read inside the twin's order for the device). */
  snapshot(deviceKey: string): MarkSnapshot | undefined {
    const marks = this.#marks.get(deviceKey)
    return marks === undefined ? undefined : { twins: new Map(marks.twins), state: marks.state }
  }

  /** Clears the marks of `sent` that no change has touched since; resolves once that is written. */
  async settle(deviceKey: string, sent: MarkSnapshot): Promise<void> {
    const marks = this.#marks.get(deviceKey)
    if (marks === undefined) return
    const twins = [...sent.twins].filter(([twin, seq]) => marks.twins.get(twin) === seq).map(([twin]) => twin)
    const state = sent.state !== undefined && marks.state === sent.state
    for (const twin of twins) marks.twins.delete(twin)
    if (state) marks.state = undefined
    if (marks.twins.size === 0 && marks.state === undefined) this.#marks.delete(deviceKey)
    try {
      await this.#store.write(delOps(deviceKey, twins, state))
    } catch (err) {
      // The marks stay on disk: the values are reported once more after a restart.
      this.#log.warn({ err, device: deviceKey }, 'acknowledged outbox marks not cleared in the store')
    }
  }

  #device(deviceKey: string): DeviceMarks {
    let marks = this.#marks.get(deviceKey)
    if (marks === undefined) {
      marks = { twins: new Map(), state: undefined }
      this.#marks.set(deviceKey, marks)
    }
    return marks
  }
}

function delOps(deviceKey: string, twins: readonly string[], state: boolean): TwinStoreOp[] {
  const ops: TwinStoreOp[] = twins.map((twin) => ({ space: 'outbox', type: 'del', key: markKey(deviceKey, twin) }))
  if (state) ops.push({ space: 'outbox', type: 'del', key: markKey(deviceKey, undefined) })
  return ops
}

/** `<ns>/<name>\0twin:<property>` or `<ns>/<name>\0state`. */
export function markKey(deviceKey: string, twin: string | undefined): string {
  return `${deviceKey}${SEPARATOR}${twin === undefined ? STATE : `${TWIN}${twin}`}`
}

export function parseMarkKey(key: string): { device: string; twin: string | undefined } | undefined {
  const at = key.indexOf(SEPARATOR)
  if (at <= 0) return undefined
  const device = key.slice(0, at)
  const rest = key.slice(at + 1)
  if (rest === STATE) return { device, twin: undefined }
  if (rest.startsWith(TWIN) && rest.length > TWIN.length) return { device, twin: rest.slice(TWIN.length) }
  return undefined
}
