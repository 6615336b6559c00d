import assert from 'node:assert/strict'
import { dealVersion, type Deal } from '../../twin/versions.js'
import type { TwinVersion } from '../../schemas/twin.js'

describe('twin/versions dealVersion (kubeedge-compat §2.3)', () => {
  const rows: Array<[rule: string, current: TwinVersion | undefined, requested: TwinVersion | undefined, deal: Deal, expected: TwinVersion | string]> = [
    ['local: edge + 1 from {0,0} for a side never written', undefined, undefined, 'local', { cloud: 0, edge: 1 }],
    ['local: edge + 1, cloud kept', { cloud: 4, edge: 7 }, undefined, 'local', { cloud: 4, edge: 8 }],
    ['local: request versions ignored', { cloud: 4, edge: 7 }, { cloud: 99, edge: 0 }, 'local', { cloud: 4, edge: 8 }],
    ['sync: version missing is rejected', { cloud: 0, edge: 0 }, undefined, 'cloud-sync', 'TWIN_VERSION_MISSING'],
    ['sync: stale cloud version is rejected', { cloud: 3, edge: 1 }, { cloud: 2, edge: 5 }, 'cloud-sync', 'TWIN_VERSION_CONFLICT'],
    ['sync: edge ahead of the sync is rejected', { cloud: 3, edge: 6 }, { cloud: 9, edge: 5 }, 'cloud-sync', 'TWIN_VERSION_CONFLICT'],
    ['sync: equal vectors are accepted (a re-send)', { cloud: 3, edge: 5 }, { cloud: 3, edge: 5 }, 'cloud-sync', { cloud: 3, edge: 5 }],
    ['sync: newer cloud, seen every edge write: counters copied', { cloud: 3, edge: 5 }, { cloud: 4, edge: 5 }, 'cloud-sync', { cloud: 4, edge: 5 }],
    ['sync: the sync may claim a higher edge counter; it is copied', { cloud: 3, edge: 5 }, { cloud: 3, edge: 8 }, 'cloud-sync', { cloud: 3, edge: 8 }],
    ['sync: a side never written accepts any vector', undefined, { cloud: 1, edge: 0 }, 'cloud-sync', { cloud: 1, edge: 0 }],
  ]
  for (const [rule, current, requested, deal, expected] of rows) {
    it(rule, () => {
      const d = dealVersion(current, requested, deal)
      if (typeof expected === 'string') {
        assert.ok(!d.ok)
        assert.equal(d.errorCode, expected)
      } else {
        assert.ok(d.ok)
        assert.deepStrictEqual(d.version, expected)
      }
    })
  }
})
