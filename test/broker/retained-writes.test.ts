/**
 * newestRetainedWins (broker/retained-writes.ts): LevelDB finishes concurrent writes in any order,
 * so the store here finishes them in reverse, the worst order; the message kept for a topic must
 * still be the last one given, every caller answered once its message or a newer one is written.
 */
import assert from 'node:assert/strict'
import { newestRetainedWins } from '../../broker/retained-writes.js'

interface Packet {
  topic: string
  payload: string
}

/** A store whose writes finish when `finish()` is called, the latest started first. */
function reversingStore(): { write(p: Packet): Promise<void>; finish(): Promise<void>; kept: Map<string, string>; writes: number } {
  const started: Array<() => void> = []
  const kept = new Map<string, string>()
  const store = {
    kept,
    writes: 0,
    write: (p: Packet) =>
      new Promise<void>((resolve) => {
        store.writes++
        started.push(() => {
          kept.set(p.topic, p.payload)
          resolve()
        })
      }),
    finish: async () => {
      // until nothing is started any more: each finished write may start the next
      while (started.length > 0) {
        for (const done of started.splice(0).reverse()) done()
        await new Promise((resolve) => setImmediate(resolve))
      }
    },
  }
  return store
}

describe('broker: the retained message stored for a topic is the last one published', () => {
  it('a burst on one topic, writes finishing in reverse: the last one is kept, every caller answered', async () => {
    const store = reversingStore()
    const storeRetained = newestRetainedWins((p: Packet) => store.write(p))
    const answered = Array.from({ length: 50 }, (_, i) => storeRetained({ topic: 'a', payload: `${i}` }))
    await store.finish()
    await Promise.all(answered)
    assert.equal(store.kept.get('a'), '49')
    assert.ok(store.writes <= 2, `the ones replaced meanwhile are not written (${store.writes} writes)`)
  })

  it('topics do not wait for each other, and a failed write answers only its own callers', async () => {
    const failing = new Set(['b:0'])
    const kept = new Map<string, string>()
    const storeRetained = newestRetainedWins(async (p: Packet) => {
      await new Promise((resolve) => setImmediate(resolve))
      if (failing.has(`${p.topic}:${p.payload}`)) throw new Error('disk full')
      kept.set(p.topic, p.payload)
    })
    const b0 = storeRetained({ topic: 'b', payload: '0' })
    const others = [storeRetained({ topic: 'c', payload: '0' }), storeRetained({ topic: 'b', payload: '1' })]
    await assert.rejects(b0, /disk full/)
    await Promise.all(others)
    assert.deepEqual(Object.fromEntries(kept), { b: '1', c: '0' })
  })
})
