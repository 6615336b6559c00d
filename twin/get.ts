/**
 * `.../twin/get` → `.../twin/get/result` (kubeedge-compat.md §1.5.4): every live twin, versions
 * stripped, tombstones hidden, the request's `event_id` echoed. A body that is not a JSON object (or
 * has wrong JSON types) is a 400; an empty payload is not JSON, so it never gets here. An unknown
 * device (404) is the caller's.
 */
import type { DeviceTwinResult, ErrorResult } from '../schemas/twin.js'
import { errorResult, summaryReason, twinGetResult } from './outputs.js'
import { parseGetRequest } from './request.js'
import type { TwinMap } from './types.js'

export type TwinGetOutcome =
  | { readonly ok: true; readonly result: DeviceTwinResult }
  | { readonly ok: false; readonly code: 400; readonly result: ErrorResult }

export function answerTwinGet(input: { readonly twins: TwinMap; readonly request: unknown; readonly now: number }): TwinGetOutcome {
  const parsed = parseGetRequest(input.request)
  if (!parsed.ok) {
    const reason = summaryReason('twin get rejected', parsed.problems)
    const result = errorResult({ eventId: parsed.eventId, now: input.now, code: 400, errorCode: 'TWIN_BAD_REQUEST', reason, problems: parsed.problems })
    return { ok: false, code: 400, result }
  }
  return { ok: true, result: twinGetResult(input.twins, { eventId: parsed.value.eventId, now: input.now }) }
}
