/**
 * What one sync of edged's loop does, on a real containerd, with a sync period (120 s) far longer
 * than any wait here, so nothing below can come from a later periodic sync:
 * - a container killed for a failed liveness probe gets the probe's own
 *   terminationGracePeriodSeconds, not the pod's (the kubelet's setTerminationGracePeriod,
 *   ProbeTerminationGracePeriod);
 * - the status written after a sync shows what that sync made: a started container is Running at
 *   once (the kubelet's generateAPIPodStatus after SyncPod), not a sync period later;
 * - a pod's first status is set as its first sync begins (the kubelet's syncPod sets it before
 *   making the sandbox), not when that sync ends: a sync held by an image pull from a registry
 *   that never answers still shows the pod Pending with its containers ContainerCreating;
 * - with relists (a short sync period), a sync under way has its pod's status refreshed from each:
 *   a container it started shows Running while it still waits for the next one's image.
 */
import assert from 'node:assert/strict'
import type { PodSnapshotEntry } from '../../edged/status-manager.js'
import { busyboxPod, containersOf, edgedSuite, eventually, NODE, readSnapshot, SLEEP_FOREVER, writeManifest } from '../support/edged.js'
import { startStalledRegistry, type StalledRegistry } from '../support/stalled-registry.js'

const SYNC_PERIOD_SECONDS = 120

/** A pod of two containers: `app` (busybox, on the node) and then `held`, whose image only `registry` has. */
function heldPod(name: string, registry: StalledRegistry): Record<string, unknown> {
  const pod = busyboxPod(name, { app: SLEEP_FOREVER, held: SLEEP_FOREVER })
  const containers = (pod.spec as { containers: Array<Record<string, unknown>> }).containers
  containers[1] = { ...containers[1], image: `${registry.host}/stalled/app:1`, imagePullPolicy: 'IfNotPresent' }
  return pod
}

const snapshotOf = async (rootDir: string, name: string): Promise<PodSnapshotEntry | undefined> => (await readSnapshot(rootDir))?.pods.find((p) => p.name === name)
const stateOf = (pod: PodSnapshotEntry, container: string): string => {
  const state = pod.status.containerStatuses.find((c) => c.name === container)?.state
  return state?.running !== undefined ? 'Running' : (state?.waiting?.reason ?? state?.terminated?.reason ?? 'none')
}

/** Removes the pod (its sync stops waiting for the image) and ends the held pull. */
async function removeHeld(h: { manifests: string; runtime: Parameters<typeof containersOf>[0] }, file: string, name: string, registry: StalledRegistry): Promise<void> {
  const { rm } = await import('node:fs/promises')
  await rm(`${h.manifests}/${file}`)
  await registry.close()
  await eventually(async () => (await containersOf(h.runtime, name)).length === 0, 60_000, 'the pod removed')
}

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

  it("a pod's first status is set as its first sync begins: Pending, every container ContainerCreating, the kubelet's conditions and startTime, while that sync still waits for an image a registry holds", async () => {
    const { harness: h, containerd } = suite()
    const registry = await startStalledRegistry(containerd.pid)
    const name = `first-${NODE}`
    try {
      await writeManifest(h.manifests, 'first.yaml', heldPod('first', registry))
      const pod = await eventually(() => snapshotOf(h.rootDir, name), 30_000, 'a status of the pod in the snapshot')
      await eventually(() => Promise.resolve(registry.requests().length > 0), 30_000, 'the pull reaching the registry')
      assert.ok(registry.held() > 0, 'the pull is still held: the sync has not ended')
      assert.equal(pod.status.phase, 'Pending')
      assert.deepEqual([stateOf(pod, 'app'), stateOf(pod, 'held')], ['ContainerCreating', 'ContainerCreating'])
      assert.ok(pod.status.startTime !== undefined && Date.parse(pod.status.startTime) > Date.now() - 120_000, pod.status.startTime)
      assert.equal(pod.status.hostIP, '10.1.2.3')
      const conditions = Object.fromEntries(pod.status.conditions.map((c) => [c.type, `${c.status} ${c.reason ?? ''}`.trim()]))
      assert.deepEqual(conditions, { Initialized: 'True', Ready: 'False ContainersNotReady', ContainersReady: 'False ContainersNotReady', PodScheduled: 'True' })
      assert.equal(pod.status.conditions.find((c) => c.type === 'Ready')?.message, 'containers with unready status: [app held]')
    } finally {
      await removeHeld(h, 'first.yaml', name, registry)
    }
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

describe('edged: the status of a pod whose sync is under way (real containerd, relists every 0.3 s)', function () {
  this.timeout(240_000)
  const suite = edgedSuite()

  it('each relist refreshes the status of a pod whose sync waits: the container started shows Running while the next one waits for an image a registry holds', async () => {
    const { harness: h, containerd } = suite()
    const registry = await startStalledRegistry(containerd.pid)
    const name = `refreshed-${NODE}`
    try {
      await writeManifest(h.manifests, 'refreshed.yaml', heldPod('refreshed', registry))
      const pod = await eventually(async () => {
        const p = await snapshotOf(h.rootDir, name)
        return p !== undefined && stateOf(p, 'app') === 'Running' && p
      }, 60_000, 'the snapshot showing app running')
      assert.ok(registry.requests().length > 0 && registry.held() > 0, 'the pull of the second image is still held: the sync has not ended')
      assert.equal(stateOf(pod, 'held'), 'ContainerCreating')
      assert.equal(pod.status.phase, 'Pending')
      assert.equal(pod.status.conditions.find((c) => c.type === 'Ready')?.message, 'containers with unready status: [held]')
      const [running] = await containersOf(h.runtime, name, 'CONTAINER_RUNNING')
      assert.equal(pod.status.containerStatuses.find((c) => c.name === 'app')?.containerID, `containerd://${running?.id ?? ''}`)
    } finally {
      await removeHeld(h, 'refreshed.yaml', name, registry)
    }
  })
})
