/**
 * restartPolicy, crash back-off and init containers against a real containerd (kubelet semantics:
 * kuberuntime computePodActions, doBackOff, getPhase). The back-off is shortened to 1 s doubling
 * to 4 s here so its shape shows in seconds; its real 10 s → 5 min values are tested with a
 * manual clock (backoff.test.ts).
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { podLogDir } from '../../edged/labels.js'
import type { PodSnapshotEntry } from '../../edged/status-manager.js'
import { busyboxPod, containersOf, eventually, NODE, edgedSuite, readSnapshot, writeManifest } from '../support/edged.js'

describe('edged restart policies, crash back-off, init containers (real containerd)', function () {
  this.timeout(180_000)
  const suite = edgedSuite({ crashBackoff: { initialMs: 1000, maxMs: 4000 } })


  const podIn = async (name: string): Promise<PodSnapshotEntry | undefined> => (await readSnapshot(suite().harness.rootDir))?.pods.find((p) => p.name === `${name}-${NODE}`)
  const volume = { volumes: [{ name: 'data', emptyDir: {} }] }
  const withMount = (pod: Record<string, unknown>): Record<string, unknown> => {
    const spec = pod.spec as { containers: Array<Record<string, unknown>>; initContainers?: Array<Record<string, unknown>> }
    for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) c.volumeMounts = [{ name: 'data', mountPath: '/data' }]
    return pod
  }

  it('Always: a crashing container restarts at once, then after 1 s, 2 s, 4 s, 4 s (back-off from its exit), CrashLoopBackOff between, Running phase', async () => {
    const h = suite().harness
    await writeManifest(h.manifests, 'crash.yaml', busyboxPod('crash', { app: 'exit 1' }))
    // every instance's start and finish, read from the runtime as instances come and go
    const seen = new Map<string, { restart: number; startedAt: number; finishedAt: number }>()
    let sawBackOff = false
    await eventually(async () => {
      for (const c of await containersOf(h.runtime, `crash-${NODE}`)) {
        const s = await h.runtime.containerStatus(c.id).catch(() => undefined)
        if (s === undefined || s.state !== 'CONTAINER_EXITED') continue
        seen.set(c.id, { restart: Number(s.annotations['io.kubernetes.container.restartCount']), startedAt: Number(BigInt(s.startedAt) / 1_000_000n), finishedAt: Number(BigInt(s.finishedAt) / 1_000_000n) })
      }
      const status = (await podIn('crash'))?.status.containerStatuses[0]
      if (status?.state.waiting?.reason === 'CrashLoopBackOff') {
        sawBackOff = true
        assert.equal(status.lastState.terminated?.exitCode, 1)
        assert.equal(status.lastState.terminated?.reason, 'Error')
      }
      return seen.size >= 5
    }, 90_000, 'five exited instances')
    const runs = [...seen.values()].sort((a, b) => a.restart - b.restart)
    assert.deepEqual(runs.map((r) => r.restart).slice(0, 5), [0, 1, 2, 3, 4])
    const gaps = runs.slice(1, 5).map((r, i) => r.startedAt - runs[i]!.finishedAt)
    // lower bounds are the back-off; the first restart has none
    for (const [i, floor] of [0, 1000, 2000, 4000].entries()) assert.ok(gaps[i]! >= floor - 50, `gap ${i} = ${gaps[i]} ms, back-off ${floor} ms (gaps ${gaps.join(', ')})`)
    assert.ok(gaps[3]! < 4000 + 15_000, `the cap holds: ${gaps.join(', ')}`)
    assert.ok(sawBackOff, 'the status said CrashLoopBackOff while waiting')
    // the snapshot follows the runtime within a sync
    const pod = await eventually(async () => {
      const p = await podIn('crash')
      return (p?.status.containerStatuses[0]?.restartCount ?? 0) >= 4 && p
    }, 10_000, 'restartCount 4 in the snapshot')
    assert.equal(pod.status.phase, 'Running')
    assert.ok((await containersOf(h.runtime, `crash-${NODE}`)).length <= 2, 'older instances are removed (the newest exited one stays)')
  })

  it('OnFailure: restarted after a failure, not after success; the pod Succeeds and its sandbox is stopped', async () => {
    const h = suite().harness
    await writeManifest(h.manifests, 'once.yaml', withMount(busyboxPod('once', { app: 'if [ -f /data/ran ]; then echo second; exit 0; fi; touch /data/ran; exit 3' }, { restartPolicy: 'OnFailure', ...volume })))
    const pod = await eventually(async () => {
      const p = await podIn('once')
      return p?.status.phase === 'Succeeded' && p
    }, 60_000, 'phase Succeeded')
    const c = pod.status.containerStatuses[0]!
    assert.equal(c.restartCount, 1)
    assert.equal(c.state.terminated?.exitCode, 0)
    assert.equal(c.state.terminated?.reason, 'Completed')
    assert.equal(c.lastState.terminated?.exitCode, 3)
    assert.equal(pod.status.conditions.find((x) => x.type === 'Ready')?.reason, 'PodCompleted')
    await eventually(async () => (await h.runtime.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': pod.uid } })).every((s) => s.state === 'SANDBOX_NOTREADY'), 30_000, 'sandbox stopped')
    await new Promise((r) => setTimeout(r, 2000))
    assert.equal((await podIn('once'))?.status.containerStatuses[0]?.restartCount, 1, 'not started again')
  })

  it('Never: a failed container is not restarted and the pod Fails', async () => {
    const h = suite().harness
    await writeManifest(h.manifests, 'never.yaml', busyboxPod('never', { app: 'exit 2' }, { restartPolicy: 'Never' }))
    const pod = await eventually(async () => {
      const p = await podIn('never')
      return p?.status.phase === 'Failed' && p
    }, 60_000, 'phase Failed')
    assert.equal(pod.status.containerStatuses[0]?.state.terminated?.exitCode, 2)
    await new Promise((r) => setTimeout(r, 3000))
    const after = await podIn('never')
    assert.equal(after?.status.containerStatuses[0]?.restartCount, 0)
    assert.equal((await containersOf(h.runtime, `never-${NODE}`)).length, 1)
  })

  it('init containers run one at a time, in order, to completion before the app container; a failing one under Never fails the pod without starting the app', async () => {
    const h = suite().harness
    await writeManifest(
      h.manifests,
      'init.yaml',
      withMount(busyboxPod('init', { app: 'cat /data/order; echo; while true; do sleep 0.2; done' }, volume, { first: 'sleep 1; echo -n 1 >> /data/order', second: 'echo -n 2 >> /data/order' })),
    )
    const pod = await eventually(async () => {
      const p = await podIn('init')
      return p?.status.phase === 'Running' && p.status.containerStatuses[0]?.state.running !== undefined && p
    }, 60_000, 'the app running')
    assert.deepEqual(pod.status.initContainerStatuses?.map((s) => [s.name, s.state.terminated?.reason]), [
      ['first', 'Completed'],
      ['second', 'Completed'],
    ])
    assert.equal(pod.status.conditions.find((c) => c.type === 'Initialized')?.status, 'True')
    const log = join(podLogDir(h.rootDir, { name: pod.name, namespace: 'default', uid: pod.uid }), 'app', '0.log')
    await eventually(async () => / stdout F 12$/m.test(await readFile(log, 'utf8')), 30_000, 'the app saw 1 then 2')

    await writeManifest(h.manifests, 'initfail.yaml', busyboxPod('initfail', { app: 'sleep 1000' }, { restartPolicy: 'Never' }, { broken: 'exit 7' }))
    const failed = await eventually(async () => {
      const p = await podIn('initfail')
      return p?.status.phase === 'Failed' && p
    }, 60_000, 'phase Failed')
    assert.equal(failed.status.initContainerStatuses?.[0]?.state.terminated?.exitCode, 7)
    assert.equal(failed.status.conditions.find((c) => c.type === 'Initialized')?.status, 'False')
    assert.deepEqual(failed.status.containerStatuses.map((s) => s.state.waiting?.reason), ['PodInitializing'])
    assert.deepEqual((await containersOf(h.runtime, `initfail-${NODE}`)).map((c) => c.labels['io.kubernetes.container.name']), ['broken'])
  })

  it('probes in the loop: a failing exec liveness probe restarts the container (restartCount grows; it ended by SIGTERM, which its trap turns into exit 0); a failing readiness probe keeps the pod not Ready', async () => {
    const h = suite().harness
    const pod = busyboxPod('probed', { app: 'touch /tmp/healthy; sleep 2; rm /tmp/healthy; while true; do sleep 0.2; done', shy: 'while true; do sleep 0.2; done' })
    const [app, shy] = (pod.spec as { containers: Array<Record<string, unknown>> }).containers
    app!.livenessProbe = { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 1 }
    shy!.readinessProbe = { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1 }
    await writeManifest(h.manifests, 'probed.yaml', pod)
    const restarted = await eventually(async () => {
      const p = await podIn('probed')
      const c = p?.status.containerStatuses.find((s) => s.name === 'app')
      return (c?.restartCount ?? 0) >= 1 && c?.lastState.terminated !== undefined && p
    }, 60_000, 'app restarted by its liveness probe')
    const app1 = restarted.status.containerStatuses.find((s) => s.name === 'app')!
    assert.equal(app1.lastState.terminated?.exitCode, 0, JSON.stringify(app1.lastState))
    assert.equal(h.logLines.some((l) => l.includes('Unhealthy') || l.includes('liveness')), true)
    const shy1 = restarted.status.containerStatuses.find((s) => s.name === 'shy')!
    assert.equal(shy1.ready, false)
    assert.equal(shy1.restartCount, 0, 'a readiness failure never restarts')
    assert.equal(restarted.status.conditions.find((c) => c.type === 'Ready')?.status, 'False')
    assert.equal(restarted.status.phase, 'Running')
  })
})
