/** The heap governor of cli/heap.ts: young-generation growth and memory-first sizing follow how busy the event loop has been. */
import { strict as assert } from 'node:assert'
import { BUSY_CHECKS, BUSY_UTILIZATION, governHeap, QUIET_CHECKS, QUIET_UTILIZATION } from '../../cli/heap.js'

/** Runs the governor over `loads` (one per check) and returns its calls in order. */
async function govern(loads: number[]): Promise<string[]> {
  const calls: string[] = []
  const pending = [...loads]
  const stop = governHeap({
    utilization: () => pending.shift() ?? QUIET_UTILIZATION,
    setYoungGrowth: (grow) => calls.push(grow ? 'grow' : 'hold'),
    setMemoryFirst: (on) => calls.push(on ? 'memory' : 'speed'),
    everyMs: 5,
  })
  while (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await new Promise((resolve) => setTimeout(resolve, 5))
  stop()
  return calls
}

describe('cli/heap: the heap is sized for how busy the node is', () => {
  it('young generation: held at start, grows after BUSY_CHECKS busy checks running (not after a shorter burst), held after a quieter one', async () => {
    const burst = Array<number>(BUSY_CHECKS - 1).fill(0.9)
    const sustained = Array<number>(BUSY_CHECKS + 1).fill(BUSY_UTILIZATION)
    assert.deepEqual(await govern([0.6, ...burst, 0.6, ...sustained, 0.6]), ['hold', 'grow', 'hold'])
  })

  it('memory first: on after QUIET_CHECKS quiet checks running (not after fewer), off at the first check at or above QUIET_UTILIZATION', async () => {
    const quiet = (n: number): number[] => Array<number>(n).fill(QUIET_UTILIZATION - 0.01)
    const loads = [...quiet(QUIET_CHECKS - 1), QUIET_UTILIZATION, ...quiet(QUIET_CHECKS), QUIET_UTILIZATION, 0.1]
    assert.deepEqual(await govern(loads), ['hold', 'memory', 'speed'])
  })
})
