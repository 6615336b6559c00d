/** Shared helpers of the twin unit tests. */
import type { TwinRecord } from '../../twin/types.js'

export const NOW = 1_767_225_600_000

/** Sequential fake UUIDs, so event ids in outputs are predictable. */
export function ids(prefix = 'uuid'): () => string {
  let n = 0
  return () => `${prefix}-${++n}`
}

interface RecordSpec {
  expected?: [value: string, timestamp: number]
  actual?: [value: string, timestamp: number]
  ev?: [cloud: number, edge: number]
  av?: [cloud: number, edge: number]
  optional?: boolean
  type?: string
  deleted?: boolean
}

/** A stored twin record from a compact spec. */
export function rec(spec: RecordSpec): TwinRecord {
  const r: TwinRecord = { optional: spec.optional ?? true, type: spec.type ?? 'string', deleted: spec.deleted ?? false }
  if (spec.expected) r.expected = { value: spec.expected[0], timestamp: spec.expected[1] }
  if (spec.actual) r.actual = { value: spec.actual[0], timestamp: spec.actual[1] }
  if (spec.ev) r.expectedVersion = { cloud: spec.ev[0], edge: spec.ev[1] }
  if (spec.av) r.actualVersion = { cloud: spec.av[0], edge: spec.av[1] }
  return r
}

/** The wire form of a value as the edge publishes it. */
export function val(value: string, timestamp: number): { value: string; metadata: { timestamp: number } } {
  return { value, metadata: { timestamp } }
}
