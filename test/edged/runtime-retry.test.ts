/**
 * A containerd that was down a while is found again within seconds of its return: edged retries
 * an unreachable runtime as the kubelet's sync loop does (100 ms doubling to at most 5 s), so a long
 * outage does not leave it waiting half a minute after containerd is back. Real containerd, killed
 * and started again; edged in this process.
 */
import assert from 'node:assert/strict'
import { containerdAvailable, startContainerd, type Containerd } from '../support/containerd.js'
import { eventually, startEdgedHarness, type EdgedHarness } from '../support/edged.js'

/** Long enough for a back-off that doubles from 1 s to have reached 16 s and more. */
const OUTAGE_MS = 35_000
/** The kubelet's 5 s cap, with room for containerd's CRI plugin to restore its state on a loaded machine. */
const BACK_WITHIN_MS = 20_000

describe('edged retries an unreachable containerd (real containerd)', function () {
  this.timeout(240_000)
  let containerd: Containerd | undefined
  let harness: (EdgedHarness & { removeDir(): Promise<void> }) | undefined

  before(async function () {
    if (!(await containerdAvailable())) this.skip()
    containerd = await startContainerd()
    harness = await startEdgedHarness(containerd)
  })
  after(async () => {
    await harness?.stop()
    await containerd?.stop()
    await harness?.removeDir()
  })

  it(`after a ${OUTAGE_MS / 1000} s outage, the runtime is ready again within ${BACK_WITHIN_MS / 1000} s of containerd's return`, async () => {
    const h = harness!
    await eventually(() => Promise.resolve(h.edged.runtimeReady === true), 60_000, 'the runtime ready')
    await containerd!.kill9()
    await eventually(() => Promise.resolve(h.edged.runtimeReady === false), 60_000, 'edged finding the runtime unavailable')
    assert.ok(h.logLines.some((l) => l.includes('EDGED_RUNTIME_UNAVAILABLE')))
    await new Promise((r) => setTimeout(r, OUTAGE_MS))
    await containerd!.restart()
    const back = Date.now()
    await eventually(() => Promise.resolve(h.edged.runtimeReady === true), BACK_WITHIN_MS, 'the runtime ready again')
    assert.ok(Date.now() - back <= BACK_WITHIN_MS + 1_000)
  })
})
