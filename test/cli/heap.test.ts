/** The young-generation governor of cli/heap.ts: growth follows how busy the event loop has been. */
import { strict as assert } from 'node:assert'
import { BUSY_CHECKS, BUSY_UTILIZATION, governYoungGeneration, workShare } from '../../cli/heap.js'

describe('cli/heap: young generation grows only while the node is busy', () => {
  it('starts held, grows after BUSY_CHECKS busy checks running (not after a shorter burst), holds again after a quiet one', async () => {
    const burst = Array<number>(BUSY_CHECKS - 1).fill(0.9)
    const sustained = Array<number>(BUSY_CHECKS + 1).fill(BUSY_UTILIZATION)
    const loads = [0.1, ...burst, 0.2, ...sustained, 0.3, 0.3]
    const calls: boolean[] = []
    const stop = governYoungGeneration({ utilization: () => loads.shift() ?? 0.3, setGrowth: (grow) => calls.push(grow), everyMs: 5 })
    await new Promise((resolve) => setTimeout(resolve, 150))
    stop()
    assert.equal(loads.length, 0, 'checked on every tick')
    assert.deepEqual(calls, [false, true, false])
  })
})

describe('cli/heap: the node works only while its loop is busy and on a CPU', () => {
  it('takes the lesser of the loop utilization and the CPU share (a loop waiting for a CPU is not busy)', () => {
    assert.equal(workShare(0.95, 100, 1000), 0.1)
    assert.equal(workShare(0.8, 1300, 1000), 0.8)
    assert.equal(workShare(0.5, 0, 0), 0)
  })
})
