/**
 * The split of a workload resync too large for one frame (cloud-sync/cloud/workload-set.ts): the
 * largest ConfigMaps and Secrets go ahead as updates until the rest fits, named in `kept`.
 */
import { strict as assert } from 'node:assert'
import { splitResync } from '../../cloud-sync/cloud/workload-set.js'
import type { NodeWorkloadSet } from '../../cloud-sync/messages.js'

const meta = (name: string) => ({ name, namespace: 'default', resourceVersion: '1' })
const set: NodeWorkloadSet = {
  pods: [{ apiVersion: 'v1', kind: 'Pod', metadata: meta('p'), spec: { nodeName: 'n', containers: [{ name: 'a', image: 'b' }] } } as NodeWorkloadSet['pods'][number]],
  configmaps: [
    { metadata: meta('small'), data: { k: 'x'.repeat(100) } },
    { metadata: meta('large'), data: { k: 'x'.repeat(5000) } },
  ],
  secrets: [{ metadata: meta('mid'), data: { k: 'eA=='.repeat(700) } }],
}

describe('cloud sync: a workload resync past its frame budget', () => {
  it('goes whole when it fits', () => {
    assert.deepEqual(splitResync(set, 1_000_000), { early: [], content: set })
  })

  it('sends the largest objects ahead until the rest fits, and names them in kept', () => {
    const { early, content } = splitResync(set, 4000)
    assert.deepEqual(early, ['default/configmap/large'])
    assert.deepEqual(content.kept, ['default/configmap/large'])
    assert.deepEqual(content.configmaps.map((c) => c.metadata.name), ['small'])
    assert.ok(Buffer.byteLength(JSON.stringify(content)) <= 4000)
    const tighter = splitResync(set, 1000)
    assert.deepEqual(tighter.early, ['default/configmap/large', 'default/secret/mid'])
    assert.deepEqual(tighter.content.pods, set.pods, 'pods always go in the resync')
  })
})
