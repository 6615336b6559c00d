/**
 * The emulator's etcd: objects per resource type, one global resourceVersion counter, and a
 * bounded history of change events from which watches resume and paged lists read the snapshot
 * they started at (older → 410 Expired).
 */
import type { Json } from './patch.js'

export type KubeObject = { [key: string]: Json } & { metadata: { [key: string]: Json } }

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED'

export interface StoredEvent {
  type: EventType
  typeId: string
  object: KubeObject
  rv: number
}

export type Listener = (event: StoredEvent) => void

/** A change as the history keeps it: with the object it replaced, so a snapshot can be rolled back to. */
type Change = StoredEvent & { previous: KubeObject | undefined }

export function nameOf(object: KubeObject): string {
  return typeof object.metadata.name === 'string' ? object.metadata.name : ''
}

export function namespaceOf(object: KubeObject): string {
  return typeof object.metadata.namespace === 'string' ? object.metadata.namespace : ''
}

export class Store {
  private rv = 0
  /** resourceVersions ≤ this are no longer in the history. */
  private compacted = 0
  private readonly history: Change[] = []
  private readonly objects = new Map<string, Map<string, KubeObject>>()
  private readonly listeners = new Set<Listener>()

  constructor(private readonly historySize: number) {}

  get resourceVersion(): number {
    return this.rv
  }

  /** The oldest resourceVersion a watch can still start from. */
  get oldestResumable(): number {
    return this.compacted
  }

  get(typeId: string, namespace: string, name: string): KubeObject | undefined {
    const found = this.objects.get(typeId)?.get(`${namespace}/${name}`)
    return found === undefined ? undefined : structuredClone(found)
  }

  /** Objects sorted by namespace and name, as etcd's key order gives them. */
  list(typeId: string, namespace?: string): KubeObject[] {
    const all = [...(this.objects.get(typeId)?.entries() ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return all.map(([, o]) => structuredClone(o)).filter((o) => namespace === undefined || namespaceOf(o) === namespace)
  }

  /**
   * The objects of `typeId` as they were at resourceVersion `rv` (read only; current ones are not
   * copied), keyed `namespace/name`; undefined when changes since `rv` were already dropped from
   * the history (an etcd read at a compacted revision). etcd keeps every revision until compacted;
   * this rolls the current objects back through the history instead.
   */
  at(typeId: string, rv: number): ReadonlyMap<string, KubeObject> | undefined {
    const current = this.objects.get(typeId) ?? new Map<string, KubeObject>()
    if (rv >= this.rv) return current
    if (rv < this.compacted) return undefined
    const state = new Map(current)
    for (let i = this.history.length - 1; i >= 0; i--) {
      const change = this.history[i] as Change
      if (change.rv <= rv) break
      if (change.typeId !== typeId) continue
      const key = `${namespaceOf(change.object)}/${nameOf(change.object)}`
      if (change.previous === undefined) state.delete(key)
      else state.set(key, change.previous)
    }
    return state
  }

  /** Stores `object` with the next resourceVersion and tells every watcher. */
  write(type: EventType, typeId: string, object: KubeObject): KubeObject {
    this.rv++
    const stored = structuredClone(object)
    stored.metadata.resourceVersion = String(this.rv)
    const bucket = this.objects.get(typeId) ?? new Map<string, KubeObject>()
    this.objects.set(typeId, bucket)
    const key = `${namespaceOf(stored)}/${nameOf(stored)}`
    const previous = bucket.get(key)
    if (type === 'DELETED') bucket.delete(key)
    else bucket.set(key, stored)
    const event: StoredEvent = { type, typeId, object: stored, rv: this.rv }
    this.history.push({ ...event, previous })
    while (this.history.length > this.historySize) this.compacted = this.history.shift()?.rv ?? this.compacted
    for (const listener of this.listeners) listener(structuredClone(event))
    return structuredClone(stored)
  }

  /** Events after `rv`, or undefined when some of them were already dropped from the history. */
  since(rv: number): StoredEvent[] | undefined {
    if (rv < this.compacted) return undefined
    return this.history.filter((e) => e.rv > rv).map(({ previous: _, ...e }) => structuredClone(e))
  }

  /** Forgets the whole history, as an etcd compaction does: resuming from any older version gets 410. */
  compact(): void {
    this.compacted = this.rv
    this.history.length = 0
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
