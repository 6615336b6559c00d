/**
 * The probe manager's timing fields on a manual clock (test/support/manual-clock.ts), against a
 * real container: initialDelaySeconds, periodSeconds, failureThreshold and successThreshold, as the
 * kubelet's prober worker counts them. Exec probes time out in containerd, on the real clock, so
 * each step waits for the probe it started to finish before moving virtual time on.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { ProbeManager } from '../../edged/prober/manager.js'
import type { Container, Pod } from '../../schemas/pod.js'
import { BUSYBOX_IMAGE } from '../support/containerd.js'
import { startCriFixture, startTestPod, type CriFixture, type TestPod } from '../support/cri-pod.js'
import { ManualClock, settle } from '../support/manual-clock.js'

describe('edged probe timing fields (manual clock, real containerd)', function () {
  this.timeout(180_000)
  let fixture: CriFixture | undefined
  let runtime: ContainerRuntime
  let pod: TestPod
  let containerId: string

  before(async () => {
    fixture = await startCriFixture('tern-prober-timing-')
    runtime = fixture.runtime
    pod = await startTestPod(runtime, { name: 'timing', uid: 'uid-timing', logDirectory: fixture.logDir })
    containerId = await pod.run('app', 'touch /tmp/ok; while true; do sleep 0.2; done')
  })
  after(async () => {
    await pod?.remove().catch(() => undefined)
    await fixture?.stop()
  })

  /** The runtime, counting the exec probes that finished. */
  function counted(): { runtime: ContainerRuntime; done: () => number } {
    let done = 0
    const rt: ContainerRuntime = {
      ...runtime,
      execSync: (id, cmd, timeout) => runtime.execSync(id, cmd, timeout).finally(() => void done++),
    }
    return { runtime: rt, done: () => done }
  }

  async function probesDone(done: () => number, n: number): Promise<void> {
    const deadline = Date.now() + 30_000
    while (done() < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for probe ${n} (${done()} done)`)
      await new Promise((r) => setTimeout(r, 20))
    }
    await settle()
  }

  const spec = (container: Container): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'timing', namespace: 'default', uid: pod.uid }, spec: { containers: [container] } })

  it('liveness: nothing before initialDelaySeconds, then one probe per periodSeconds; the kill comes at the failureThreshold-th failure in a row', async () => {
    const clock = new ManualClock()
    const { runtime: rt, done } = counted()
    const failures: number[] = []
    const manager = new ProbeManager({ runtime: rt, clock, log: pino({ level: 'silent' }), onChange: () => undefined, onLivenessFailure: () => void failures.push(clock.now()) })
    const container: Container = {
      name: 'app',
      image: BUSYBOX_IMAGE,
      livenessProbe: { exec: { command: ['test', '-f', '/tmp/ok'] }, initialDelaySeconds: 15, periodSeconds: 7, failureThreshold: 3 },
    }
    const t0 = clock.now()
    manager.addContainer(spec(container), container, containerId, pod.podIP)
    try {
      await clock.advance(14_999)
      assert.equal(done(), 0, 'no probe before initialDelaySeconds')
      await clock.advance(1)
      await probesDone(done, 1)
      await clock.advance(6_999)
      assert.equal(done(), 1, 'no probe before periodSeconds passed')
      await clock.advance(1)
      await probesDone(done, 2)
      await runtime.execSync(containerId, ['rm', '/tmp/ok'], 10)
      for (let n = 3; n <= 4; n++) {
        await clock.advance(7_000)
        await probesDone(done, n)
      }
      assert.deepEqual(failures, [], 'two failures are below failureThreshold 3')
      await clock.advance(7_000)
      await probesDone(done, 5)
      assert.deepEqual(failures, [t0 + 15_000 + 4 * 7_000], 'killed at the third failure in a row')
      await clock.advance(70_000)
      assert.equal(done(), 5, 'on hold after the failure until a new container replaces this one')
    } finally {
      manager.stop()
      await runtime.execSync(containerId, ['touch', '/tmp/ok'], 10)
    }
  })

  it('readiness: ready only after successThreshold successes in a row, unready after failureThreshold failures; a restarted container (new id) starts unready', async () => {
    const clock = new ManualClock()
    const { runtime: rt, done } = counted()
    const manager = new ProbeManager({ runtime: rt, clock, log: pino({ level: 'silent' }), onChange: () => undefined, onLivenessFailure: () => assert.fail('readiness never kills') })
    const container: Container = {
      name: 'app',
      image: BUSYBOX_IMAGE,
      readinessProbe: { exec: { command: ['test', '-f', '/tmp/ok'] }, periodSeconds: 5, successThreshold: 2, failureThreshold: 2 },
    }
    const ready = (): boolean => manager.state(pod.uid, 'app').ready
    manager.addContainer(spec(container), container, containerId, pod.podIP)
    try {
      await clock.advance(0) // no initial delay: the first probe is due at once
      await probesDone(done, 1)
      assert.equal(ready(), false, 'one success is below successThreshold 2')
      await clock.advance(5_000)
      await probesDone(done, 2)
      assert.equal(ready(), true)
      await runtime.execSync(containerId, ['rm', '/tmp/ok'], 10)
      await clock.advance(5_000)
      await probesDone(done, 3)
      assert.equal(ready(), true, 'one failure is below failureThreshold 2')
      await clock.advance(5_000)
      await probesDone(done, 4)
      assert.equal(ready(), false)
      await runtime.execSync(containerId, ['touch', '/tmp/ok'], 10)
      manager.addContainer(spec(container), container, 'another-id', pod.podIP)
      assert.equal(ready(), false, 'a new container is not ready until probed')
    } finally {
      manager.stop()
    }
  })
})
