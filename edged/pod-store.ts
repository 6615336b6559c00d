/**
 * Edged's part of the node database: the pods each source gave (so pods from the cloud keep
 * running after a restart with the cloud unreachable) and each pod's last status (its startTime and
 * conditions' transition times survive a restart). Sublevels `edged-pods` and `edged-status` of the
 * node LevelDB, written through the twin's LevelStore as broker and twin write theirs.
 */
import type { Pod, PodStatus } from '../schemas/pod.js'
import { LevelStore, type AnyLevel } from '../twin/store.js'

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

  constructor(db: AnyLevel, options: { sync?: boolean } = {}) {
    this.#store = new LevelStore<EdgedSpaces>(db, ['pods', 'status'], { prefix: 'edged-', ...options })
  }

  async pods(): Promise<StoredPod[]> {
    return (await this.#store.loadAll('pods')).map((r) => r.value)
  }

  async statuses(): Promise<Map<string, PodStatus>> {
    return new Map((await this.#store.loadAll('status')).map((r) => [r.key, r.value]))
  }

  /** Replaces the pods of `source` with `pods` (the source's removed pods are deleted). */
  async setSourcePods(source: string, pods: readonly Pod[]): Promise<void> {
    const keep = new Set(pods.map((p) => uidOf(p)))
    const gone = (await this.pods()).filter((s) => s.source === source && !keep.has(uidOf(s.pod)))
    await this.#store.write([
      ...gone.map((s) => ({ space: 'pods' as const, type: 'del' as const, key: uidOf(s.pod) })),
      ...pods.map((pod) => ({ space: 'pods' as const, type: 'put' as const, key: uidOf(pod), value: { source, pod } })),
    ])
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
