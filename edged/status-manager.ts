/**
 * Keeps each pod's status: in the store when it changes (so startTime and the conditions'
 * transition times survive a restart of tern edge) and in `<rootDir>/pods.json`, the snapshot
 * `tern pods` reads while tern edge runs or not. The snapshot is rewritten atomically (temp file +
 * rename) shortly after any change. `onChange` hears of every status that differs from the one kept
 * (the kubelet's status manager syncing to the API server), of each pod's first status after a
 * start even when the store kept the same one, and of every status again on `reassert()`: the
 * kubelet reconciles the API server's copy with its own, because others write it too (the node
 * lifecycle controller marks the pods of an unreachable node not ready), and here the API server's
 * copy is out of sight, so it is re-asserted whenever it may have drifted: after a restart of tern
 * edge, and (reassert) after each reconnection to the cloud.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from 'pino'
import type { Pod, PodStatus } from '../schemas/pod.js'
import type { PodStore } from './pod-store.js'
import { stableJson } from './stable-json.js'

export const SNAPSHOT_FILE = 'pods.json'
/** Changes within this window are written as one snapshot (the contract: within ~0.5 s). */
const SNAPSHOT_DELAY_MS = 100

export interface PodSnapshotEntry {
  name: string
  namespace: string
  uid: string
  createdAt: string
  deleting: boolean
  spec: { containers: Array<{ name: string }>; initContainers: Array<{ name: string }> }
  status: PodStatus
}

export interface PodSnapshot {
  node: string
  updatedAt: string
  pods: PodSnapshotEntry[]
}

interface Entry {
  pod: Pod
  status: PodStatus
  deleting: boolean
  /** stableJson(status), what the next status is compared with */
  json: string
}

export class StatusManager {
  readonly #store: PodStore
  readonly #path: string
  readonly #node: string
  readonly #log: Logger
  readonly #entries = new Map<string, Entry>()
  #stored = new Map<string, PodStatus>()
  /** stableJson of the statuses in #stored, made when first compared */
  readonly #storedJson = new Map<string, string>()
  /** pods whose status onChange heard in this run */
  readonly #heard = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #writing: Promise<void> = Promise.resolve()
  readonly #onChange: (pod: Pod, status: PodStatus) => void

  constructor(options: { store: PodStore; rootDir: string; nodeName: string; log: Logger; onChange?: (pod: Pod, status: PodStatus) => void }) {
    this.#store = options.store
    this.#onChange = options.onChange ?? (() => undefined)
    this.#path = join(options.rootDir, SNAPSHOT_FILE)
    this.#node = options.nodeName
    this.#log = options.log
  }

  /** Reads the statuses kept from earlier runs. */
  async load(): Promise<void> {
    this.#stored = await this.#store.statuses()
    this.#storedJson.clear()
  }

  /** The last status of a pod: this run's, or the one kept from an earlier run. */
  previous(uid: string): PodStatus | undefined {
    return this.#entries.get(uid)?.status ?? this.#stored.get(uid)
  }

  get(uid: string): PodStatus | undefined {
    return this.#entries.get(uid)?.status
  }

  /** Each status is serialised once, here: edged sets one for every pod being synced at every relist, and most are the same as before. */
  async set(pod: Pod, status: PodStatus, deleting: boolean): Promise<void> {
    const uid = pod.metadata.uid ?? ''
    const json = stableJson(status)
    const before = this.#entries.get(uid)
    this.#entries.set(uid, { pod, status, deleting, json })
    const changed = before === undefined || before.deleting !== deleting || before.json !== json
    if (!changed) return
    this.#schedule()
    const kept = this.#storedJsonOf(uid) === json
    if (kept && this.#heard.has(uid)) return
    if (!kept) {
      this.#stored.set(uid, status)
      this.#storedJson.set(uid, json)
      await this.#store.putStatus(uid, status)
    }
    this.#heard.add(uid)
    this.#onChange(pod, status)
  }

  /** `onChange` hears every current status again (its receiver may have lost or overwritten them). */
  reassert(): void {
    for (const { pod, status } of this.#entries.values()) this.#onChange(pod, status)
  }

  async remove(uid: string): Promise<void> {
    const had = this.#entries.delete(uid)
    this.#heard.delete(uid)
    this.#storedJson.delete(uid)
    if (this.#stored.delete(uid)) await this.#store.deleteStatus(uid)
    if (had) this.#schedule()
  }

  /** Writes a pending snapshot now (at stop). */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
      this.#writing = this.#writing.then(() => this.#write())
    }
    await this.#writing
  }

  /** Writes the snapshot as it is now (at start, before any pod was synced). */
  writeNow(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#write())
    return this.#writing
  }

  #storedJsonOf(uid: string): string | undefined {
    let json = this.#storedJson.get(uid)
    const stored = this.#stored.get(uid)
    if (json === undefined && stored !== undefined) this.#storedJson.set(uid, (json = stableJson(stored)))
    return json
  }

  #schedule(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#writing = this.#writing.then(() => this.#write())
    }, SNAPSHOT_DELAY_MS)
  }

  async #write(): Promise<void> {
    const snapshot: PodSnapshot = {
      node: this.#node,
      updatedAt: new Date().toISOString(),
      pods: [...this.#entries.values()]
        .map(({ pod, status, deleting }) => ({
          name: pod.metadata.name,
          namespace: pod.metadata.namespace,
          uid: pod.metadata.uid ?? '',
          createdAt: status.startTime ?? pod.metadata.creationTimestamp ?? new Date().toISOString(),
          deleting,
          spec: { containers: pod.spec.containers.map((c) => ({ name: c.name })), initContainers: (pod.spec.initContainers ?? []).map((c) => ({ name: c.name })) },
          status,
        }))
        .sort((a, b) => (a.namespace + '/' + a.name < b.namespace + '/' + b.name ? -1 : 1)),
    }
    const temp = `${this.#path}.${process.pid}.tmp`
    try {
      await mkdir(dirname(this.#path), { recursive: true })
      await writeFile(temp, JSON.stringify(snapshot, null, 1))
      await rename(temp, this.#path)
    } catch (err) {
      this.#log.warn({ err, path: this.#path }, 'the pod snapshot could not be written')
    }
  }
}
