/**
 * The Modbus read planner (mappers/modbus/plan.ts), for one slave's properties: reads of
 * adjacent registers on the same slave are batched into as few requests as the protocol allows
 * (≤ 125 registers, ≤ 2000 coils: Modbus Application Protocol v1.1b3 §6.1–6.4), respecting gaps and
 * per-property cycles (DESIGN.md §8, batching).
 */
import { strict as assert } from 'node:assert'
import { planReads, type ReadItem, type Table } from '../../mappers/modbus/plan.js'

const item = (key: string, offset: number, count = 1, table: Table = 'holding'): ReadItem => ({ key, table, offset, count })

/** requests as `table:offset+count[keys]` */
function plan(items: ReadItem[], maxGap = 0): string[] {
  return planReads(items, { maxGap }).map((r) => `${r.table}:${r.offset}+${r.count}[${r.items.map((i) => i.key).join(',')}]`)
}

describe('Modbus read planner', () => {
  const cases: Array<[string, ReadItem[], number, string[]]> = [
    ['nothing to read', [], 8, []],
    ['one property', [item('a', 10, 2)], 0, ['holding:10+2[a]']],
    ['adjacent registers merge', [item('a', 0), item('b', 1), item('c', 2, 2)], 0, ['holding:0+4[a,b,c]']],
    ['input order does not matter', [item('c', 2, 2), item('a', 0), item('b', 1)], 0, ['holding:0+4[a,b,c]']],
    ['overlapping properties share registers', [item('word', 0, 2), item('hi', 0), item('lo', 1)], 0, ['holding:0+2[word,hi,lo]']],
    ['a gap wider than maxGap splits', [item('a', 0), item('b', 5)], 3, ['holding:0+1[a]', 'holding:5+1[b]']],
    ['a gap up to maxGap is bridged', [item('a', 0), item('b', 4)], 3, ['holding:0+5[a,b]']],
    ['maxGap 0 bridges nothing', [item('a', 0), item('b', 2)], 0, ['holding:0+1[a]', 'holding:2+1[b]']],
    [
      '125 registers per request at most',
      [item('a', 0, 100), item('b', 100, 25), item('c', 125, 1)],
      0,
      ['holding:0+125[a,b]', 'holding:125+1[c]'],
    ],
    ['a bridged gap counts toward 125', [item('a', 0, 120), item('b', 124, 2)], 8, ['holding:0+120[a]', 'holding:124+2[b]']],
    [
      '2000 coils per request at most',
      [item('c0', 0, 1, 'coil'), item('c1999', 1999, 1, 'coil'), item('c2000', 2000, 1, 'coil')],
      2000,
      ['coil:0+2000[c0,c1999]', 'coil:2000+1[c2000]'],
    ],
    ['discrete inputs merge up to 2000 too', [item('d0', 0, 1, 'discrete'), item('d1500', 1500, 1, 'discrete')], 1500, ['discrete:0+1501[d0,d1500]']],
    [
      'different functions never merge',
      [item('h', 0, 1, 'holding'), item('i', 1, 1, 'input'), item('c', 2, 1, 'coil'), item('d', 3, 1, 'discrete')],
      100,
      ['coil:2+1[c]', 'discrete:3+1[d]', 'input:1+1[i]', 'holding:0+1[h]'],
    ],
    [
      'several runs in one table',
      [item('a', 0), item('b', 1), item('c', 50, 2), item('d', 52, 2), item('e', 200, 4)],
      2,
      ['holding:0+2[a,b]', 'holding:50+4[c,d]', 'holding:200+4[e]'],
    ],
  ]
  for (const [name, items, maxGap, expected] of cases) {
    it(name, () => assert.deepEqual(plan(items, maxGap), expected))
  }

  it('100 adjacent properties are one request (DESIGN §8 target)', () => {
    const items = Array.from({ length: 100 }, (_, i) => item(`p${i}`, i))
    assert.equal(planReads(items, { maxGap: 0 }).length, 1)
  })

  it('limits are configurable', () => {
    const items = Array.from({ length: 10 }, (_, i) => item(`p${i}`, i))
    assert.equal(planReads(items, { maxGap: 0, maxRegisters: 4 }).length, 3)
  })

  it('only the properties due are read: a property not handed in is not fetched, even if it lies between', () => {
    // the runtime hands read() what is due in a round; b (slower cycle) is not due here
    assert.deepEqual(plan([item('a', 0), item('c', 2)], 0), ['holding:0+1[a]', 'holding:2+1[c]'])
  })
})
