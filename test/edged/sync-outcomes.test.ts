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
 *   a container it started shows Running while it still waits for the next one's image; many such
 *   pods are refreshed one per turn of the event loop.
 */
import assert from 'node:assert/strict'
import type { PodSnapshotEntry } from '../../edged/status-manager.js'
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
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
  // (its sync ends with the failed pull first: at load ~100 that took more than a minute)
  await eventually(async () => (await containersOf(h.runtime, name)).length === 0, 120_000, 'the pod removed')
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

/** The real clock, counting its readings per turn of the event loop (a turn ends when an immediate queued at its first reading runs). */
class TurnCountingClock implements Clock {
  /** readings in each turn since counting began */
  readonly perTurn: number[] = []
  counting = false
  #turnOpen = false
  readonly setTimeout: Clock['setTimeout'] = (fn, ms) => realClock.setTimeout(fn, ms)
  readonly clearTimeout: Clock['clearTimeout'] = (handle) => realClock.clearTimeout(handle)

  readonly now = (): number => {
    if (this.counting) {
      if (!this.#turnOpen) {
        this.#turnOpen = true
        this.perTurn.push(0)
        setImmediate(() => (this.#turnOpen = false))
      }
      this.perTurn[this.perTurn.length - 1]! += 1
    }
    return realClock.now()
  }
}

describe('edged: refreshing the statuses of many pods being synced (real containerd, relists every 0.3 s)', function () {
  this.timeout(240_000)
  const clock = new TurnCountingClock()
  const suite = edgedSuite({ clock })
  const PODS = 12

  // A pod's status reads the clock once (its `now`). All at once, a round over 100 pods starting
  // together held the event loop for tens of ms at every relist, and the broker's messages waited.
  it(`a relist refreshes the ${PODS} pods whose syncs wait for an image one per turn of the event loop, not all in one go`, async () => {
    const { harness: h, containerd } = suite()
    const registry = await startStalledRegistry(containerd.pid)
    const names = Array.from({ length: PODS }, (_, i) => `held${i}`)
    try {
      for (const name of names) {
        const pod = busyboxPod(name, { held: SLEEP_FOREVER })
        ;(pod.spec as { containers: Array<Record<string, unknown>> }).containers[0]!.image = `${registry.host}/stalled/app:1`
        await writeManifest(h.manifests, `${name}.yaml`, pod)
      }
      await eventually(async () => (await readSnapshot(h.rootDir))?.pods.length === PODS, 180_000, `statuses of all ${PODS} pods`)
      // every sync past its sandbox and waiting for the image (starting a pull reads the clock too)
      await eventually(async () => (await h.runtime.listPodSandbox({ state: 'SANDBOX_READY' })).length === PODS, 180_000, `${PODS} sandboxes ready`)
      await eventually(() => Promise.resolve(registry.requests().length > 0), 60_000, 'the pull reaching the registry')
      const turns = async (statuses: number): Promise<void> => {
        clock.perTurn.length = 0
        clock.counting = true
        await eventually(() => Promise.resolve(clock.perTurn.reduce((a, b) => a + b, 0) >= statuses), 60_000, `${statuses} statuses`)
        clock.counting = false
      }
      await turns(2 * PODS)
      // three rounds' worth of statuses
      await turns(3 * PODS)
      assert.ok(registry.held() > 0, 'the pulls are still held: every sync is under way')
      const most = Math.max(...clock.perTurn)
      assert.ok(most <= 2, `at most ${most} statuses computed in one turn of the event loop (${clock.perTurn.length} turns)`)
    } finally {
      clock.counting = false
      const { rm } = await import('node:fs/promises')
      for (const name of names) await rm(`${h.manifests}/${name}.yaml`)
      await registry.close()
      await eventually(async () => (await readSnapshot(h.rootDir))?.pods.length === 0, 120_000, 'the pods removed')
    }
  })
})
