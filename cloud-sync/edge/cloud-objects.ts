/**
 * A node's set of cloud objects and how a downstream message changes it. Pure: each function takes
 * the held set and returns the store operations and the next set; nothing is changed in place.
 * Keys are the edge resources (MetaManager's `<ns>/<type>/<name>`, kubeedge-compat.md §5.5):
 * Devices and the DeviceModels they use in the `meta` space, and (workload-sync.ts) pods and the
 * ConfigMaps and Secrets they use in the `workloads` space. The generic functions work on any
 * space; the device ones below are them applied to Manifests.
 */
import type { StoreOp } from '../../twin/store.js'
import type { Manifest } from '../../twin/device-set.js'
import { objectResource, type NodeDeviceSet, type ObjectKind } from '../messages.js'

/** The `meta` space of the node database: cloud objects by edge resource. */
export interface CloudObjectSpaces extends Record<string, unknown> {
  meta: Manifest
}

export type MetaOp = StoreOp<CloudObjectSpaces>
export type CloudObjects = ReadonlyMap<string, Manifest>

/** Store operations on one space holding values of type V. */
export type SpaceOp<K extends string, V> = { space: K; type: 'put'; key: string; value: V } | { space: K; type: 'del'; key: string }

export interface SetChange<K extends string, V> {
  readonly ops: Array<SpaceOp<K, V>>
  readonly next: ReadonlyMap<string, V>
}

export type Change = SetChange<'meta', Manifest>

/** A resync replaces the whole set; only objects that differ are written. */
export function replaceAll<K extends string, V>(space: K, held: ReadonlyMap<string, V>, next: ReadonlyMap<string, V>): SetChange<K, V> {
  const ops: Array<SpaceOp<K, V>> = []
  for (const key of held.keys()) if (!next.has(key)) ops.push({ space, type: 'del', key })
  for (const [key, object] of next) if (!same(held.get(key), object)) ops.push({ space, type: 'put', key, value: object })
  return { ops, next }
}

/**
 * An incremental update of `key`; `undefined` when the held copy is newer (both resourceVersions
 * integers and the incoming one smaller: a late re-send of an older watch event).
 */
export function putOne<K extends string, V>(space: K, held: ReadonlyMap<string, V>, key: string, object: V, version: (object: V) => string | undefined, headerVersion?: string): SetChange<K, V> | undefined {
  const current = held.get(key)
  if (current !== undefined && isOlder(version(object) ?? headerVersion, version(current))) return undefined
  if (same(current, object)) return { ops: [], next: held }
  return { ops: [{ space, type: 'put', key, value: object }], next: new Map(held).set(key, object) }
}

export function deleteOne<K extends string, V>(space: K, held: ReadonlyMap<string, V>, key: string): SetChange<K, V> {
  if (!held.has(key)) return { ops: [], next: held }
  const next = new Map(held)
  next.delete(key)
  return { ops: [{ space, type: 'del', key }], next }
}

export function keyOfObject(object: Manifest): string {
  const kind: ObjectKind = object.kind === 'Device' ? 'device' : 'devicemodel'
  return objectResource(kind, object.doc.metadata.namespace, object.doc.metadata.name)
}

export function applyResync(held: CloudObjects, set: NodeDeviceSet): Change {
  const next = new Map<string, Manifest>()
  for (const doc of set.models) next.set(keyOfObject({ kind: 'DeviceModel', doc }), { kind: 'DeviceModel', doc })
  for (const doc of set.devices) next.set(keyOfObject({ kind: 'Device', doc }), { kind: 'Device', doc })
  return replaceAll('meta', held, next)
}

export function applyUpdate(held: CloudObjects, object: Manifest, headerVersion?: string): Change | undefined {
  return putOne('meta', held, keyOfObject(object), object, (m) => m.doc.metadata.resourceVersion, headerVersion)
}

export function applyDelete(held: CloudObjects, key: string): Change {
  return deleteOne('meta', held, key)
}

/** Whether resourceVersion `incoming` is numerically older than `held` (only when both are integers). */
export function isOlder(incoming: string | undefined, held: string | undefined): boolean {
  if (incoming === undefined || held === undefined || !/^\d+$/.test(incoming) || !/^\d+$/.test(held)) return false
  return BigInt(incoming) < BigInt(held)
}

function same<V>(a: V | undefined, b: V): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b)
}
