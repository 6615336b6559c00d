/**
 * Membership payloads (kubeedge-compat.md §1.5.7, §1.5.8): `.../membership/get/result` and
 * `.../membership/updated`. Fields are `omitempty` as in KubeEdge's `Device` struct.
 */
import type { MemberDevice, MembershipGetResult, MembershipUpdated, MsgAttr, MsgTwin } from '../schemas/twin.js'
import type { Stamp } from './outputs.js'
import { toMsgTwin } from './snapshot.js'
import type { TwinMap } from './types.js'

export interface MemberInfo {
  /** `<namespace>/<name>` */
  readonly id: string
  readonly name: string
  readonly description?: string
  readonly state?: string
  readonly lastOnline?: string
  readonly attributes?: Readonly<Record<string, MsgAttr>>
}

/** KubeEdge's `Device` without twins (membership get result). */
export function memberDevice(info: MemberInfo): MemberDevice {
  const out: MemberDevice = {}
  if (info.id !== '') out.id = info.id
  if (info.name !== '') out.name = info.name
  if (info.description !== undefined && info.description !== '') out.description = info.description
  if (info.state !== undefined && info.state !== '') out.state = info.state
  if (info.lastOnline !== undefined && info.lastOnline !== '') out.last_online = info.lastOnline
  if (info.attributes !== undefined && Object.keys(info.attributes).length > 0) out.attributes = { ...info.attributes }
  return out
}

/** A device with its twins for `membership/updated`: versions stripped, tombstones as `null`. */
export function memberDeviceWithTwins(info: MemberInfo, twins: TwinMap): MemberDevice {
  const out = memberDevice(info)
  const twin: Array<[string, MsgTwin | null]> = Object.keys(twins)
    .sort()
    .map((key) => {
      const record = twins[key]
      return [key, record === undefined || record.deleted ? null : toMsgTwin(record, { versions: false })]
    })
  if (twin.length > 0) out.twin = Object.fromEntries(twin)
  return out
}

export function membershipGetResult(stamp: Stamp, devices: readonly MemberInfo[]): MembershipGetResult {
  return { event_id: stamp.eventId, timestamp: stamp.now, devices: devices.map(memberDevice) }
}

/** One event per added or removed device, as KubeEdge sends them (the other list is `null`). */
export function membershipUpdated(stamp: Stamp, change: { added?: readonly MemberDevice[]; removed?: readonly MemberDevice[] }): MembershipUpdated {
  return {
    event_id: stamp.eventId,
    timestamp: stamp.now,
    added_devices: change.added === undefined ? null : [...change.added],
    removed_devices: change.removed === undefined ? null : [...change.removed],
  }
}
