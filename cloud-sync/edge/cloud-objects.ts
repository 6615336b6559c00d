/**
 * The node's set of cloud objects (Devices and the DeviceModels they use) and how a downstream
 * message changes it. Pure: each function takes the held set and returns the store operations and
 * the next set; nothing is changed in place. Keys are the edge resources `<ns>/device/<name>` and
 * `<ns>/devicemodel/<name>` (MetaManager's layout, kubeedge-compat.md §5.5).
 */
import type { StoreOp } from '../../twin/store.js'
import type { Manifest } from '../../twin/manifests.js'
import { objectResource, type NodeDeviceSet, type ObjectKind } from '../messages.js'

/** The `meta` space of the node database: cloud objects by edge resource. */
export interface CloudObjectSpaces extends Record<string, unknown> {
  meta: Manifest
}

export type MetaOp = StoreOp<CloudObjectSpaces>
export type CloudObjects = ReadonlyMap<string, Manifest>

export interface Change {
  readonly ops: MetaOp[]
  readonly next: CloudObjects
}

export function keyOfObject(object: Manifest): string {
  const kind: ObjectKind = object.kind === 'Device' ? 'device' : 'devicemodel'
  return objectResource(kind, object.doc.metadata.namespace, object.doc.metadata.name)
}

/** A resync replaces the whole set; only objects that differ are written. */
export function applyResync(held: CloudObjects, set: NodeDeviceSet): Change {
  const next = new Map<string, Manifest>()
  for (const doc of set.models) next.set(keyOfObject({ kind: 'DeviceModel', doc }), { kind: 'DeviceModel', doc })
  for (const doc of set.devices) next.set(keyOfObject({ kind: 'Device', doc }), { kind: 'Device', doc })
  const ops: MetaOp[] = []
  for (const key of held.keys()) if (!next.has(key)) ops.push({ space: 'meta', type: 'del', key })
  for (const [key, object] of next) if (!sameObject(held.get(key), object)) ops.push({ space: 'meta', type: 'put', key, value: object })
  return { ops, next }
}

/**
 * An incremental update; `undefined` when the held copy is newer (both resourceVersions integers
 * and the incoming one smaller: a late re-send of an older watch event).
 */
export function applyUpdate(held: CloudObjects, object: Manifest, headerVersion?: string): Change | undefined {
  const key = keyOfObject(object)
  const current = held.get(key)
  if (current !== undefined && isOlder(object.doc.metadata.resourceVersion ?? headerVersion, current.doc.metadata.resourceVersion)) return undefined
  if (sameObject(current, object)) return { ops: [], next: held }
  return { ops: [{ space: 'meta', type: 'put', key, value: object }], next: new Map(held).set(key, object) }
}

export function applyDelete(held: CloudObjects, key: string): Change {
  if (!held.has(key)) return { ops: [], next: held }
  const next = new Map(held)
  next.delete(key)
  return { ops: [{ space: 'meta', type: 'del', key }], next }
}

/** Whether resourceVersion `incoming` is numerically older than `held` (only when both are integers). */
export function isOlder(incoming: string | undefined, held: string | undefined): boolean {
  if (incoming === undefined || held === undefined || !/^\d+$/.test(incoming) || !/^\d+$/.test(held)) return false
  return BigInt(incoming) < BigInt(held)
}

function sameObject(a: Manifest | undefined, b: Manifest): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b)
}
