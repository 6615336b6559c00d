/**
 * Edged's store of the pods its sources gave (edged/pod-store.ts): a source hands over its whole
 * set on every change, and only what changed is written.
 */
import assert from 'node:assert/strict'
import { MemoryLevel } from 'memory-level'
import { PodStore } from '../../edged/pod-store.js'
import type { Pod } from '../../schemas/pod.js'
import type { AnyLevel } from '../../twin/store.js'

const pod = (name: string, image = 'busybox'): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: `uid-${name}` }, spec: { containers: [{ name: 'app', image }] } })

/** A memory-level database that counts the records written through batches. */
function countingDb(): { db: AnyLevel; written: () => number } {
  const db = new MemoryLevel({ valueEncoding: 'json' })
  let written = 0
  const batch = db.batch.bind(db) as () => ReturnType<typeof db.batch>
  ;(db as unknown as { batch: () => unknown }).batch = () => {
    const b = batch()
    const put = b.put.bind(b)
    const del = b.del.bind(b)
    b.put = ((...args: Parameters<typeof put>) => (written++, put(...args))) as typeof b.put
    b.del = ((...args: Parameters<typeof del>) => (written++, del(...args))) as typeof b.del
    return b
  }
  return { db: db as unknown as AnyLevel, written: () => written }
}

describe('edged pod store', () => {
  it('writes the pods that changed, not the whole set a source hands over', async () => {
    const { db, written } = countingDb()
    const store = new PodStore(db)
    const pods = Array.from({ length: 100 }, (_, i) => pod(`p${i}`))
    await store.setSourcePods('api', pods)
    assert.equal(written(), 100)

    // one pod more, the others the same objects; then one changed in a new object; then one gone
    await store.setSourcePods('api', [...pods, pod('p100')])
    assert.equal(written(), 101, 'one pod added: one record written')
    const changed = [...pods.slice(1), pod('p0', 'busybox:2'), pod('p100')]
    await store.setSourcePods('api', changed.map((p) => structuredClone(p)))
    assert.equal(written(), 102, 'one pod changed (the others equal copies): one record written')
    await store.setSourcePods('api', changed.slice(1))
    assert.equal(written(), 103, 'one pod removed: one record deleted')
    await store.setSourcePods('file', [pod('static')])
    assert.equal(written(), 104, "another source's pods leave these alone")

    const stored = await store.pods()
    assert.deepEqual(stored.map((s) => `${s.source} ${s.pod.metadata.name} ${s.pod.spec.containers[0]?.image}`).sort(), [...changed.slice(1).map((p) => `api ${p.metadata.name} ${p.spec.containers[0]?.image}`), 'file static busybox'].sort())
    // a new store on the same database (after a restart) starts from what is stored
    const again = new PodStore(db)
    await again.setSourcePods('api', changed.slice(1))
    assert.equal(written(), 104, 'nothing written for the same set after a restart')
    await store.close()
  })
})
