/**
 * Inbound DeviceTwin payloads: from the bytes of an MQTT message to typed requests, or to the list
 * of every problem found (kubeedge-compat.md §2.2; DESIGN §4.3, §4.4). Never throws.
 *
 * The envelope and each twin entry are checked against the schemas of schemas/twin.ts, one entry
 * at a time, so every problem is attributed to its key. Unknown fields are ignored, as Go's
 * decoder ignores them. `null` is meaningful only as a whole entry (delete); `null` anywhere inside an
 * entry (`"metadata": null`, `"expected": null`) is a wrong JSON type and a 400 — KubeEdge
 * dereferences such entries and crashes (§8.14).
 */
import { DeviceStateUpdate as deviceStateUpdateCheck } from '../schemas/generated/validators/DeviceStateUpdate.js'
import { GetRequest as getRequestCheck } from '../schemas/generated/validators/GetRequest.js'
import { MsgTwin as msgTwinCheck } from '../schemas/generated/validators/MsgTwin.js'
import { TwinUpdateEnvelope as twinUpdateEnvelopeCheck } from '../schemas/generated/validators/TwinUpdateEnvelope.js'
import { validator, type Problem } from '../schemas/validate.js'
import type { MsgTwin, TwinProblem } from '../schemas/twin.js'
import { sortedKeys } from './sorted-keys.js'
import { checkKey } from './values.js'

export type RequestOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly eventId: string; readonly problems: TwinProblem[] }

/** A twin update with its entries in key order: `null` = delete (local deal). */
export interface TwinUpdateRequest {
  readonly eventId: string
  readonly entries: ReadonlyArray<readonly [key: string, entry: MsgTwin | null]>
}

const checkEnvelope = validator(twinUpdateEnvelopeCheck)
const checkEntry = validator(msgTwinCheck)
const checkGet = validator(getRequestCheck)
const checkState = validator(deviceStateUpdateCheck)

/**
 * A request's payload while it waits for its turn: the bytes, or, for a payload over the size limit,
 * only its size. An oversized payload is never decoded (parsing megabytes of JSON would stall every
 * client of the node) and not kept either.
 */
export type RequestBytes = Buffer | { readonly size: number; readonly limit: number }

export type DecodedRequest = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly errorCode: 'TWIN_BAD_REQUEST' | 'TWIN_REQUEST_TOO_LARGE'; readonly reason: string }

export function admitRequest(payload: Buffer, limit: number): RequestBytes {
  return payload.length > limit ? { size: payload.length, limit } : payload
}

export function decodeRequest(bytes: RequestBytes): DecodedRequest {
  if (!Buffer.isBuffer(bytes)) {
    return { ok: false, errorCode: 'TWIN_REQUEST_TOO_LARGE', reason: `the request is ${bytes.size} bytes; at most ${bytes.limit} are accepted (twin.maxRequestBytes)` }
  }
  return parseJson(bytes.toString('utf8'))
}

/**
 * Parses an MQTT payload as JSON. An empty payload is not JSON: KubeEdge answers it with a 400 on
 * every request topic, `twin/get` and `membership/get` included.
 */
export function parseJson(payload: string): { ok: true; value: unknown } | { ok: false; errorCode: 'TWIN_BAD_REQUEST'; reason: string } {
  if (payload.trim() === '') return { ok: false, errorCode: 'TWIN_BAD_REQUEST', reason: 'the payload is empty; a JSON object is expected' }
  try {
    return { ok: true, value: JSON.parse(payload) as unknown }
  } catch (err) {
    return { ok: false, errorCode: 'TWIN_BAD_REQUEST', reason: `the payload is not JSON: ${err instanceof Error ? err.message : String(err)}` }
  }
}

/** The request's `event_id` if it has a usable one, for echoing in an error result. */
export function eventIdOf(body: unknown): string {
  return isObject(body) && typeof body.event_id === 'string' ? body.event_id : ''
}

export function parseTwinUpdate(body: unknown): RequestOutcome<TwinUpdateRequest> {
  const eventId = eventIdOf(body)
  if (!isObject(body)) return fail(eventId, [bad('', 'the request must be a JSON object')])
  const envelope = checkEnvelope(body)
  if (!envelope.ok) return fail(eventId, envelope.problems.map((p) => fromSchema(p, '')))
  const problems: TwinProblem[] = []
  const entries: Array<readonly [string, MsgTwin | null]> = []
  for (const key of sortedKeys(envelope.value.twin)) {
    const keyProblem = checkKey(key)
    if (keyProblem !== undefined) problems.push({ key, path: twinPath(key), ...keyProblem })
    const raw = envelope.value.twin[key]
    if (raw === null) {
      entries.push([key, null])
      continue
    }
    const entry = checkEntry(raw)
    if (entry.ok) entries.push([key, entry.value])
    else problems.push(...entry.problems.map((p) => ({ key, ...fromSchema(p, twinPath(key)) })))
  }
  return problems.length > 0 ? fail(eventId, problems) : { ok: true, value: { eventId, entries } }
}

/** `.../twin/get` and `.../membership/get`: a JSON object of which only `event_id` is read. */
export function parseGetRequest(body: unknown): RequestOutcome<{ eventId: string }> {
  const eventId = eventIdOf(body)
  if (!isObject(body)) return fail(eventId, [bad('', 'the request must be a JSON object')])
  const checked = checkGet(body)
  return checked.ok ? { ok: true, value: { eventId } } : fail(eventId, checked.problems.map((p) => fromSchema(p, '')))
}

/**
 * `.../state/update`. Go matches JSON keys case-insensitively and DMI sends `State`, so the state key
 * is found in any case (an exact `state` wins).
 */
export function parseStateUpdate(body: unknown): RequestOutcome<{ eventId: string; state: string }> {
  const eventId = eventIdOf(body)
  if (!isObject(body)) return fail(eventId, [bad('', 'the request must be a JSON object')])
  const stateKey = Object.hasOwn(body, 'state') ? 'state' : Object.keys(body).find((k) => k.toLowerCase() === 'state')
  const normalized = stateKey === undefined ? body : { ...body, state: body[stateKey] }
  const checked = checkState(normalized)
  if (!checked.ok) return fail(eventId, checked.problems.map((p) => fromSchema(p, '')))
  return { ok: true, value: { eventId, state: checked.value.state } }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function fail<T>(eventId: string, problems: TwinProblem[]): RequestOutcome<T> {
  return { ok: false, eventId, problems }
}

function bad(path: string, reason: string): TwinProblem {
  return { path: path === '' ? '/' : path, errorCode: 'TWIN_BAD_REQUEST', reason }
}

function fromSchema(p: Problem, prefix: string): TwinProblem {
  return bad(p.path === '/' ? prefix : `${prefix}${p.path}`, p.message)
}

function twinPath(key: string): string {
  return `/twin/${escapePointer(key)}`
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1')
}
