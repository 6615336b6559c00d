/**
 * Property tests of the twin core (STYLE: pure logic tested by tables and properties).
 *
 * 1. Random sequences of local updates, deletes, gets and cloud syncs on a small key/value domain,
 *    checked step by step against a small reference model of kubeedge-compat §2.3-§2.4 and DESIGN
 *    §4.1-§4.3 written independently of twin/*: stored records (values, timestamps, versions,
 *    optional, tombstones), success/400, the document/delta/cloud-sync keys, the get result; every
 *    output also validates against its schema in schemas/twin.ts.
 * 2. Random and malformed requests (fc.anything, fc.json, near-miss shapes) never throw and always
 *    give a well-formed outcome (DESIGN §4.4, §9 "Bad input").
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as checks from '../../schemas/generated/validators.js'
import { validator } from '../../schemas/validate.js'
import { applyTwinUpdate } from '../../twin/merge.js'
import { answerTwinGet } from '../../twin/get.js'
import { applyStateUpdate } from '../../twin/state.js'
import { parseJson } from '../../twin/request.js'
import type { TwinMap, TwinRecord } from '../../twin/types.js'
import { NOW, ids } from './fixtures.js'

const validResult = validator(checks.DeviceTwinResult)
const validDocument = validator(checks.DeviceTwinDocument)
const validDelta = validator(checks.DeviceTwinDelta)
const validError = validator(checks.ErrorResult)
const validState = validator(checks.DeviceStateResult)

function conforms(check: (doc: unknown) => { ok: boolean }, doc: unknown, what: string): void {
  // through JSON, as it goes on the wire
  const wire: unknown = JSON.parse(JSON.stringify(doc))
  const r = check(wire)
  assert.ok(r.ok, `${what} does not match its schema: ${JSON.stringify(r)} ${JSON.stringify(wire)}`)
}

// ---- the reference model ------------------------------------------------------------------------

type V = [cloud: number, edge: number]
interface M {
  exp?: [value: string, ts: number]
  act?: [value: string, ts: number]
  ev?: V
  av?: V
  optional: boolean
  deleted: boolean
}
type Model = Map<string, M>

const KEYS = ['a', 'b', 'n'] // `n` is an INT property of the device model
const VALUES = ['0', '1', '2', 'x']
const deviceModel = { n: { type: 'INT' } }
const validFor = (key: string, value: string) => key !== 'n' || /^\d+$/.test(value)

const clone = (m: Model): Model => new Map([...m].map(([k, v]) => [k, structuredClone(v)]))
const visible = (m: M | undefined) => (m === undefined || m.deleted ? null : JSON.stringify([m.exp, m.act, m.optional]))

function toRecord(m: M): TwinRecord {
  const r: TwinRecord = { optional: m.optional, type: 'string', deleted: m.deleted }
  if (m.exp) r.expected = { value: m.exp[0], timestamp: m.exp[1] }
  if (m.act) r.actual = { value: m.act[0], timestamp: m.act[1] }
  if (m.ev) r.expectedVersion = { cloud: m.ev[0], edge: m.ev[1] }
  if (m.av) r.actualVersion = { cloud: m.av[0], edge: m.av[1] }
  return r
}

interface LocalEntry {
  exp?: string
  act?: string
  optional?: boolean
}
interface SyncEntry {
  del: boolean
  exp?: string
  ev?: V
  av?: V
}

type Op =
  | { kind: 'local'; twin: Array<[string, LocalEntry | null]> }
  | { kind: 'sync'; twin: Array<[string, SyncEntry]> }
  | { kind: 'get' }

/** Reference local deal: returns the next model or 'reject', and the keys it changed. */
function refLocal(model: Model, twin: Array<[string, LocalEntry | null]>, now: number): { next: Model; changed: Set<string>; echoed: Set<string> } | 'reject' {
  for (const [key, e] of twin) {
    if (e !== null && [e.exp, e.act].some((v) => v !== undefined && !validFor(key, v))) return 'reject'
  }
  const next = clone(model)
  const changed = new Set<string>()
  for (const [key, e] of twin) {
    const cur = next.get(key)
    if (e === null) {
      if (cur && !cur.deleted && cur.optional) {
        next.set(key, {
          optional: cur.optional,
          deleted: true,
          ...(cur.ev && { ev: [cur.ev[0], cur.ev[1] + 1] as V }),
          ...(cur.av && { av: [cur.av[0], cur.av[1] + 1] as V }),
        })
        changed.add(key)
      }
      continue
    }
    const live = cur !== undefined && !cur.deleted
    const m: M = live ? structuredClone(cur) : { optional: cur?.optional ?? e.optional ?? true, deleted: false, ...(cur?.ev && { ev: cur.ev }), ...(cur?.av && { av: cur.av }) }
    if (!live) changed.add(key)
    if (e.exp !== undefined && !(live && m.exp?.[0] === e.exp)) {
      m.exp = [e.exp, now]
      m.ev = [m.ev?.[0] ?? 0, (m.ev?.[1] ?? 0) + 1]
      changed.add(key)
    }
    if (e.act !== undefined && !(live && m.act?.[0] === e.act)) {
      m.act = [e.act, now]
      m.av = [m.av?.[0] ?? 0, (m.av?.[1] ?? 0) + 1]
      changed.add(key)
    }
    if (e.optional === false && m.optional) {
      m.optional = false
      changed.add(key)
    }
    next.set(key, m)
  }
  return { next, changed, echoed: new Set() }
}

const accepts = (stored: V | undefined, req: V | undefined) => req !== undefined && (stored?.[0] ?? 0) <= req[0] && (stored?.[1] ?? 0) <= req[1]

/** Reference sync deal: next model, the keys whose record changed, and the keys echoed to the cloud. */
function refSync(model: Model, twin: Array<[string, SyncEntry]>, now: number): { next: Model; changed: Set<string>; echoed: Set<string> } {
  const next = clone(model)
  const changed = new Set<string>()
  const echoed = new Set<string>()
  for (const [key, e] of twin) {
    const cur = next.get(key)
    if (e.del) {
      if (cur === undefined) {
        next.set(key, { optional: true, deleted: true, ...(e.ev && { ev: e.ev }), ...(e.av && { av: e.av }) })
        changed.add(key)
      } else if (!cur.deleted) {
        const ok = (cur.ev === undefined || e.ev === undefined || accepts(cur.ev, e.ev)) && (cur.av === undefined || e.av === undefined || accepts(cur.av, e.av))
        if (!ok) echoed.add(key)
        else {
          const ev = cur.ev && (e.ev ?? cur.ev)
          const av = cur.av && (e.av ?? cur.av)
          next.set(key, { optional: cur.optional, deleted: true, ...(ev && { ev }), ...(av && { av }) })
          changed.add(key)
        }
      }
      continue
    }
    if (e.exp === undefined) continue // the generator always names expected for an upsert
    if (!validFor(key, e.exp)) continue
    if (!accepts(cur?.ev, e.ev)) {
      if (cur !== undefined) echoed.add(key)
      continue
    }
    const live = cur !== undefined && !cur.deleted
    const m: M = live ? structuredClone(cur) : { optional: cur?.optional ?? true, deleted: false, ...(cur?.av && { av: cur.av }) }
    if (!(live && m.exp?.[0] === e.exp)) m.exp = [e.exp, now]
    m.ev = e.ev
    if (JSON.stringify(toRecord(m)) !== JSON.stringify(cur && toRecord(cur))) changed.add(key)
    next.set(key, m)
  }
  return { next, changed, echoed }
}

function refDelta(model: Model): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, m] of [...model].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const e = m.deleted ? '' : (m.exp?.[0] ?? '')
    if (e !== '' && e !== (m.act?.[0] ?? '')) out[k] = e
  }
  return out
}

// ---- generators ---------------------------------------------------------------------------------

const key = fc.constantFrom(...KEYS)
const value = fc.constantFrom(...VALUES)
const version: fc.Arbitrary<V> = fc.tuple(fc.nat(3), fc.nat(5))
const localEntry: fc.Arbitrary<LocalEntry | null> = fc.option(
  fc.record({ exp: value, act: value, optional: fc.boolean() }, { requiredKeys: [] }),
  { freq: 4, nil: null },
)
const syncEntry: fc.Arbitrary<SyncEntry> = fc.oneof(
  fc.record({ del: fc.constant(false), exp: value, ev: fc.option(version, { nil: undefined }) }),
  fc.record({ del: fc.constant(true), ev: fc.option(version, { nil: undefined }), av: fc.option(version, { nil: undefined }) }),
)
const entries = <T>(entry: fc.Arbitrary<T>) => fc.uniqueArray(fc.tuple(key, entry), { selector: ([k]) => k, minLength: 1, maxLength: 3 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: entries(localEntry).map((twin): Op => ({ kind: 'local', twin })) },
  { weight: 3, arbitrary: entries(syncEntry).map((twin): Op => ({ kind: 'sync', twin })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'get' }) },
)

function localRequest(twin: Array<[string, LocalEntry | null]>): unknown {
  return {
    event_id: 'req',
    twin: Object.fromEntries(
      twin.map(([k, e]) => [
        k,
        e === null
          ? null
          : {
              ...(e.exp !== undefined && { expected: { value: e.exp } }),
              ...(e.act !== undefined && { actual: { value: e.act } }),
              ...(e.optional !== undefined && { optional: e.optional }),
            },
      ]),
    ),
  }
}

function syncRequest(twin: Array<[string, SyncEntry]>): unknown {
  const v = (x: V | undefined) => (x === undefined ? {} : { cloud: x[0], edge: x[1] })
  return {
    event_id: 'sync',
    twin: Object.fromEntries(
      twin.map(([k, e]) => [
        k,
        e.del
          ? { metadata: { type: 'deleted' }, ...(e.ev && { expected_version: v(e.ev) }), ...(e.av && { actual_version: v(e.av) }) }
          : { expected: { value: e.exp }, ...(e.ev && { expected_version: v(e.ev) }) },
      ]),
    ),
  }
}

// ---- properties ---------------------------------------------------------------------------------

describe('twin/merge properties', () => {
  it('random local updates, deletes, gets and cloud syncs follow the reference model (§2.3, §2.4, DESIGN §4.2, §4.3)', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
        let twins: TwinMap = {}
        let model: Model = new Map()
        const newEventId = ids()
        ops.forEach((o, step) => {
          const now = NOW + step
          if (o.kind === 'get') {
            const out = answerTwinGet({ twins, request: { event_id: 'g' }, now })
            assert.ok(out.ok)
            conforms(validResult, out.result, 'get result')
            const live = [...model].filter(([, m]) => !m.deleted).map(([k]) => k).sort()
            assert.deepStrictEqual(Object.keys(out.result.twin), live)
            for (const t of Object.values(out.result.twin)) assert.ok(t !== null && t.expected_version === undefined && t.actual_version === undefined)
            return
          }
          const before = twins
          const snapshot = structuredClone(before)
          const out = applyTwinUpdate({
            twins,
            deal: o.kind === 'local' ? 'local' : 'cloud-sync',
            request: o.kind === 'local' ? localRequest(o.twin) : syncRequest(o.twin),
            now,
            newEventId,
            model: deviceModel,
          })
          assert.deepStrictEqual(before, snapshot, 'the input map is never changed')
          const ref = o.kind === 'local' ? refLocal(model, o.twin, now) : refSync(model, o.twin, now)
          if (ref === 'reject') {
            assert.ok(!out.ok, 'DESIGN §4.3 an invalid value rejects the whole request')
            assert.deepStrictEqual([...new Set(out.problems.map((p) => p.key))], ['n'])
            conforms(validError, out.result, 'error result')
            return
          }
          assert.ok(out.ok, out.ok ? '' : out.reason)
          // stored records
          assert.deepStrictEqual(
            Object.fromEntries(Object.entries(out.twins).sort(([a], [b]) => (a < b ? -1 : 1))),
            Object.fromEntries([...ref.next].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, m]) => [k, toRecord(m)])),
          )
          assert.deepStrictEqual([...out.changed], [...ref.changed].sort())
          if (out.changed.length === 0) assert.equal(out.twins, before, 'DESIGN §4.2 nothing changed: same map')
          // document: exactly the visibly changed keys (§1.5.3)
          const docKeys = [...new Set([...model.keys(), ...ref.next.keys()])].filter((k) => visible(model.get(k)) !== visible(ref.next.get(k))).sort()
          assert.deepStrictEqual(Object.keys(out.document?.twin ?? {}), docKeys)
          if (out.document) conforms(validDocument, out.document, 'document')
          // delta over the whole map (§1.5.2)
          assert.deepStrictEqual(out.delta?.delta ?? {}, refDelta(ref.next))
          if (out.delta) conforms(validDelta, out.delta, 'delta')
          // cloud sync: local changes (with versions), or the edge's state after a lost sync (§2.6)
          const cloudKeys = [...(o.kind === 'local' ? ref.changed : ref.echoed)].sort()
          assert.deepStrictEqual(Object.keys(out.cloudSync?.twin ?? {}), cloudKeys)
          if (out.cloudSync) conforms(validResult, out.cloudSync, 'edge_updated')
          if (o.kind === 'local') {
            assert.ok(out.result)
            conforms(validResult, out.result, 'update result')
            assert.equal(out.result.event_id, 'req')
            for (const t of Object.values(out.result.twin)) assert.ok(t === null || (t.expected_version === undefined && t.actual_version === undefined))
          } else {
            assert.equal(out.result, undefined)
          }
          twins = out.twins
          model = ref.next
        })
      }),
      { numRuns: 300 },
    )
  })

  it('local deals never lower a version and raise edge by exactly one per written side (§2.3)', () => {
    fc.assert(
      fc.property(fc.array(entries(localEntry), { minLength: 1, maxLength: 20 }), (requests) => {
        let twins: TwinMap = {}
        requests.forEach((twin, step) => {
          const out = applyTwinUpdate({ twins, deal: 'local', request: localRequest(twin), now: NOW + step, newEventId: ids() })
          if (!out.ok) return
          for (const k of out.changed) {
            const a = Object.hasOwn(twins, k) ? twins[k] : undefined
            const b: TwinRecord | undefined = out.twins[k]
            assert.ok(b)
            for (const v of ['expectedVersion', 'actualVersion'] as const) {
              const va = a?.[v]
              const vb: TwinRecord['expectedVersion'] = b[v]
              if (vb === undefined) continue
              assert.equal(vb.cloud, va?.cloud ?? 0)
              assert.ok(vb.edge === (va?.edge ?? 0) || vb.edge === (va?.edge ?? 0) + 1)
            }
          }
          twins = out.twins
        })
      }),
      { numRuns: 200 },
    )
  })

  describe('DESIGN §4.4: random and malformed input always yields an outcome, never a throw', () => {
    const stored: TwinMap = {
      a: { expected: { value: '1', timestamp: 1 }, expectedVersion: { cloud: 1, edge: 1 }, optional: true, type: 'string', deleted: false },
      n: { actual: { value: '1', timestamp: 1 }, actualVersion: { cloud: 0, edge: 1 }, optional: false, type: 'int', deleted: false },
      d: { optional: true, type: 'string', deleted: true },
    }
    const nearMissValue = fc.oneof(fc.anything(), fc.record({ value: fc.oneof(fc.string(), fc.anything()), metadata: fc.anything() }, { requiredKeys: [] }))
    const nearMissEntry = fc.oneof(
      fc.constant(null),
      fc.anything(),
      fc.record(
        {
          expected: nearMissValue,
          actual: nearMissValue,
          optional: fc.oneof(fc.boolean(), fc.anything()),
          metadata: fc.oneof(fc.constant(null), fc.record({ type: fc.oneof(fc.constantFrom('deleted', 'int', 'INT', 'bytes', 'string', ''), fc.anything()) }, { requiredKeys: [] })),
          expected_version: fc.oneof(fc.record({ cloud: fc.integer(), edge: fc.integer() }), fc.anything()),
          actual_version: fc.oneof(fc.record({ cloud: fc.nat(), edge: fc.nat() }), fc.anything()),
        },
        { requiredKeys: [] },
      ),
    )
    const nearMissRequest = fc.record(
      {
        event_id: fc.oneof(fc.string(), fc.anything()),
        timestamp: fc.oneof(fc.integer(), fc.anything()),
        twin: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom('a', 'n', 'd', 'constructor', '__proto__', 'x y'), fc.string()), nearMissEntry), fc.anything()),
      },
      { requiredKeys: [] },
    )
    const body = fc.oneof(fc.anything(), fc.json().map((text) => JSON.parse(text) as unknown), nearMissRequest)

    it('applyTwinUpdate, both deals', () => {
      fc.assert(
        fc.property(body, fc.constantFrom('local' as const, 'cloud-sync' as const), (request, deal) => {
          const out = applyTwinUpdate({ twins: stored, request, deal, now: NOW, newEventId: ids(), model: { n: { type: 'INT', maximum: '10', accessMode: 'ReadOnly' } } })
          if (out.ok) {
            if (out.result) conforms(validResult, out.result, 'result')
            if (out.document) conforms(validDocument, out.document, 'document')
            if (out.delta) conforms(validDelta, out.delta, 'delta')
            if (out.cloudSync) conforms(validResult, out.cloudSync, 'cloudSync')
          } else {
            assert.equal(out.result.code, 400)
            assert.ok(out.problems.length > 0)
            conforms(validError, out.result, 'error result')
          }
        }),
        { numRuns: 1000 },
      )
    })

    it('twin get and state update', () => {
      fc.assert(
        fc.property(body, (request) => {
          const get = answerTwinGet({ twins: stored, request, now: NOW })
          conforms(get.ok ? validResult : validError, get.result, 'get result')
          const state = applyStateUpdate({ name: 'd', previous: {}, request, now: NOW, newEventId: ids() })
          conforms(state.ok ? validState : validError, state.result, 'state result')
        }),
        { numRuns: 500 },
      )
    })

    it('parseJson on arbitrary text', () => {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
          const parsed = parseJson(text)
          if (parsed.ok) applyTwinUpdate({ twins: stored, request: parsed.value, deal: 'local', now: NOW, newEventId: ids() })
        }),
      )
    })
  })
})
