/**
 * Page limits from the bytes of the pages received (page-size.ts): kube-apiserver takes `limit`
 * as an upper bound and reads it afresh on every continue request, so each page may ask for
 * another count. A page of large objects shrinks the next at once, small ones let it grow by
 * doubling, never below 1 nor above the list's count; a list's first page starts from the
 * largest bytes per object of the last list, or from the largest object Kubernetes stores.
 */
import assert from 'node:assert/strict'
import { LARGEST_OBJECT_BYTES, PAGE_BYTES, PageSizer } from '../../cloud-sync/cloud/page-size.js'

const KiB = 1024
const MiB = 1024 * KiB

describe('page limits sized by bytes (page-size.ts)', () => {
  it('the first list starts as small as the largest object allows: its first page stays within the budget whatever the objects', () => {
    assert.equal(new PageSizer({ maxObjects: 500 }).first(), Math.floor(PAGE_BYTES / LARGEST_OBJECT_BYTES))
    assert.equal(new PageSizer({ maxObjects: 500, budgetBytes: 8 * MiB }).first(), 4)
    assert.equal(new PageSizer({ maxObjects: 500, budgetBytes: 1 * MiB }).first(), 1, 'never below 1')
    assert.equal(new PageSizer({ maxObjects: 1, budgetBytes: 64 * MiB }).first(), 1, 'never above the count')
  })

  it('small objects: the limit doubles page after page up to the count', () => {
    const sizer = new PageSizer({ maxObjects: 500, budgetBytes: 4 * MiB })
    const limits = [sizer.first()]
    for (let i = 0; i < 10; i++) {
      const limit = limits.at(-1) as number
      limits.push(sizer.next(limit, limit, limit * 2 * KiB))
    }
    assert.deepEqual(limits, [2, 4, 8, 16, 32, 64, 128, 256, 500, 500, 500])
  })

  it('a page of large objects shrinks the next to what fits the budget at once, and never to 0', () => {
    const sizer = new PageSizer({ maxObjects: 500, budgetBytes: 4 * MiB })
    sizer.first()
    assert.equal(sizer.next(256, 256, 256 * 100 * KiB), 40, '4 MiB of 100 KiB objects')
    assert.equal(sizer.next(40, 40, 40 * 1.37 * MiB), 2, '4 MiB of 1 MiB Secrets as JSON')
    assert.equal(sizer.next(2, 2, 2 * 5 * MiB), 1, 'objects larger than the budget: one a page')
    assert.equal(sizer.next(1, 1, 100 * KiB), 2, 'then grows again by doubling')
    assert.equal(sizer.next(2, 2, 2 * 100 * KiB), 4)
    assert.equal(sizer.next(4, 4, 4 * 1.5 * MiB), 2)
  })

  it('a page with fewer objects than asked for (a selector filtered them) grows from the limit asked; an empty one changes nothing', () => {
    const sizer = new PageSizer({ maxObjects: 500, budgetBytes: 4 * MiB })
    sizer.first()
    assert.equal(sizer.next(8, 3, 3 * KiB), 16)
    assert.equal(sizer.next(16, 0, 60), 16)
  })

  it('a list starts from the largest bytes per object of the last list that brought objects', () => {
    const sizer = new PageSizer({ maxObjects: 100, budgetBytes: 4 * MiB })
    let limit = sizer.first()
    limit = sizer.next(limit, 2, 2 * 2 * KiB)
    limit = sizer.next(limit, 4, 4 * 512 * KiB)
    sizer.next(limit, 4, 4 * 2 * KiB)
    assert.equal(sizer.first(), 8, 'from the 512 KiB objects, not from the last page')
    assert.equal(sizer.first(), 8, 'a list that failed before its first page taught nothing')
    sizer.next(8, 8, 8 * 8 * KiB)
    assert.equal(sizer.first(), 100, 'the resource’s objects are small now')
  })
})
