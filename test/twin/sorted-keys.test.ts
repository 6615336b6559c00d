import assert from 'node:assert/strict'
import fc from 'fast-check'
import { sortedKeys } from '../../twin/sorted-keys.js'

describe('twin sortedKeys', () => {
  it('orders keys as Object.keys(o).sort() does, short and long lists, any UTF-16', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), fc.integer(), { maxKeys: 40 }), (o) => {
        assert.deepEqual(sortedKeys(o), Object.keys(o).sort())
      }),
      { numRuns: 200 },
    )
  })

  it('keeps only the keys `keep` accepts, in order', () => {
    assert.deepEqual(sortedKeys({ b: 1, a: 2, c: 3, '10': 4, '9': 5 }, (k) => k !== 'c'), ['10', '9', 'a', 'b'])
    assert.deepEqual(sortedKeys({}), [])
  })
})
