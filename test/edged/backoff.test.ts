/**
 * The kubelet's crash back-off (client-go flowcontrol.Backoff, pkg/kubelet/kuberuntime doBackOff):
 * first restart at once, then 10 s doubling to 5 min, counted from when the container finished;
 * a run of more than 10 min starts over. Time is a manual clock: minutes pass without waiting.
 */
import assert from 'node:assert/strict'
import { Backoff, CRASH_BACKOFF_INITIAL_MS, CRASH_BACKOFF_MAX_MS } from '../../edged/backoff.js'
import { ManualClock } from '../support/manual-clock.js'

/** Simulates a container that crashes `runMs` after each start; returns the waits before each restart. */
async function crashLoop(clock: ManualClock, backoff: Backoff, restarts: number, runMs: number): Promise<number[]> {
  const waits: number[] = []
  for (let i = 0; i < restarts; i++) {
    await clock.advance(runMs)
    const finishedAt = clock.now()
    let waited = 0
    while (backoff.isInBackOffSince('pod_c', finishedAt)) {
      await clock.advance(1000)
      waited += 1000
    }
    backoff.next('pod_c', finishedAt)
    waits.push(waited)
  }
  return waits
}

describe('edged crash back-off (kubelet semantics, manual clock)', () => {
  it('first restart at once, then 10 s, 20 s, 40 s ... capped at 5 min', async () => {
    const clock = new ManualClock()
    const backoff = new Backoff({ clock })
    assert.equal(CRASH_BACKOFF_INITIAL_MS, 10_000)
    assert.equal(CRASH_BACKOFF_MAX_MS, 300_000)
    assert.deepEqual(await crashLoop(clock, backoff, 9, 500), [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000])
  })

  it('time the container already spent dead counts: a restart decided late waits only what is left', async () => {
    const clock = new ManualClock()
    const backoff = new Backoff({ clock })
    await crashLoop(clock, backoff, 2, 500) // now at 10 s, next wait 20 s
    await clock.advance(500)
    const finishedAt = clock.now()
    await clock.advance(15_000) // edged was not looking for 15 s
    assert.equal(backoff.isInBackOffSince('pod_c', finishedAt), true)
    await clock.advance(5_000)
    assert.equal(backoff.isInBackOffSince('pod_c', finishedAt), false)
  })

  it('a container that ran for more than 10 min before it died starts over at an immediate restart, then 10 s', async () => {
    const clock = new ManualClock()
    const backoff = new Backoff({ clock })
    await crashLoop(clock, backoff, 5, 500)
    assert.equal(backoff.get('pod_c'), 160_000)
    assert.deepEqual(await crashLoop(clock, backoff, 1, 10 * 60_000 + 1000), [0], 'a long run: no wait')
    assert.equal(backoff.get('pod_c'), 10_000, 'and the next wait is the first again')
    assert.deepEqual(await crashLoop(clock, backoff, 1, 9 * 60_000), [10_000], 'a 9 min run is not long enough to reset: it waits')
  })

  it('keys are independent and pruned with their pods', () => {
    const clock = new ManualClock()
    const backoff = new Backoff({ clock })
    backoff.next('a', clock.now())
    backoff.next('a', clock.now())
    assert.equal(backoff.isInBackOffSince('a', clock.now()), true)
    assert.equal(backoff.isInBackOffSince('b', clock.now()), false)
    backoff.prune((key) => key !== 'a')
    assert.equal(backoff.get('a'), 0)
  })
})
