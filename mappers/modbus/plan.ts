/**
 * The read planner: which Modbus requests fetch a set of one slave's properties. Pure.
 *
 * Properties in the same table (function code) whose addresses are adjacent, overlap or lie at
 * most `maxGap` units apart are merged into one request, up to the protocol's limits per request
 * (Modbus Application Protocol §6.1-6.4: 2000 coils or discrete inputs, 125 registers). Different
 * tables are never merged. A plan names no slave: devices laid out alike share one. The runtime
 * hands `read()` only the properties due in a round, so each property's collectCycle is respected:
 * a request never widens to fetch a property that is not due.
 */

export type Table = 'coil' | 'discrete' | 'input' | 'holding'

export const MAX_REGISTERS_PER_READ = 125
export const MAX_BITS_PER_READ = 2000

export interface ReadItem {
  readonly key: string
  readonly table: Table
  readonly offset: number
  /** registers, or bits for coil/discrete */
  readonly count: number
}

export interface ReadRequest {
  readonly table: Table
  readonly offset: number
  readonly count: number
  /** the items this request answers, by ascending offset */
  readonly items: readonly ReadItem[]
}

export interface PlanOptions {
  /** unused addresses a request may span between two items (0 = only adjacent or overlapping) */
  readonly maxGap: number
  readonly maxRegisters?: number
  readonly maxBits?: number
}

export const isBitTable = (table: Table): boolean => table === 'coil' || table === 'discrete'

/** the order of a plan's requests */
const TABLES: readonly Table[] = ['coil', 'discrete', 'input', 'holding']

/** Groups items into as few requests as the limits allow; deterministic order (table, offset). */
export function planReads(items: readonly ReadItem[], options: PlanOptions): ReadRequest[] {
  const requests: ReadRequest[] = []
  for (const table of TABLES) {
    const group = items.filter((item) => item.table === table)
    if (group.length === 0) continue
    const limit = isBitTable(table) ? (options.maxBits ?? MAX_BITS_PER_READ) : (options.maxRegisters ?? MAX_REGISTERS_PER_READ)
    requests.push(...mergeGroup(group, limit, options.maxGap))
  }
  return requests
}

function mergeGroup(group: readonly ReadItem[], limit: number, maxGap: number): ReadRequest[] {
  const sorted = [...group].sort((a, b) => a.offset - b.offset || b.count - a.count || (a.key < b.key ? -1 : 1))
  const out: ReadRequest[] = []
  let current: { table: Table; offset: number; end: number; items: ReadItem[] } | undefined
  for (const item of sorted) {
    const end = item.offset + item.count
    if (current !== undefined && item.offset - current.end <= maxGap && Math.max(current.end, end) - current.offset <= limit) {
      current.end = Math.max(current.end, end)
      current.items.push(item)
      continue
    }
    if (current !== undefined) out.push(close(current))
    current = { table: item.table, offset: item.offset, end, items: [item] }
  }
  if (current !== undefined) out.push(close(current))
  return out
}

function close(r: { table: Table; offset: number; end: number; items: ReadItem[] }): ReadRequest {
  return { table: r.table, offset: r.offset, count: r.end - r.offset, items: r.items }
}
