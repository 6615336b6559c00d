/**
 * The split of a workload resync too large for one frame (cloud-sync/cloud/workload-set.ts): to an
 * edge that takes a resync in parts, the whole set in parts; to another, the largest ConfigMaps and
 * Secrets go ahead as updates until the rest fits, named in `kept`, and a set whose pods alone pass
 * a frame is not sent at all.
 */
import { strict as assert } from 'node:assert'
import { splitResync } from '../../cloud-sync/cloud/workload-set.js'
import type { NodeWorkloadSet } from '../../cloud-sync/messages.js'

type Pod = NodeWorkloadSet['pods'][number]

const meta = (name: string) => ({ name, namespace: 'default', resourceVersion: '1' })
const pod = (name: string, bytes = 10): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: meta(name), spec: { nodeName: 'n', containers: [{ name: 'a', image: 'b', env: [{ name: 'V', value: 'x'.repeat(bytes) }] }] } }) as Pod
const set: NodeWorkloadSet = {
  pods: [pod('p')],
  configmaps: [
    { metadata: meta('small'), data: { k: 'x'.repeat(100) } },
    { metadata: meta('large'), data: { k: 'x'.repeat(5000) } },
  ],
  secrets: [{ metadata: meta('mid'), data: { k: 'eA=='.repeat(700) } }],
}

const names = (s: NodeWorkloadSet): string[] => [...s.pods, ...s.configmaps, ...s.secrets].map((o) => o.metadata.name)
const bytes = (content: unknown): number => Buffer.byteLength(JSON.stringify(content))

describe('cloud sync: a workload resync past its frame budget', () => {
  it('goes whole when it fits, to any edge', () => {
    for (const parts of [false, true]) assert.deepEqual(splitResync(set, { parts, maxBytes: 1_000_000 }), { early: [], parts: [], content: set })
  })

  it('to an edge without parts: sends the largest ConfigMaps and Secrets ahead until the rest fits, and names them in kept', () => {
    const { early, content, parts, oversize } = splitResync(set, { parts: false, maxBytes: 4000 })
    assert.deepEqual(early, ['default/configmap/large'])
    assert.deepEqual(content.kept, ['default/configmap/large'])
    assert.deepEqual(content.configmaps.map((c) => c.metadata.name), ['small'])
    assert.ok(bytes(content) <= 4000)
    assert.deepEqual([parts, oversize], [[], undefined])
    const tighter = splitResync(set, { parts: false, maxBytes: 1000 })
    assert.deepEqual(tighter.early, ['default/configmap/large', 'default/secret/mid'])
    assert.deepEqual(tighter.content.pods, set.pods, 'pods always go in the resync')
    assert.equal(tighter.oversize, undefined, 'the rest fits a frame')
  })

  it('to an edge without parts: pods past a frame make the resync unsendable, saying why', () => {
    const big: NodeWorkloadSet = { pods: ['a', 'b', 'c'].map((n) => pod(n, 2000)), configmaps: [], secrets: [] }
    const split = splitResync(big, { parts: false, maxBytes: 3000, frameBytes: 5000 })
    assert.match(split.oversize ?? '', /^the resync of its pods is \d+ bytes of JSON, more than the 5000 a frame of the link carries, and its edge does not take a resync in parts \(it does not announce workload-resync-parts/)
  })

  it('to an edge that takes parts: every object in exactly one part, each part within the budget, the last one the resync', () => {
    const big: NodeWorkloadSet = { pods: Array.from({ length: 12 }, (_, i) => pod(`p${String(i).padStart(2, '0')}`, 1900)), configmaps: set.configmaps, secrets: set.secrets }
    const split = splitResync(big, { parts: true, maxBytes: 6000 })
    const all = [...split.parts, split.content]
    assert.deepEqual(split.early, [])
    assert.equal(split.oversize, undefined)
    assert.ok(all.length >= 3, `${all.length} parts`)
    for (const part of all) assert.ok(bytes(part) <= 6000, `a part of ${bytes(part)} bytes`)
    assert.deepEqual(all.flatMap(names).sort(), names(big).sort(), 'every object once')
    const ids = new Set(all.map((p) => p.part?.resync))
    assert.equal(ids.size, 1)
    assert.deepEqual(all.map((p) => [p.part?.index, p.part?.count]), all.map((_, i) => [i, all.length]))
    assert.equal(split.content.kept, undefined, 'nothing went ahead as an update')
    assert.notEqual(splitResync(big, { parts: true, maxBytes: 6000 }).content.part?.resync, split.content.part?.resync, 'each resync its own id')
  })

  it('to an edge that takes parts: an object larger than the budget goes alone; one larger than a frame makes it unsendable', () => {
    const big: NodeWorkloadSet = { pods: [pod('a', 100), pod('huge', 9000), pod('c', 100)], configmaps: [], secrets: [] }
    const split = splitResync(big, { parts: true, maxBytes: 5000 })
    assert.deepEqual([...split.parts, split.content].map(names), [['a'], ['huge'], ['c']])
    assert.match(splitResync(big, { parts: true, maxBytes: 5000, frameBytes: 8000 }).oversize ?? '', /^a part of the resync of its pods is \d+ bytes of JSON \(one object\), more than the 8000/)
  })
})
