/**
 * The probe manager against real containers (containerd 1.6 + runc, test/support/containerd.ts),
 * on the real clock with 1 s periods. Until the sync loop runs pods, the test plays its part: on a
 * liveness failure it stops the container and starts the next attempt, as the kubelet restarts it.
 * Effects are checked from outside: the runtime's containers and their attempts, the ready and
 * started state the manager reports.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { ProbeManager } from '../../edged/prober/manager.js'
import type { Container, Pod, Probe } from '../../schemas/pod.js'
import { healthServer } from '../support/busybox-scripts.js'
import { BUSYBOX_IMAGE, type Containerd } from '../support/containerd.js'
import { startCriFixture, startTestPod, type CriFixture } from '../support/cri-pod.js'

async function eventually(test: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const fast = (p: Omit<Probe, 'periodSeconds'>): Probe => ({ periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 2, ...p })

describe('edged probe manager (real containerd)', function () {
  this.timeout(180_000)
  let fixture: CriFixture | undefined
  let containerd: Containerd
  let runtime: ContainerRuntime
  const cleanups: Array<() => Promise<void> | void> = []

  before(async () => {
    fixture = await startCriFixture('tern-prober-logs-')
    ;({ containerd, runtime } = fixture)
  })
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })
  after(async () => {
    await fixture?.stop()
  })

  /**
   * One pod with one container under a manager; on a liveness failure the container is stopped and
   * the next attempt started (what the sync loop will do). Returns what the test looks at.
   */
  async function supervised(name: string, container: Container, script: string) {
    const pod = await startTestPod(runtime, { name, uid: `uid-${name}`, logDirectory: fixture!.logDir })
    const spec: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: pod.uid }, spec: { containers: [container] } }
    const s = { attempt: 0, containerId: '', failures: [] as string[], changes: 0, pod }
    const manager: ProbeManager = new ProbeManager({
      runtime,
      log: pino({ level: 'silent' }),
      dial: containerd.dial,
      onChange: () => void s.changes++,
      onLivenessFailure: (uid, containerName, message) => {
        assert.deepEqual([uid, containerName], [pod.uid, container.name])
        s.failures.push(message)
        void restart()
      },
    })
    // s.attempt counts a restart once its container runs
    const start = async (attempt: number): Promise<void> => {
      s.containerId = await pod.run(container.name, script, attempt)
      s.attempt = attempt
      manager.addContainer(spec, container, s.containerId, pod.podIP)
    }
    const restart = async (): Promise<void> => {
      await runtime.stopContainer(s.containerId, 0)
      await start(s.attempt + 1)
    }
    await start(0)
    cleanups.push(async () => {
      manager.stop()
      await pod.remove()
    })
    return { s, manager, pod, state: () => manager.state(pod.uid, container.name) }
  }

  const exec = (id: string, script: string) => runtime.execSync(id, ['sh', '-c', script], 10)

  it('an exec liveness probe failing failureThreshold times restarts the container; the new one passes and is not restarted', async () => {
    const probe = fast({ exec: { command: ['test', '-f', '/tmp/alive'] } })
    const { s } = await supervised('exec-live', { name: 'app', image: BUSYBOX_IMAGE, livenessProbe: probe }, 'touch /tmp/alive; while true; do sleep 0.2; done')
    const first = s.containerId
    await new Promise((r) => setTimeout(r, 2_500))
    assert.deepEqual(s.failures, [], 'a passing liveness probe restarts nothing')
    await exec(first, 'rm /tmp/alive')
    await eventually(() => s.attempt === 1, 30_000, 'the restart')
    assert.match(s.failures[0] ?? '', /Container app failed liveness probe, will be restarted/)
    const statuses = await runtime.listContainers({ podSandboxId: s.pod.sandboxId })
    assert.deepEqual(statuses.map((c) => [c.metadata.attempt, c.state]).sort(), [[0, 'CONTAINER_EXITED'], [1, 'CONTAINER_RUNNING']])
    await new Promise((r) => setTimeout(r, 3_000))
    assert.equal(s.attempt, 1, 'the new container passes its probe: no second restart')
  })

  it('an httpGet liveness probe on a named port restarts the container when the server answers 503', async () => {
    const container: Container = {
      name: 'web',
      image: BUSYBOX_IMAGE,
      ports: [{ name: 'http', containerPort: 8080 }],
      livenessProbe: fast({ httpGet: { port: 'http', path: '/cgi-bin/health' }, initialDelaySeconds: 1 }),
    }
    const { s } = await supervised('http-live', container, `touch /tmp/healthy; ${healthServer(8080)}`)
    await new Promise((r) => setTimeout(r, 3_000))
    assert.equal(s.attempt, 0, 'a 200 keeps it alive')
    await exec(s.containerId, 'rm /tmp/healthy')
    await eventually(() => s.attempt >= 1, 30_000, 'the restart')
    assert.match(s.failures[0] ?? '', /HTTP probe failed with statuscode: 503/)
  })

  it('a tcpSocket liveness probe restarts the container once nothing listens on the port', async () => {
    const container: Container = { name: 'tcp', image: BUSYBOX_IMAGE, livenessProbe: fast({ tcpSocket: { port: 9000 } }) }
    const { s } = await supervised('tcp-live', container, 'httpd -f -p 9000 -h / & while true; do sleep 0.2; done')
    await new Promise((r) => setTimeout(r, 3_000))
    assert.equal(s.attempt, 0, 'a listening port keeps it alive')
    await exec(s.containerId, 'killall httpd')
    await eventually(() => s.attempt >= 1, 30_000, 'the restart')
    assert.match(s.failures[0] ?? '', /9000/)
  })

  it('readiness flips with the probe and never restarts the container; no readiness probe means ready at once', async () => {
    const container: Container = {
      name: 'web',
      image: BUSYBOX_IMAGE,
      ports: [{ containerPort: 8080 }],
      readinessProbe: fast({ httpGet: { port: 8080, path: '/cgi-bin/health' }, failureThreshold: 1, successThreshold: 2 }),
    }
    const { s, state } = await supervised('ready-flip', container, healthServer(8080))
    assert.deepEqual(state(), { started: true, ready: false }, 'not ready before a probe succeeded')
    await exec(s.containerId, 'touch /tmp/healthy')
    await eventually(() => state().ready, 30_000, 'ready')
    await exec(s.containerId, 'rm /tmp/healthy')
    await eventually(() => !state().ready, 30_000, 'not ready again')
    await exec(s.containerId, 'touch /tmp/healthy')
    await eventually(() => state().ready, 30_000, 'ready again')
    assert.equal(s.attempt, 0, 'readiness never restarts')
    assert.ok(s.changes >= 3, `onChange called ${s.changes} times`)
    const plain = await supervised('no-probe', { name: 'plain', image: BUSYBOX_IMAGE }, 'while true; do sleep 0.2; done')
    assert.deepEqual(plain.state(), { started: true, ready: true })
  })

  it('a startup probe holds liveness and readiness back until it succeeds; its failure restarts the container', async () => {
    const container: Container = {
      name: 'slow',
      image: BUSYBOX_IMAGE,
      startupProbe: fast({ exec: { command: ['test', '-f', '/tmp/started'] }, failureThreshold: 8 }),
      // would fail (and restart) at once if it ran before the start
      livenessProbe: fast({ exec: { command: ['test', '-f', '/tmp/started'] }, failureThreshold: 1 }),
      readinessProbe: fast({ exec: { command: ['true'] } }),
    }
    const { s, state } = await supervised('startup', container, 'while true; do sleep 0.2; done')
    await new Promise((r) => setTimeout(r, 3_000))
    assert.deepEqual(state(), { started: false, ready: false })
    assert.deepEqual(s.failures, [], 'liveness did not run before the start')
    await exec(s.containerId, 'touch /tmp/started')
    await eventually(() => state().started && state().ready, 30_000, 'started and ready')
    assert.equal(s.attempt, 0)
    // the next container never creates the file: its startup probe fails failureThreshold times
    await exec(s.containerId, 'rm /tmp/started')
    await eventually(() => s.attempt === 1, 30_000, 'the liveness restart')
    await eventually(() => s.attempt === 2, 60_000, 'the restart after the startup probe failed')
    assert.match(s.failures[1] ?? '', /failed startup probe/)
  })
})
