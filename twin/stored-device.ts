/**
 * What the twin keeps per member device. In memory: the resolved spec, the status and the twins.
 * In the store: the spec and status under the device's key in the `device` space, and each twin
 * under `<device key>\0<twin key>` in the `twin` space, so a request writes only the twins it
 * changed.
 */
import type { StoredDevice, TwinRecord } from '../schemas/stored.js'
import type { StoreOp } from './store.js'
import type { TwinMap } from './types.js'

export type { StoredDevice }

export interface DeviceRecord extends StoredDevice {
  twins: TwinMap
}

export interface TwinSpaces extends Record<string, unknown> {
  device: StoredDevice
  twin: TwinRecord
  /**
   * Optional (open the store with it only when a `changes` hook writes it): marks of twin and state
   * changes not yet acknowledged by the cloud, keyed by the hook, value the edge time of the change.
   */
  outbox: number
}

export type TwinStoreOp = StoreOp<TwinSpaces>

const SEPARATOR = '\u0000'

export function twinStoreKey(deviceKey: string, twinKey: string): string {
  return `${deviceKey}${SEPARATOR}${twinKey}`
}

/** Splits a `twin` space key into device key and twin key. */
export function splitTwinStoreKey(key: string): [deviceKey: string, twinKey: string] | undefined {
  const at = key.indexOf(SEPARATOR)
  return at < 0 ? undefined : [key.slice(0, at), key.slice(at + 1)]
}

export function deviceOp(key: string, record: DeviceRecord): TwinStoreOp {
  const value: StoredDevice = { spec: record.spec, state: record.state, ...(record.lastOnline === undefined ? {} : { lastOnline: record.lastOnline }) }
  return { space: 'device', type: 'put', key, value }
}

export function twinOps(key: string, twins: TwinMap, changed: readonly string[]): TwinStoreOp[] {
  return changed.flatMap((twinKey): TwinStoreOp[] => {
    const value = twins[twinKey]
    return value === undefined ? [] : [{ space: 'twin', type: 'put', key: twinStoreKey(key, twinKey), value }]
  })
}
