/**
 * `.../state/update` → `.../state/update/result` (kubeedge-compat.md §1.5.6; DESIGN §4.6).
 *
 * The state is matched case-insensitively against `online`, `offline`, `ok`, `unknown`, `unhealthy`
 * and kept as sent (a legacy mapper's `OK` stays `OK`), as KubeEdge stores, echoes and reports it;
 * anything else is refused with a 400 `DEVICE_STATE_UNKNOWN` (KubeEdge ignores it silently, §8.16). `online` and `ok` set `lastOnlineTime` to `now` in RFC 3339 (UTC, seconds);
 * other states keep the previous `lastOnlineTime` (KubeEdge wipes it) — it is the last time the device
 * was seen online. The result is also the content the caller sends to the cloud
 * (`device/<id>/state/update`, as a JSON string).
 */
import type { DeviceStateResult, ErrorResult, TwinProblem } from '../schemas/twin.js'
import { DeviceStates, type DeviceState } from '../schemas/vocabulary.js'
import type { ErrorCode } from '../schemas/errors.js'
import { errorResult, summaryCode, summaryReason } from './outputs.js'
import { parseStateUpdate } from './request.js'

export interface DeviceStatus {
  /** as the mapper sent it: one of DeviceStates in any case */
  readonly state?: string
  /** RFC 3339, as produced by `rfc3339` */
  readonly lastOnline?: string
}

export interface StateUpdateInput {
  /** the device name as KubeEdge reports it (`name`, not `namespace/name`) */
  readonly name: string
  readonly previous: DeviceStatus
  readonly request: unknown
  readonly now: number
  readonly newEventId: () => string
}

export type StateUpdateOutcome =
  | {
      readonly ok: true
      /** what to store */
      readonly status: Required<Pick<DeviceStatus, 'state'>> & DeviceStatus
      /** whether the stored status differs from `previous` */
      readonly changed: boolean
      readonly result: DeviceStateResult
    }
  | {
      readonly ok: false
      readonly code: 400
      readonly errorCode: ErrorCode
      readonly problems: readonly TwinProblem[]
      readonly result: ErrorResult
    }

export function applyStateUpdate(input: StateUpdateInput): StateUpdateOutcome {
  const { now } = input
  const parsed = parseStateUpdate(input.request)
  if (!parsed.ok) return refuse(parsed.eventId, now, parsed.problems)
  const state = parsed.value.state
  const known = toDeviceState(state)
  if (known === undefined) {
    return refuse(parsed.value.eventId, now, [
      {
        path: '/state',
        errorCode: 'DEVICE_STATE_UNKNOWN',
        reason: `the state ${JSON.stringify(parsed.value.state)} is not one of ${DeviceStates.join(', ')}`,
      },
    ])
  }
  const lastOnline = known === 'online' || known === 'ok' ? rfc3339(now) : input.previous.lastOnline
  const status = lastOnline === undefined ? { state } : { state, lastOnline }
  const device: DeviceStateResult['device'] = { name: input.name, state }
  if (input.name === '') delete device.name
  if (lastOnline !== undefined && lastOnline !== '') device.lastOnlineTime = lastOnline
  return {
    ok: true,
    status,
    changed: state !== input.previous.state || lastOnline !== input.previous.lastOnline,
    result: { event_id: input.newEventId(), timestamp: now, device },
  }
}

export function toDeviceState(state: string): DeviceState | undefined {
  const lower = state.toLowerCase()
  return DeviceStates.find((s) => s === lower)
}

/** `2026-01-01T00:00:00Z`: Go's `time.RFC3339` of a UTC time (no fraction). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function refuse(eventId: string, now: number, problems: readonly TwinProblem[]): StateUpdateOutcome {
  const errorCode = summaryCode(problems)
  const reason = summaryReason('state update rejected', problems)
  return { ok: false, code: 400, errorCode, problems, result: errorResult({ eventId, now, code: 400, errorCode, reason, problems }) }
}
