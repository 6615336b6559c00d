/**
 * Device status and pod status share one API request budget (`status.qps`, `status.burst`): each
 * writer takes the shared token bucket's tokens under a lane of its own, in turn, so a burst of one
 * kind (1,000 nodes reconnecting re-assert 10,000 pod statuses, 200 s of the default budget) cannot
 * hold the other back for its length: with work waiting on both sides each gets half, and a side
 * alone gets all of it. The real KeyedWriter and TokenBucket of tern cloud, in virtual time.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import { KeyedWriter } from '../../cloud-sync/cloud/keyed-writer.js'
import { TokenBucket } from '../../cloud-sync/cloud/timing.js'
import { message } from '../../cloud-sync/messages.js'
import type { Session } from '../../cloud-sync/session.js'
import { ManualClock } from '../support/manual-clock.js'

const QPS = 50
const BURST = 100
const session = { node: 'edge-1', open: true, send: () => true } as unknown as Session

interface Side {
  writer: KeyedWriter<number>
  /** key → virtual time it was written */
  written: Map<string, number>
  submit(keys: string[]): void
}

function side(bucket: TokenBucket, clock: ManualClock, lane: string): Side {
  const written = new Map<string, number>()
  const writer = new KeyedWriter<number>({
    bucket,
    lane,
    clock,
    log: pino({ level: 'silent' }),
    workers: 8,
    retry: { initialMs: 500, maxMs: 30_000 },
    write: (key) => {
      written.set(key, clock.now())
      return Promise.resolve(undefined)
    },
    merge: (older, newer) => newer ?? older,
  })
  writer.start()
  const submit = (keys: string[]): void => {
    for (const key of keys) writer.submit(session, message({ source: 'edged', group: 'meta', operation: 'update', resource: key }, {}), key, () => 1)
  }
  return { writer, written, submit }
}

const keys = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}/${i}`)

async function advance(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) await clock.advance(100)
}

describe('cloud: Device status and pod status share the status budget in turn', () => {
  for (const [burst, late] of [
    ['pod-status', 'device-status'],
    ['device-status', 'pod-status'],
  ] as const) {
    it(`10,000 ${burst} writes waiting do not hold back 50 ${late} writes that come after them: each side gets half the budget`, async () => {
      const clock = new ManualClock()
      const bucket = new TokenBucket({ qps: QPS, burst: BURST, clock })
      const big = side(bucket, clock, burst)
      const small = side(bucket, clock, late)
      big.submit(keys('big', 10_000))
      await advance(clock, 3000) // the burst of tokens is gone; the big side writes at the full rate
      const bigBefore = big.written.size
      assert.ok(bigBefore >= BURST + 2 * QPS && bigBefore <= BURST + 4 * QPS, `${bigBefore} written in the first 3 s`)
      const t0 = clock.now()
      small.submit(keys('small', 50))
      await advance(clock, 10_000)
      assert.equal(small.written.size, 50, `${small.written.size} of the 50 late writes done 10 s after they came (the big side had ${10_000 - bigBefore} waiting)`)
      const lastSmall = Math.max(...small.written.values()) - t0
      // half of 50/s: 50 writes in ~2 s; bounded at 3 s for rounding of the turns
      assert.ok(lastSmall <= 3000, `the late side's last write ${lastSmall} ms after it came`)
      // the big side kept its half meanwhile, and all of the budget once the small side was done
      const bigDuring = [...big.written.values()].filter((t) => t > t0 && t <= t0 + lastSmall).length
      assert.ok(bigDuring >= lastSmall / 1000 * (QPS / 2) - 5, `${bigDuring} big-side writes in the ${lastSmall} ms the late side took`)
      const bigAfter = [...big.written.values()].filter((t) => t > t0 + lastSmall).length
      const rest = t0 + 10_000 - (t0 + lastSmall)
      assert.ok(bigAfter >= (rest / 1000) * QPS - 5, `${bigAfter} big-side writes in the ${rest} ms after: the whole budget`)
      await big.writer.stop()
      await small.writer.stop()
    })
  }

  it('a side whose writer stopped asking does not hold the budget: its turn lapses', async () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket({ qps: QPS, burst: 1, clock })
    assert.equal(bucket.take('a'), 0)
    const wait = bucket.take('a') // refused: 'a' has the next turn …
    assert.ok(wait > 0)
    await clock.advance(wait)
    assert.ok(bucket.take('b') > 0, "… so 'b' waits for it")
    await clock.advance(wait + 1000) // 'a' never came back
    assert.equal(bucket.take('b'), 0)
  })
})
