/**
 * What the mapper learns from the twin's membership topics (README "The mapper contract"):
 * `membership/get/result` lists every member device; `membership/updated` adds (or replaces) and
 * removes one device at a time. Each device is validated as an `EdgeDevice` here, at the boundary,
 * and kept as its spec alone: the entries also carry the device's state, last online time and
 * twins, which change all the time and are no reason to restart a device.
 */
import type { EdgeDevice } from '../../schemas/device.js'
import { DeviceTwinResult as deviceTwinResultCheck } from '../../schemas/generated/validators/DeviceTwinResult.js'
import { EdgeDevice as edgeDeviceCheck } from '../../schemas/generated/validators/EdgeDevice.js'
import { MembershipGetResult as membershipGetResultCheck } from '../../schemas/generated/validators/MembershipGetResult.js'
import { MembershipUpdated as membershipUpdatedCheck } from '../../schemas/generated/validators/MembershipUpdated.js'
import { validator, type Problem } from '../../schemas/validate.js'

const validateDevice = validator(edgeDeviceCheck)
const validateGetResult = validator(membershipGetResultCheck)
const validateUpdated = validator(membershipUpdatedCheck)
const validateTwinResult = validator(deviceTwinResultCheck)

/** A member device, by `<namespace>/<name>`; `device` is absent when it does not validate. */
export type Member = { key: string; name: string; protocolName: string | undefined } & ({ device: EdgeDevice } | { problems: Problem[] })

export type MembershipMessage =
  | { kind: 'all'; eventId: string; members: Member[] }
  | { kind: 'change'; added: Member[]; removed: Array<{ key: string | undefined; name: string | undefined }> }
  | { kind: 'invalid'; problems: Problem[] }
  | { kind: 'error' }

export function deviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`
}

export function parseMembershipGetResult(payload: Buffer): MembershipMessage {
  const body = parse(payload)
  if (typeof body === 'object' && body !== null && 'code' in body) return { kind: 'error' } // someone's 400
  const checked = validateGetResult(body)
  if (!checked.ok) return { kind: 'invalid', problems: checked.problems }
  return { kind: 'all', eventId: checked.value.event_id, members: (checked.value.devices as unknown[]).map(member) }
}

export function parseMembershipUpdated(payload: Buffer): MembershipMessage {
  const checked = validateUpdated(parse(payload))
  if (!checked.ok) return { kind: 'invalid', problems: checked.problems }
  const added = ((checked.value.added_devices ?? []) as unknown[]).map(member)
  const removed = (checked.value.removed_devices ?? []).map((d) => ({ key: d.id?.includes('/') === true ? d.id : undefined, name: d.name ?? d.id }))
  return { kind: 'change', added, removed }
}

/** A `twin/get/result`: the twins whose expected value differs from the actual one (what a delta would say). */
export function pendingDesired(payload: Buffer): { eventId: string; delta: Record<string, string> } | undefined {
  const checked = validateTwinResult(parse(payload))
  if (!checked.ok) return undefined
  const delta: Record<string, string> = {}
  for (const [name, twin] of Object.entries(checked.value.twin)) {
    const expected = twin?.expected?.value
    if (expected !== undefined && expected !== (twin?.actual?.value ?? '')) delta[name] = expected
  }
  return { eventId: checked.value.event_id, delta }
}

function member(raw: unknown): Member {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as { id?: unknown; name?: unknown; namespace?: unknown; protocol?: { protocolName?: unknown } }
  const protocolName = typeof r.protocol?.protocolName === 'string' ? r.protocol.protocolName : undefined
  const name = typeof r.name === 'string' ? r.name : ''
  const namespace = typeof r.namespace === 'string' ? r.namespace : ''
  const key = namespace === '' && typeof r.id === 'string' ? r.id : deviceKey(namespace, name)
  const checked = validateDevice(raw)
  return checked.ok ? { key, name, protocolName, device: specOf(checked.value) } : { key, name, protocolName, problems: checked.problems }
}

/** The fields of an `EdgeDevice` (its spec), without what else a membership entry carries. */
function specOf(d: EdgeDevice): EdgeDevice {
  const { id, name, namespace, description, model, protocol, properties } = d
  return { id, name, namespace, ...(description === undefined ? {} : { description }), model, protocol, properties }
}

function parse(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}
