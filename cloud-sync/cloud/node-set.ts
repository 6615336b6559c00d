/**
 * Pure helpers of the downstream controller: what a node should have (its Devices and the
 * DeviceModels they use), the object as sent to the edge, and the order changes go out in.
 */
import type { Device, DeviceModel } from '../../schemas/device.js'
import { objectResource, parseObjectResource, type NodeDeviceSet } from '../messages.js'
import type { Change as DownlinkChange } from './downlink.js'

export type KubeObject = Device | DeviceModel

/** What the edge gets: the object without `status` and `managedFields` (neither matters to the edge). */
export function forEdge<T extends KubeObject>(object: T): T {
  const { managedFields: _managed, ...metadata } = object.metadata
  const { status: _status, ...rest } = object as T & { status?: unknown }
  return { ...rest, metadata } as T
}

export function deviceResource(device: Device): string {
  return objectResource('device', device.metadata.namespace, device.metadata.name)
}

export function modelResource(namespace: string, name: string): string {
  return objectResource('devicemodel', namespace, name)
}

/** The model resource a device uses (same namespace, `spec.deviceModelRef.name`). */
export function modelOf(device: Device): string {
  return modelResource(device.metadata.namespace, device.spec.deviceModelRef.name)
}

/** The resync content for a node: its devices and the models they use, in name order. */
export function nodeDeviceSet(devices: Iterable<Device>, model: (namespace: string, name: string) => DeviceModel | undefined): NodeDeviceSet {
  const sorted = [...devices].sort((a, b) => cmp(deviceResource(a), deviceResource(b)))
  const models = new Map<string, DeviceModel>()
  for (const d of sorted) {
    const m = model(d.metadata.namespace, d.spec.deviceModelRef.name)
    if (m !== undefined) models.set(modelOf(d), forEdge(m))
  }
  return { devices: sorted.map(forEdge), models: [...models.entries()].sort(([a], [b]) => cmp(a, b)).map(([, m]) => m) }
}

export type Change = DownlinkChange<KubeObject>

/**
 * The order changes go out in, so the edge never holds a device whose model it lacks: model
 * updates, device updates, device deletes, model deletes.
 */
export function rankChange(c: Change): number {
  const model = parseObjectResource(c.resource)?.kind === 'devicemodel'
  return c.op === 'update' ? (model ? 0 : 1) : model ? 3 : 2
}

export function orderChanges(changes: Change[]): Change[] {
  return [...changes].sort((a, b) => rankChange(a) - rankChange(b) || cmp(a.resource, b.resource))
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
