/**
 * What one sync of edged's loop does, on a real containerd, with a sync period (120 s) far longer
 * than any wait here, so nothing below can come from a later periodic sync:
 * - a container killed for a failed liveness probe gets the probe's own
 *   terminationGracePeriodSeconds, not the pod's (the kubelet's setTerminationGracePeriod,
 *   ProbeTerminationGracePeriod);
 * - the status written after a sync shows what that sync made: a started container is Running at
 *   once (the kubelet's generateAPIPodStatus after SyncPod), not a sync period later.
 */
import assert from 'node:assert/strict'
import { busyboxPod, containersOf, edgedSuite, eventually, NODE, readSnapshot, SLEEP_FOREVER, writeManifest } from '../support/edged.js'

const SYNC_PERIOD_SECONDS = 120

describe('edged: the outcome of one sync (real containerd)', function () {
  this.timeout(240_000)
  const suite = edgedSuite({ syncPeriodSeconds: SYNC_PERIOD_SECONDS })

  it('a started container shows Running in the snapshot without waiting for a further sync', async () => {
    const { harness: h } = suite()
    await writeManifest(h.manifests, 'fresh.yaml', busyboxPod('fresh', { app: SLEEP_FOREVER }))
    const name = `fresh-${NODE}`
    const [running] = await eventually(async () => {
      const list = await containersOf(h.runtime, name, 'CONTAINER_RUNNING')
      return list.length === 1 && list
    }, 90_000, 'the container running in the runtime')
    const since = Date.now()
    // the snapshot is written ~0.1 s after a change; 30 s is generous on a loaded machine and a quarter of the sync period
    const pod = await eventually(async () => {
      const p = (await readSnapshot(h.rootDir))?.pods.find((x) => x.name === name)
      return p?.status.containerStatuses[0]?.state.running !== undefined && p
    }, 30_000, 'the snapshot showing the container running')
    assert.ok(Date.now() - since < SYNC_PERIOD_SECONDS * 1000)
    assert.equal(pod.status.phase, 'Running')
    assert.equal(pod.status.containerStatuses[0]?.containerID, `containerd://${running!.id}`)
    assert.equal(pod.status.conditions.find((c) => c.type === 'Ready')?.status, 'True')
  })

  it("a liveness kill uses the probe's terminationGracePeriodSeconds (2 s), not the pod's (600 s)", async () => {
    const { harness: h } = suite()
    // the container ignores SIGTERM, so only SIGKILL at the end of the grace period stops it
    const pod = busyboxPod('graceful', { app: `trap '' TERM; ${SLEEP_FOREVER}` }, { terminationGracePeriodSeconds: 600 })
    const container = (pod.spec as { containers: Array<Record<string, unknown>> }).containers[0]!
    container.livenessProbe = { exec: { command: ['/bin/false'] }, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1, terminationGracePeriodSeconds: 2 }
    await writeManifest(h.manifests, 'graceful.yaml', pod)
    const name = `graceful-${NODE}`
    const first = await eventually(async () => (await containersOf(h.runtime, name, 'CONTAINER_EXITED'))[0], 120_000, 'the first container killed')
    const status = await h.runtime.containerStatus(first.id)
    assert.equal(status.exitCode, 137, 'killed by SIGKILL: it ignores SIGTERM')
    const ranMs = Number((BigInt(status.finishedAt) - BigInt(status.startedAt)) / 1_000_000n)
    assert.ok(ranMs < 90_000, `killed ${ranMs} ms after it started: within the probe's grace, far below the pod's 600 s`)
    await eventually(async () => (await containersOf(h.runtime, name)).some((c) => c.metadata.attempt >= 1), 60_000, 'the container restarted')
  })
})
