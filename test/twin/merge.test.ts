/**
 * Table tests of applyTwinUpdate. Each row names the rule it checks: `§x.y` = kubeedge-compat.md,
 * `DESIGN §x.y` = tern's deliberate differences. Payloads are compared whole (deepStrictEqual), so
 * every field, and every field left out (`omitempty`), is checked.
 */
import assert from 'node:assert/strict'
import { applyTwinUpdate, type TwinUpdateApplied, type TwinUpdateOutcome, type TwinUpdateRejected } from '../../twin/merge.js'
import type { DeviceModelProperties, TwinMap } from '../../twin/types.js'
import type { Deal } from '../../twin/versions.js'
import { NOW, ids, rec, val } from './fixtures.js'

interface Row {
  readonly rule: string
  readonly twins?: TwinMap
  readonly request: unknown
  readonly deal?: Deal
  readonly model?: DeviceModelProperties
  readonly maxKeys?: number
  readonly check: (out: TwinUpdateOutcome, before: TwinMap) => void
}

function applied(out: TwinUpdateOutcome): TwinUpdateApplied {
  if (!out.ok) assert.fail(`expected success, got ${out.errorCode}: ${out.reason}`)
  return out
}

function refused(out: TwinUpdateOutcome): TwinUpdateRejected {
  if (out.ok) assert.fail('expected a 400')
  assert.equal(out.code, 400)
  assert.equal(out.result.code, 400)
  assert.equal(out.result.errorCode, out.errorCode)
  assert.equal(out.result.reason, out.reason)
  assert.deepEqual(out.result.problems, out.problems)
  return out
}

/** problems as [key, errorCode, path] triples, the stable part */
function codes(out: TwinUpdateRejected | TwinUpdateApplied): Array<[string | undefined, string, string]> {
  const problems = out.ok ? out.skipped : out.problems
  return problems.map((p) => [p.key, p.errorCode, p.path])
}

const T0 = NOW - 60_000
const string = { optional: true, metadata: { type: 'string' } }

function runRows(rows: readonly Row[]): void {
  for (const row of rows) {
    it(row.rule, () => {
      const before = row.twins ?? {}
      const frozen = structuredClone(before)
      const out = applyTwinUpdate({ twins: before, request: row.request, deal: row.deal ?? 'local', now: NOW, newEventId: ids(), model: row.model, maxKeys: row.maxKeys })
      assert.deepStrictEqual(before, frozen, 'the input map is never changed')
      row.check(out, before)
    })
  }
}

describe('twin/merge applyTwinUpdate', () => {
  describe('local deal: add (§2.4a)', () => {
    runRows([
      {
        rule: '§1.5.1 example: success result is byte-exact (field order of the Go struct, omitempty, no versions)',
        request: { event_id: '', timestamp: NOW - 12, twin: { temperature: { expected: { value: '30' }, actual: { value: '25' } } } },
        check: (out) => {
          const a = applied(out)
          assert.equal(
            JSON.stringify(a.result),
            `{"event_id":"","timestamp":${NOW},"twin":{"temperature":{"expected":{"value":"30","metadata":{"timestamp":${NOW}}},"actual":{"value":"25","metadata":{"timestamp":${NOW}}},"optional":true,"metadata":{"type":"string"}}}}`,
          )
        },
      },
      {
        rule: '§2.4a add: stores both sides with edge time, versions {cloud:0,edge:1}, optional true, type string; document last=null; delta; cloud sync with versions (§2.6)',
        request: { event_id: 'e1', twin: { temperature: { expected: { value: '30' }, actual: { value: '25' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.changed, ['temperature'])
          assert.deepStrictEqual(a.twins, {
            temperature: rec({ expected: ['30', NOW], actual: ['25', NOW], ev: [0, 1], av: [0, 1] }),
          })
          const current = { expected: val('30', NOW), actual: val('25', NOW), ...string }
          assert.deepStrictEqual(a.result, { event_id: 'e1', timestamp: NOW, twin: { temperature: current } })
          assert.deepStrictEqual(a.document, { event_id: 'e1', timestamp: NOW, twin: { temperature: { last: null, current } } })
          assert.deepStrictEqual(a.delta, { event_id: 'uuid-1', timestamp: NOW, twin: { temperature: current }, delta: { temperature: '30' } })
          assert.deepStrictEqual(a.cloudSync, {
            event_id: 'uuid-2',
            timestamp: NOW,
            twin: { temperature: { ...current, expected_version: { cloud: 0, edge: 1 }, actual_version: { cloud: 0, edge: 1 } } },
          })
          assert.deepStrictEqual(a.skipped, [])
        },
      },
      {
        rule: '§2.4c/§8.17 timestamps come from now, never from the client',
        request: { event_id: 'e', timestamp: 42, twin: { t: { actual: { value: '1', metadata: { timestamp: 7 } } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.t?.actual, { value: '1', timestamp: NOW })
          assert.deepStrictEqual(a.result?.timestamp, NOW)
          assert.deepStrictEqual(a.result?.twin.t, { actual: val('1', NOW), ...string })
        },
      },
      {
        rule: '§2.4a add: optional and metadata.type come from the request; only the named side gets a version',
        request: { twin: { speed: { actual: { value: '-42' }, optional: false, metadata: { type: 'int' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.speed, rec({ actual: ['-42', NOW], av: [0, 1], optional: false, type: 'int' }))
          assert.deepStrictEqual(a.result?.twin.speed, { actual: val('-42', NOW), optional: false, metadata: { type: 'int' } })
          assert.equal(a.delta, undefined, 'no expected: nothing to steer to')
        },
      },
      {
        rule: '§2.4a add: an entry naming no side creates an empty twin',
        request: { twin: { empty: {} } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.empty, rec({}))
          assert.deepStrictEqual(a.result?.twin.empty, string)
          assert.deepStrictEqual(a.document?.twin.empty, { last: null, current: string })
        },
      },
      {
        rule: '§1.3 event_id absent → results carry ""; unknown fields are ignored as Go does',
        request: { twin: { a: { actual: { value: 'x' }, description: 'ignored' } }, extra: true },
        check: (out) => {
          const a = applied(out)
          assert.equal(a.result?.event_id, '')
          assert.equal(a.document?.event_id, '')
        },
      },
    ])
  })

  describe('local deal: validation (§2.2, §2.5, DESIGN §4.1)', () => {
    runRows([
      {
        rule: 'DESIGN §4.1 any UTF-8 value: spaces, quotes, braces, +, =, %, non-ASCII, emoji are accepted (KubeEdge §2.2 refuses them)',
        request: { twin: { note: { actual: { value: '{"a": 1} +=% grüße 😀' } } } },
        check: (out) => assert.equal(applied(out).twins.note?.actual?.value, '{"a": 1} +=% grüße 😀'),
      },
      {
        rule: 'DESIGN §4.1 4 KiB limit counts UTF-8 bytes: 2048 × "ü" (4096 bytes) accepted',
        request: { twin: { v: { actual: { value: 'ü'.repeat(2048) } } } },
        check: (out) => assert.ok(applied(out).changed.includes('v')),
      },
      {
        rule: 'DESIGN §4.1 4 KiB limit: 4097 bytes refused with TWIN_VALUE_INVALID',
        request: { twin: { v: { actual: { value: 'ü'.repeat(2048) + 'x' } } } },
        check: (out) => assert.deepStrictEqual(codes(refused(out)), [['v', 'TWIN_VALUE_INVALID', '/twin/v/actual/value']]),
      },
      {
        rule: 'DESIGN §4.1 a lone surrogate is not UTF-8: TWIN_VALUE_INVALID',
        request: { twin: { v: { actual: { value: 'a\uD800b' } } } },
        check: (out) => assert.deepStrictEqual(codes(refused(out)), [['v', 'TWIN_VALUE_INVALID', '/twin/v/actual/value']]),
      },
      {
        rule: '§2.2 key rule kept: 1-128 of [A-Za-z0-9-_.,:/@#]; spaces, empty, 129 chars and __proto__ refused',
        request: { twin: { 'a b': {}, '': {}, ['k'.repeat(129)]: {}, ['k'.repeat(128)]: {}, 'ok-_.,:/@#9': {}, ['__proto__']: {} } },
        check: (out) =>
          assert.deepStrictEqual(codes(refused(out)), [
            ['', 'TWIN_KEY_INVALID', '/twin/'],
            ['__proto__', 'TWIN_KEY_INVALID', '/twin/__proto__'],
            ['a b', 'TWIN_KEY_INVALID', '/twin/a b'],
            ['k'.repeat(129), 'TWIN_KEY_INVALID', `/twin/${'k'.repeat(129)}`],
          ]),
      },
      {
        rule: '§2.5 twin type int: base-10 int64 only (float, hex, overflow refused)',
        request: { twin: { a: { actual: { value: '4.2' }, metadata: { type: 'int' } }, b: { actual: { value: '0x10' }, metadata: { type: 'integer' } }, c: { actual: { value: '9223372036854775808' }, metadata: { type: 'INT' } }, d: { actual: { value: '-9223372036854775808' }, metadata: { type: 'int' } } } },
        check: (out) =>
          assert.deepStrictEqual(codes(refused(out)), [
            ['a', 'TWIN_VALUE_INVALID', '/twin/a/actual/value'],
            ['b', 'TWIN_VALUE_INVALID', '/twin/b/actual/value'],
            ['c', 'TWIN_VALUE_INVALID', '/twin/c/actual/value'],
          ]),
      },
      {
        rule: '§2.5 twin type boolean: exactly true/false',
        request: { twin: { a: { actual: { value: 'True' }, metadata: { type: 'boolean' } }, b: { actual: { value: 'false' }, metadata: { type: 'boolean' } } } },
        check: (out) => assert.deepStrictEqual(codes(refused(out)), [['a', 'TWIN_VALUE_INVALID', '/twin/a/actual/value']]),
      },
      {
        rule: 'DESIGN §4.1 model types on twins too: double and bytes accepted (KubeEdge §8.2 refuses them); unknown type refused',
        request: { twin: { a: { actual: { value: '1.5e3' }, metadata: { type: 'double' } }, b: { actual: { value: 'AAEC' }, metadata: { type: 'BYTES' } }, c: { actual: { value: '1' }, metadata: { type: 'decimal' } }, d: { actual: { value: '1' }, metadata: { type: 'deleted' } } } },
        check: (out) =>
          assert.deepStrictEqual(codes(refused(out)), [
            ['c', 'TWIN_TYPE_UNSUPPORTED', '/twin/c/metadata/type'],
            ['d', 'TWIN_TYPE_UNSUPPORTED', '/twin/d/metadata/type'],
          ]),
      },
      {
        rule: 'DESIGN §4.1 model INT with minimum/maximum: in range accepted, out of range TWIN_VALUE_OUT_OF_RANGE, non-int TWIN_VALUE_INVALID',
        model: { speed: { type: 'INT', minimum: '0', maximum: '3000' }, temp: { type: 'INT', minimum: -40 }, level: { type: 'INT' } },
        request: { twin: { speed: { expected: { value: '3001' }, actual: { value: '3000' } }, temp: { actual: { value: '-41' } }, level: { actual: { value: '1.0' } } } },
        check: (out) =>
          assert.deepStrictEqual(codes(refused(out)), [
            ['level', 'TWIN_VALUE_INVALID', '/twin/level/actual/value'],
            ['speed', 'TWIN_VALUE_OUT_OF_RANGE', '/twin/speed/expected/value'],
            ['temp', 'TWIN_VALUE_OUT_OF_RANGE', '/twin/temp/actual/value'],
          ]),
      },
      {
        rule: 'DESIGN §4.1 model FLOAT/DOUBLE: finite decimal numbers only',
        model: { a: { type: 'FLOAT' }, b: { type: 'DOUBLE' }, c: { type: 'DOUBLE' }, d: { type: 'float', maximum: '1.5' }, e: { type: 'FLOAT', minimum: 'not a number' } },
        request: { twin: { a: { actual: { value: 'NaN' } }, b: { actual: { value: 'Infinity' } }, c: { actual: { value: '1e400' } }, d: { actual: { value: '1.50001' } }, e: { actual: { value: '-.5e-3' } } } },
        check: (out) =>
          assert.deepStrictEqual(codes(refused(out)), [
            ['a', 'TWIN_VALUE_INVALID', '/twin/a/actual/value'],
            ['b', 'TWIN_VALUE_INVALID', '/twin/b/actual/value'],
            ['c', 'TWIN_VALUE_INVALID', '/twin/c/actual/value'],
            ['d', 'TWIN_VALUE_OUT_OF_RANGE', '/twin/d/actual/value'],
          ]),
      },
      {
        rule: 'DESIGN §4.1 model BOOLEAN, BYTES (base64), STRING',
        model: { on: { type: 'BOOLEAN' }, blob: { type: 'BYTES' }, bad: { type: 'BYTES' }, name: { type: 'STRING', maximum: 1 } },
        request: { twin: { on: { actual: { value: 'TRUE' } }, blob: { actual: { value: 'aGVsbG8=' } }, bad: { actual: { value: 'aGVsbG8' } }, name: { actual: { value: 'anything at all' } } } },
        check: (out) =>
          assert.deepStrictEqual(codes(refused(out)), [
            ['bad', 'TWIN_VALUE_INVALID', '/twin/bad/actual/value'],
            ['on', 'TWIN_VALUE_INVALID', '/twin/on/actual/value'],
          ]),
      },
      {
        rule: 'DESIGN §4.1 a value must fit both the twin type and the model type',
        twins: { n: rec({ actual: ['1', T0], av: [0, 1], type: 'int' }) },
        model: { n: { type: 'STRING' } },
        request: { twin: { n: { actual: { value: 'abc' } } } },
        check: (out) => assert.deepStrictEqual(codes(refused(out)), [['n', 'TWIN_VALUE_INVALID', '/twin/n/actual/value']]),
      },
      {
        rule: 'DESIGN §4.1 accessMode ReadOnly: expected refused with TWIN_READ_ONLY in a local deal',
        model: { temperature: { type: 'FLOAT', accessMode: 'ReadOnly' } },
        request: { twin: { temperature: { expected: { value: '20' }, actual: { value: '21.5' } } } },
        check: (out) => assert.deepStrictEqual(codes(refused(out)), [['temperature', 'TWIN_READ_ONLY', '/twin/temperature/expected']]),
      },
      {
        rule: 'DESIGN §4.1 accessMode ReadOnly: reporting actual is fine',
        model: { temperature: { type: 'FLOAT', accessMode: 'ReadOnly' } },
        request: { twin: { temperature: { actual: { value: '21.5' } } } },
        check: (out) => assert.deepStrictEqual(applied(out).changed, ['temperature']),
      },
      {
        rule: '§2.2 empty string actual is a value of a string twin',
        request: { twin: { s: { actual: { value: '' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.s?.actual, { value: '', timestamp: NOW })
          assert.deepStrictEqual(a.result?.twin.s, { actual: val('', NOW), ...string })
        },
      },
    ])
  })

  describe('local deal: an expected of "" is no value (§2.11: KubeEdge stores it as none; §1.5.2)', () => {
    runRows([
      {
        rule: 'on a new twin: the twin is made with no expected side, in the result, the document and the map',
        request: { event_id: 'e', twin: { s: { expected: { value: '' }, actual: { value: 'on' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins, { s: rec({ actual: ['on', NOW], av: [0, 1] }) })
          assert.deepStrictEqual(a.result?.twin, { s: { actual: val('on', NOW), ...string } })
          assert.deepStrictEqual(a.document?.twin, { s: { last: null, current: { actual: val('on', NOW), ...string } } })
          assert.equal(a.delta, undefined)
        },
      },
      {
        rule: 'alone on a new twin: the twin exists with neither side',
        request: { twin: { s: { expected: { value: '' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins, { s: rec({}) })
          assert.deepStrictEqual(a.result?.twin, { s: string })
        },
      },
      {
        rule: 'on a twin with an expected value: clears it (edge version + 1); the document shows it gone; no delta is left',
        twins: { s: rec({ expected: ['30', T0], actual: ['25', T0], ev: [2, 3], av: [0, 4] }) },
        request: { twin: { s: { expected: { value: '' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins, { s: rec({ actual: ['25', T0], ev: [2, 4], av: [0, 4] }) })
          assert.deepStrictEqual(a.document?.twin.s, { last: { expected: val('30', T0), actual: val('25', T0), ...string }, current: { actual: val('25', T0), ...string } })
          assert.equal(a.delta, undefined)
        },
      },
      {
        rule: 'is not a value to validate, nor a write to a ReadOnly property',
        model: { n: { type: 'INT', accessMode: 'ReadOnly' } },
        request: { twin: { n: { expected: { value: '' }, actual: { value: '5' }, metadata: { type: 'int' } } } },
        check: (out) => assert.deepStrictEqual(applied(out).twins.n, rec({ actual: ['5', NOW], av: [0, 1], type: 'int' })),
      },
      {
        rule: 'in a cloud sync: clears the expected value and takes the versions',
        deal: 'cloud-sync',
        twins: { s: rec({ expected: ['30', T0], ev: [1, 0] }) },
        request: { twin: { s: { expected: { value: '' }, expected_version: { cloud: 2, edge: 0 } } } },
        check: (out) => assert.deepStrictEqual(applied(out).twins, { s: rec({ ev: [2, 0] }) }),
      },
    ])
  })

  describe('local deal: twins per device (config twin.maxKeysPerDevice)', () => {
    const three = { a: rec({ actual: ['1', T0], av: [0, 1] }), b: rec({ actual: ['1', T0], av: [0, 1] }), gone: rec({ av: [0, 2], deleted: true }) }
    runRows([
      {
        rule: 'a request adding keys past the limit is refused whole; every new key is named; tombstones count',
        twins: three,
        maxKeys: 4,
        request: { event_id: 'k', twin: { a: { actual: { value: '2' } }, c: { actual: { value: '1' } }, d: { actual: { value: '1' } } } },
        check: (out) => {
          const r = refused(out)
          assert.equal(r.errorCode, 'TWIN_TOO_MANY_KEYS')
          assert.deepStrictEqual(codes(r), [
            ['c', 'TWIN_TOO_MANY_KEYS', '/twin/c'],
            ['d', 'TWIN_TOO_MANY_KEYS', '/twin/d'],
          ])
          assert.equal(r.result.event_id, 'k')
        },
      },
      {
        rule: 'up to the limit keys are added; at it, existing twins (and tombstones) are still updated',
        twins: three,
        maxKeys: 4,
        request: { twin: { c: { actual: { value: '1' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.changed, ['c'])
          const full = applyTwinUpdate({ twins: a.twins, request: { twin: { a: { actual: { value: '9' } }, gone: { actual: { value: 'back' } } } }, deal: 'local', now: NOW, newEventId: ids(), maxKeys: 4 })
          assert.deepStrictEqual(applied(full).changed, ['a', 'gone'])
        },
      },
      {
        rule: 'a cloud sync (the Device spec) is not limited',
        deal: 'cloud-sync',
        twins: three,
        maxKeys: 3,
        request: { twin: { c: { expected: { value: '1' }, expected_version: { cloud: 1, edge: 0 } } } },
        check: (out) => assert.deepStrictEqual(applied(out).changed, ['c']),
      },
    ])
  })

  describe('local deal: all-or-nothing and malformed requests (DESIGN §4.3, §4.4, §8.14)', () => {
    runRows([
      {
        rule: 'DESIGN §4.3 one bad key rejects the whole request; the error names every rejected key and why',
        twins: { ok: rec({ actual: ['1', T0], av: [0, 1] }) },
        model: { ro: { accessMode: 'ReadOnly' }, n: { type: 'INT' } },
        request: { event_id: 'e9', twin: { ok: { actual: { value: '2' } }, ro: { expected: { value: 'x' } }, n: { actual: { value: 'x' } } } },
        check: (out) => {
          const r = refused(out)
          assert.equal(r.errorCode, 'TWIN_BAD_REQUEST', 'mixed codes summarise as TWIN_BAD_REQUEST')
          assert.deepStrictEqual(codes(r), [
            ['n', 'TWIN_VALUE_INVALID', '/twin/n/actual/value'],
            ['ro', 'TWIN_READ_ONLY', '/twin/ro/expected'],
          ])
          assert.equal(r.result.event_id, 'e9')
          assert.equal(r.result.timestamp, NOW)
          assert.match(r.reason, /twin "n"/)
          assert.match(r.reason, /twin "ro"/)
        },
      },
      {
        rule: 'DESIGN §4.3 a single kind of problem gives its own code',
        request: { twin: { a: { actual: { value: 'x' }, metadata: { type: 'int' } }, b: { actual: { value: 'y' }, metadata: { type: 'int' } } } },
        check: (out) => assert.equal(refused(out).errorCode, 'TWIN_VALUE_INVALID'),
      },
      ...(
        [
          ['body is an array', [], '/'],
          ['body is a string', 'twin', '/'],
          ['body is null', null, '/'],
          ['body is empty', undefined, '/'],
          ['§2.2 twin missing', { event_id: 'e' }, '/twin'],
          ['§2.2 twin null', { twin: null }, '/twin'],
          ['twin is an array', { twin: [] }, '/twin'],
          ['event_id is a number', { event_id: 1, twin: {} }, '/event_id'],
          ['timestamp is a string', { timestamp: 'now', twin: {} }, '/timestamp'],
          ['§8.14 entry is a number', { twin: { a: 5 } }, '/twin/a'],
          ['§8.14 entry is a string', { twin: { a: 'x' } }, '/twin/a'],
          ['§8.14 expected without value', { twin: { a: { expected: {} } } }, '/twin/a/expected/value'],
          ['§8.14 actual: null', { twin: { a: { actual: null } } }, '/twin/a/actual'],
          ['§8.14 metadata: null', { twin: { a: { metadata: null } } }, '/twin/a/metadata'],
          ['value is a number', { twin: { a: { actual: { value: 25 } } } }, '/twin/a/actual/value'],
          ['optional is a string', { twin: { a: { optional: 'false' } } }, '/twin/a/optional'],
          ['metadata.type is a number', { twin: { a: { metadata: { type: 1 } } } }, '/twin/a/metadata/type'],
          ['value metadata.timestamp is a string', { twin: { a: { actual: { value: '1', metadata: { timestamp: 'x' } } } } }, '/twin/a/actual/metadata/timestamp'],
          ['version vector without edge', { twin: { a: { actual: { value: '1' }, actual_version: { cloud: 1 } } } }, '/twin/a/actual_version/edge'],
        ] as const
      ).map(
        ([what, request, path]): Row => ({
          rule: `DESIGN §4.4 malformed → 400 TWIN_BAD_REQUEST, never a throw: ${what}`,
          twins: { a: rec({ actual: ['1', T0], av: [0, 1] }) },
          request,
          check: (out) => {
            const r = refused(out)
            assert.equal(r.errorCode, 'TWIN_BAD_REQUEST')
            assert.ok(r.problems.some((p) => p.path === path), `a problem at ${path}: ${JSON.stringify(r.problems)}`)
          },
        }),
      ),
      {
        rule: 'DESIGN §4.4 the error result echoes a usable event_id even when the body is bad',
        request: { event_id: 'keep-me', twin: 'nope' },
        check: (out) => assert.equal(refused(out).result.event_id, 'keep-me'),
      },
      {
        rule: 'DESIGN §4.3 an empty twin map is a successful no-op',
        twins: { a: rec({ expected: ['1', T0], ev: [0, 1] }) },
        request: { event_id: 'e', twin: {} },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(a.changed, [])
          assert.deepStrictEqual(a.result, { event_id: 'e', timestamp: NOW, twin: {} })
          assert.equal(a.document, undefined)
          assert.equal(a.cloudSync, undefined)
          assert.deepStrictEqual(a.delta?.delta, { a: '1' }, '§1.5.2 delta follows every deal')
        },
      },
    ])
  })

  describe('local deal: update an existing twin (§2.4c)', () => {
    const temp = rec({ expected: ['30', T0], actual: ['25', T0], ev: [0, 3], av: [1, 7] })
    runRows([
      {
        rule: '§2.3 local deal: edge + 1 on the written side only, cloud counter kept; result lists only the named side plus optional and metadata',
        twins: { temperature: temp },
        request: { event_id: 'e2', twin: { temperature: { actual: { value: '30' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.temperature, rec({ expected: ['30', T0], actual: ['30', NOW], ev: [0, 3], av: [1, 8] }))
          assert.deepStrictEqual(a.result, { event_id: 'e2', timestamp: NOW, twin: { temperature: { actual: val('30', NOW), ...string } } })
          assert.deepStrictEqual(a.document, {
            event_id: 'e2',
            timestamp: NOW,
            twin: {
              temperature: {
                last: { expected: val('30', T0), actual: val('25', T0), ...string },
                current: { expected: val('30', T0), actual: val('30', NOW), ...string },
              },
            },
          })
          assert.equal(a.delta, undefined, '§1.5.2 converged: no delta')
          assert.deepStrictEqual(a.cloudSync?.twin.temperature, {
            expected: val('30', T0),
            actual: val('30', NOW),
            ...string,
            expected_version: { cloud: 0, edge: 3 },
            actual_version: { cloud: 1, edge: 8 },
          })
        },
      },
      {
        rule: '§2.3 local deal ignores the request versions',
        twins: { temperature: temp },
        request: { twin: { temperature: { expected: { value: '31' }, expected_version: { cloud: 99, edge: 99 } } } },
        check: (out) => assert.deepStrictEqual(applied(out).twins.temperature?.expectedVersion, { cloud: 0, edge: 4 }),
      },
      {
        rule: 'DESIGN §4.2 identical report is a no-op: no version bump, no document, no cloud sync; the result still answers',
        twins: { temperature: temp },
        request: { event_id: 'same', twin: { temperature: { actual: { value: '25' } } } },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(a.changed, [])
          assert.equal(a.document, undefined)
          assert.equal(a.cloudSync, undefined)
          assert.deepStrictEqual(a.result, { event_id: 'same', timestamp: NOW, twin: { temperature: { actual: val('25', T0), ...string } } })
          assert.deepStrictEqual(a.delta?.delta, { temperature: '30' }, '§1.5.2 a pending delta is re-published after every deal')
        },
      },
      {
        rule: 'DESIGN §4.2 identical expected with a new actual: only actual changes',
        twins: { temperature: temp },
        request: { twin: { temperature: { expected: { value: '30' }, actual: { value: '26' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.temperature, rec({ expected: ['30', T0], actual: ['26', NOW], ev: [0, 3], av: [1, 8] }))
          assert.deepStrictEqual(a.result?.twin.temperature, { expected: val('30', T0), actual: val('26', NOW), ...string })
        },
      },
      {
        rule: '§2.4c optional may go from true to false',
        twins: { temperature: temp },
        request: { twin: { temperature: { optional: false } } },
        check: (out) => {
          const a = applied(out)
          assert.equal(a.twins.temperature?.optional, false)
          assert.deepStrictEqual(a.result?.twin.temperature, { optional: false, metadata: { type: 'string' } })
          assert.deepStrictEqual(a.document?.twin.temperature?.current?.optional, false)
        },
      },
      {
        rule: '§2.4c optional never goes back from false to true',
        twins: { temperature: rec({ actual: ['1', T0], av: [0, 1], optional: false }) },
        request: { twin: { temperature: { optional: true } } },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(a.result?.twin, {}, 'nothing changed and no side named: no entry')
        },
      },
      {
        rule: '§2.4c the type of a live twin never changes through an update; values are checked against the stored type',
        twins: { n: rec({ actual: ['1', T0], av: [0, 1], type: 'int' }) },
        request: { twin: { n: { actual: { value: 'abc' }, metadata: { type: 'string' } } } },
        check: (out) => assert.deepStrictEqual(codes(refused(out)), [['n', 'TWIN_VALUE_INVALID', '/twin/n/actual/value']]),
      },
      {
        rule: '§2.4c a differing metadata.type on a live twin is ignored',
        twins: { s: rec({ actual: ['a', T0], av: [0, 1] }) },
        request: { twin: { s: { actual: { value: 'b' }, metadata: { type: 'int' } } } },
        check: (out) => assert.equal(applied(out).twins.s?.type, 'string'),
      },
      {
        rule: '§2.4c keys named constructor/toString are ordinary twins',
        twins: { constructor: rec({ actual: ['a', T0], av: [0, 1] }) },
        request: { twin: { constructor: { actual: { value: 'b' } }, toString: { actual: { value: 'c' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.changed, ['constructor', 'toString'])
          assert.equal(new Map(Object.entries(a.document?.twin ?? {})).get('toString')?.last, null)
        },
      },
    ])
  })

  describe('local deal: delete (§2.4b)', () => {
    runRows([
      {
        rule: '§2.4b null deletes an optional twin: tombstone keeps versions with edge + 1; result null; document current null; cloud sync carries metadata.type deleted',
        twins: { temperature: rec({ expected: ['30', T0], actual: ['25', T0], ev: [2, 3], av: [0, 7] }), other: rec({ expected: ['1', T0], ev: [0, 1] }) },
        request: { event_id: 'del', twin: { temperature: null } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.changed, ['temperature'])
          assert.deepStrictEqual(a.twins.temperature, rec({ ev: [2, 4], av: [0, 8], deleted: true }))
          assert.deepStrictEqual(a.result, { event_id: 'del', timestamp: NOW, twin: { temperature: null } })
          assert.deepStrictEqual(a.document, {
            event_id: 'del',
            timestamp: NOW,
            twin: { temperature: { last: { expected: val('30', T0), actual: val('25', T0), ...string }, current: null } },
          })
          assert.deepStrictEqual(a.cloudSync?.twin, {
            temperature: { optional: true, metadata: { type: 'deleted' }, expected_version: { cloud: 2, edge: 4 }, actual_version: { cloud: 0, edge: 8 } },
          })
          assert.deepStrictEqual(a.delta?.delta, { other: '1' }, '§1.5.2 delta covers the whole map')
          assert.equal(a.delta?.twin.temperature, undefined)
        },
      },
      {
        rule: '§2.4b a side without a version vector stays without one in the tombstone',
        twins: { a: rec({ actual: ['1', T0], av: [0, 1] }) },
        request: { twin: { a: null } },
        check: (out) => assert.deepStrictEqual(applied(out).twins.a, rec({ av: [0, 2], deleted: true })),
      },
      {
        rule: '§2.4b null on a non-optional twin is a silent no-op (nothing in the result)',
        twins: { fixed: rec({ actual: ['1', T0], av: [0, 1], optional: false }) },
        request: { twin: { fixed: null } },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(a.result?.twin, {})
          assert.equal(a.document, undefined)
          assert.equal(a.cloudSync, undefined)
        },
      },
      {
        rule: '§2.4a/§2.4b null for an unknown or an already deleted twin is a no-op (KubeEdge stops with an internal error)',
        twins: { gone: rec({ ev: [0, 2], deleted: true }) },
        request: { twin: { gone: null, never: null } },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(a.result?.twin, {})
          assert.equal(a.document, undefined)
        },
      },
      {
        rule: '§2.4c re-creating a deleted twin: versions continue from the tombstone, type from the request, document last null',
        twins: { t: rec({ ev: [1, 4], deleted: true, type: 'string' }) },
        request: { twin: { t: { expected: { value: '7' }, metadata: { type: 'int' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.t, rec({ expected: ['7', NOW], ev: [1, 5], type: 'int' }))
          assert.deepStrictEqual(a.document?.twin.t, { last: null, current: { expected: val('7', NOW), optional: true, metadata: { type: 'int' } } })
          assert.deepStrictEqual(a.result?.twin.t, { expected: val('7', NOW), optional: true, metadata: { type: 'int' } })
        },
      },
      {
        rule: '§2.4c re-creating without metadata resets the type to string',
        twins: { t: rec({ ev: [0, 2], deleted: true, type: 'int' }) },
        request: { twin: { t: { expected: { value: 'x' } } } },
        check: (out) => assert.equal(applied(out).twins.t?.type, 'string'),
      },
    ])
  })

  describe('delta over the whole twin map (§1.5.2)', () => {
    runRows([
      {
        rule: '§1.5.2 an untouched twin with a pending expected is in the delta; missing actual counts as ""; tombstones and empty expected are left out',
        twins: {
          pending: rec({ expected: ['on', T0], actual: ['off', T0], ev: [0, 1], av: [0, 1] }),
          noActual: rec({ expected: ['5', T0], ev: [0, 1] }),
          converged: rec({ expected: ['1', T0], actual: ['1', T0], ev: [0, 1], av: [0, 1] }),
          blank: rec({ expected: ['', T0], actual: ['x', T0], ev: [0, 1], av: [0, 1] }),
          tomb: rec({ ev: [0, 2], deleted: true }),
        },
        request: { twin: { other: { actual: { value: 'x' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.delta, {
            event_id: 'uuid-1',
            timestamp: NOW,
            twin: {
              converged: { expected: val('1', T0), actual: val('1', T0), ...string },
              noActual: { expected: val('5', T0), ...string },
              pending: { expected: val('on', T0), actual: val('off', T0), ...string },
            },
            delta: { noActual: '5', pending: 'on' },
          })
        },
      },
      {
        rule: '§1.5.2 no delta when every twin has converged',
        twins: { a: rec({ expected: ['1', T0], actual: ['0', T0], ev: [0, 1], av: [0, 1] }) },
        request: { twin: { a: { actual: { value: '1' } } } },
        check: (out) => assert.equal(applied(out).delta, undefined),
      },
    ])
  })

  describe('cloud sync deal (§2.3, §2.4, §1.5.5)', () => {
    const speed = rec({ expected: ['1000', T0], actual: ['1000', T0], ev: [3, 5], av: [0, 9] })
    runRows([
      {
        rule: '§2.3 sync accepted: request versions copied, value stored with edge time; no result; document; no cloud sync',
        deal: 'cloud-sync',
        twins: { speed },
        request: { event_id: 'c1', twin: { speed: { expected: { value: '1200' }, expected_version: { cloud: 4, edge: 5 } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.speed, rec({ expected: ['1200', NOW], actual: ['1000', T0], ev: [4, 5], av: [0, 9] }))
          assert.equal(a.result, undefined)
          assert.deepStrictEqual(a.document, {
            event_id: 'c1',
            timestamp: NOW,
            twin: {
              speed: {
                last: { expected: val('1000', T0), actual: val('1000', T0), ...string },
                current: { expected: val('1200', NOW), actual: val('1000', T0), ...string },
              },
            },
          })
          assert.deepStrictEqual(a.delta?.delta, { speed: '1200' }, 'DESIGN §5 the new desired value reaches the mapper')
          assert.equal(a.cloudSync, undefined)
          assert.deepStrictEqual(a.skipped, [])
        },
      },
      {
        rule: '§2.3 dealVersion: cloud sync with stale cloud version is rejected; the edge state goes back with versions',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { expected: { value: '1200' }, expected_version: { cloud: 2, edge: 5 } } } },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(codes(a), [['speed', 'TWIN_VERSION_CONFLICT', '/twin/speed/expected_version']])
          assert.equal(a.document, undefined)
          assert.deepStrictEqual(a.cloudSync, {
            event_id: 'uuid-1',
            timestamp: NOW,
            twin: {
              speed: {
                expected: val('1000', T0),
                actual: val('1000', T0),
                ...string,
                expected_version: { cloud: 3, edge: 5 },
                actual_version: { cloud: 0, edge: 9 },
              },
            },
          })
        },
      },
      {
        rule: '§2.3 dealVersion: edge ahead (the sync has not seen every edge write) is rejected',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { expected: { value: '1200' }, expected_version: { cloud: 9, edge: 4 } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(codes(a), [['speed', 'TWIN_VERSION_CONFLICT', '/twin/speed/expected_version']])
          assert.ok(a.cloudSync?.twin.speed)
        },
      },
      {
        rule: '§2.3 after a lost expected, the actual of the same twin is not applied',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { expected: { value: '1' }, expected_version: { cloud: 0, edge: 0 }, actual: { value: '2' }, actual_version: { cloud: 9, edge: 9 } } } },
        check: (out, before) => assert.equal(applied(out).twins, before),
      },
      {
        rule: '§2.3 sync without a version vector: an existing twin is echoed back (TWIN_VERSION_MISSING)',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { expected: { value: '1200' } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(codes(a), [['speed', 'TWIN_VERSION_MISSING', '/twin/speed/expected_version']])
          assert.ok(a.cloudSync?.twin.speed)
        },
      },
      {
        rule: '§2.4a sync add without a version vector is skipped silently (no echo), other keys still apply',
        deal: 'cloud-sync',
        request: { twin: { a: { expected: { value: '1' } }, b: { expected: { value: '2' }, expected_version: { cloud: 1, edge: 0 } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(codes(a), [['a', 'TWIN_VERSION_MISSING', '/twin/a/expected_version']])
          assert.equal(a.cloudSync, undefined)
          assert.deepStrictEqual(a.changed, ['b'])
          assert.deepStrictEqual(a.twins.b, rec({ expected: ['2', NOW], ev: [1, 0] }))
        },
      },
      {
        rule: '§2.4a sync: an invalid value skips that key only (no 400)',
        deal: 'cloud-sync',
        model: { n: { type: 'INT' } },
        request: { twin: { n: { expected: { value: 'x' }, expected_version: { cloud: 1, edge: 0 } }, s: { expected: { value: 'y' }, expected_version: { cloud: 1, edge: 0 } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(codes(a), [['n', 'TWIN_VALUE_INVALID', '/twin/n/expected/value']])
          assert.deepStrictEqual(a.changed, ['s'])
        },
      },
      {
        rule: 'DESIGN §4.1 ReadOnly restricts local deals only: the cloud may still sync expected',
        deal: 'cloud-sync',
        model: { t: { accessMode: 'ReadOnly' } },
        request: { twin: { t: { expected: { value: '1' }, expected_version: { cloud: 1, edge: 0 } } } },
        check: (out) => assert.deepStrictEqual(applied(out).changed, ['t']),
      },
      {
        rule: 'DESIGN §4.2 sync of an identical value with newer versions: versions stored, no document',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { expected: { value: '1000' }, expected_version: { cloud: 4, edge: 5 } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.changed, ['speed'])
          assert.deepStrictEqual(a.twins.speed, rec({ expected: ['1000', T0], actual: ['1000', T0], ev: [4, 5], av: [0, 9] }))
          assert.equal(a.document, undefined)
        },
      },
      {
        rule: 'DESIGN §5 resync of an unchanged spec with the same versions is a no-op',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { expected: { value: '1000' }, expected_version: { cloud: 3, edge: 5 } } } },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(a.changed, [])
          assert.equal(a.document, undefined)
          assert.equal(a.cloudSync, undefined)
        },
      },
      {
        rule: '§2.4b sync delete with metadata.type deleted and accepted versions: tombstone with the request versions',
        deal: 'cloud-sync',
        twins: { speed },
        request: { event_id: 'cd', twin: { speed: { metadata: { type: 'deleted' }, expected_version: { cloud: 4, edge: 5 }, actual_version: { cloud: 0, edge: 9 } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.twins.speed, rec({ ev: [4, 5], av: [0, 9], deleted: true }))
          assert.deepStrictEqual(a.document?.twin.speed?.current, null)
          assert.equal(a.cloudSync, undefined)
          assert.equal(a.result, undefined)
        },
      },
      {
        rule: '§2.4b sync delete without versions (KubeEdge deal type 3) is accepted and keeps the stored versions',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { metadata: { type: 'deleted' } } } },
        check: (out) => assert.deepStrictEqual(applied(out).twins.speed, rec({ ev: [3, 5], av: [0, 9], deleted: true })),
      },
      {
        rule: '§2.4b sync delete with a losing version is refused and echoed',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { metadata: { type: 'deleted' }, actual_version: { cloud: 0, edge: 8 } } } },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(codes(a), [['speed', 'TWIN_VERSION_CONFLICT', '/twin/speed/actual_version']])
          assert.ok(a.cloudSync?.twin.speed)
        },
      },
      {
        rule: '§2.4a sync tombstone for an unknown key stores the versions; nothing visible, so no document',
        deal: 'cloud-sync',
        request: { twin: { old: { metadata: { type: 'deleted' }, expected_version: { cloud: 2, edge: 3 } } } },
        check: (out) => {
          const a = applied(out)
          assert.deepStrictEqual(a.changed, ['old'])
          assert.deepStrictEqual(a.twins.old, rec({ ev: [2, 3], deleted: true }))
          assert.equal(a.document, undefined)
        },
      },
      {
        rule: '§8.14 sync: a null entry is skipped with TWIN_BAD_REQUEST (KubeEdge dereferences it)',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: null } },
        check: (out, before) => {
          const a = applied(out)
          assert.equal(a.twins, before)
          assert.deepStrictEqual(codes(a), [['speed', 'TWIN_BAD_REQUEST', '/twin/speed']])
        },
      },
      {
        rule: '§8.14 sync: an entry for an existing twin without metadata is an ordinary update, not a crash',
        deal: 'cloud-sync',
        twins: { speed },
        request: { twin: { speed: { optional: false } } },
        check: (out) => assert.equal(applied(out).twins.speed?.optional, false),
      },
      {
        rule: 'DESIGN §4.4 sync: a malformed body is refused as a whole (the caller logs it)',
        deal: 'cloud-sync',
        request: { twin: { a: { expected: {} } } },
        check: (out) => assert.equal(refused(out).errorCode, 'TWIN_BAD_REQUEST'),
      },
    ])
  })

  describe('DESIGN §5 cloud ownership with the sync deal', () => {
    it('a local change to a cloud-owned expected is refused on resync, echoed, then reverted when the cloud re-asserts with the edge counter it saw', () => {
      const newEventId = ids()
      // the cloud sets the desired value (spec generation 1, has seen edge 0)
      let twins: TwinMap = {}
      const set = applied(applyTwinUpdate({ twins, deal: 'cloud-sync', now: NOW, newEventId, request: { twin: { speed: { expected: { value: '1200' }, expected_version: { cloud: 1, edge: 0 } } } } }))
      twins = set.twins
      // offline: a local app changes it
      const local = applied(applyTwinUpdate({ twins, deal: 'local', now: NOW + 1, newEventId, request: { twin: { speed: { expected: { value: '900' } } } } }))
      twins = local.twins
      assert.deepStrictEqual(twins.speed?.expectedVersion, { cloud: 1, edge: 1 })
      // reconnect: the cloud re-asserts the spec with what it had seen
      const resync = applied(applyTwinUpdate({ twins, deal: 'cloud-sync', now: NOW + 2, newEventId, request: { twin: { speed: { expected: { value: '1200' }, expected_version: { cloud: 1, edge: 0 } } } } }))
      assert.equal(resync.twins, twins)
      assert.deepStrictEqual(resync.cloudSync?.twin.speed?.expected, val('900', NOW + 1))
      assert.deepStrictEqual(resync.cloudSync?.twin.speed?.expected_version, { cloud: 1, edge: 1 })
      // the cloud saw edge 1 and a value that is not the spec: it re-asserts on top of it
      const reassert = applied(applyTwinUpdate({ twins, deal: 'cloud-sync', now: NOW + 3, newEventId, request: { twin: { speed: { expected: { value: '1200' }, expected_version: { cloud: 1, edge: 1 } } } } }))
      assert.deepStrictEqual(reassert.twins.speed?.expected, { value: '1200', timestamp: NOW + 3 })
      assert.deepStrictEqual(reassert.delta?.delta, { speed: '1200' })
    })
  })
})
