/**
 * Edged's part of the node database: the pods each source gave (so pods from the cloud keep
 * running after a restart with the cloud unreachable) and each pod's last status (its startTime and
 * conditions' transition times survive a restart). Sublevels `edged-pods` and `edged-status` of the
 * node LevelDB, written through the twin's LevelStore as broker and twin write theirs.
 */
import type { Pod, PodStatus } from '../schemas/pod.js'
import { LevelStore, type AnyLevel, type StoreOp } from '../twin/store.js'

export interface StoredPod {
  source: string
  pod: Pod
}

export interface EdgedSpaces extends Record<string, unknown> {
  pods: StoredPod
  status: PodStatus
}

export class PodStore {
  readonly #store: LevelStore<EdgedSpaces>
  /** the pods the database holds, by uid, once read */
  #held: Promise<Map<string, StoredPod>> | undefined

  constructor(db: AnyLevel, options: { sync?: boolean } = {}) {
    this.#store = new LevelStore<EdgedSpaces>(db, ['pods', 'status'], { prefix: 'edged-', ...options })
  }

  async pods(): Promise<StoredPod[]> {
    return (await this.#store.loadAll('pods')).map((r) => r.value)
  }

  async statuses(): Promise<Map<string, PodStatus>> {
    return new Map((await this.#store.loadAll('status')).map((r) => [r.key, r.value]))
  }

  /**
   * Replaces the pods of `source` with `pods` (the source's removed pods are deleted), writing only
   * what changed: a source gives its whole set on every change, so rewriting it all made a node
   * with 100 pods write 100 of them for each pod added, and all of them for each ConfigMap or
   * Secret change. What the database holds is read once and then kept in step with every write.
   */
  async setSourcePods(source: string, pods: readonly Pod[]): Promise<void> {
    const held = await (this.#held ??= this.pods().then((stored) => new Map(stored.map((s) => [uidOf(s.pod), s]))))
    const keep = new Set(pods.map((p) => uidOf(p)))
    const ops: Array<StoreOp<EdgedSpaces>> = []
    for (const [uid, stored] of held) {
      if (stored.source !== source || keep.has(uid)) continue
      ops.push({ space: 'pods', type: 'del', key: uid })
      held.delete(uid)
    }
    for (const pod of pods) {
      const uid = uidOf(pod)
      const stored = held.get(uid)
      if (stored !== undefined && stored.source === source && samePod(stored.pod, pod)) continue
      ops.push({ space: 'pods', type: 'put', key: uid, value: { source, pod } })
      held.set(uid, { source, pod })
    }
    if (ops.length === 0) return
    try {
      await this.#store.write(ops)
    } catch (err) {
      // not written: read again next time rather than trust the map
      this.#held = undefined
      throw err
    }
  }

  putStatus(uid: string, status: PodStatus): Promise<void> {
    return this.#store.write([{ space: 'status', type: 'put', key: uid, value: status }])
  }

  deleteStatus(uid: string): Promise<void> {
    return this.#store.write([{ space: 'status', type: 'del', key: uid }])
  }

  close(): Promise<void> {
    return this.#store.close()
  }
}

export function uidOf(pod: Pod): string {
  const uid = pod.metadata.uid
  if (uid === undefined) throw new Error(`pod ${pod.metadata.namespace}/${pod.metadata.name} has no uid`)
  return uid
}

/** The same pod: the same object (the cloud source keeps each validated version), or the same JSON. */
function samePod(a: Pod, b: Pod): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b)
}
