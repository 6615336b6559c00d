/**
 * ExecSync and lifecycle hooks against a real containerd 1.6 with runc (test/support/containerd.ts):
 * the effect of each handler is checked inside the container (a file the hook wrote, the hits an
 * HTTP server counted), and each way a hook fails rejects with EDGED_HOOK_FAILED.
 */
import assert from 'node:assert/strict'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { runHandler, type HandlerTarget } from '../../edged/hooks.js'
import type { Container } from '../../schemas/pod.js'
import { TernError } from '../../schemas/tern-error.js'
import { healthServer } from '../support/busybox-scripts.js'
import { BUSYBOX_IMAGE, type Containerd } from '../support/containerd.js'
import { startCriFixture, startTestPod, type CriFixture, type TestPod } from '../support/cri-pod.js'

const isCode = (code: string) => (e: unknown) => e instanceof TernError && e.code === code
const text = (b: Buffer): string => b.toString('utf8')

describe('edged ExecSync and lifecycle hooks (real containerd)', function () {
  this.timeout(180_000)
  let fixture: CriFixture | undefined
  let containerd: Containerd | undefined
  let runtime: ContainerRuntime | undefined
  let pod: TestPod | undefined
  let target: HandlerTarget

  before(async () => {
    fixture = await startCriFixture('tern-hooks-logs-')
    ;({ containerd, runtime } = fixture)
    pod = await startTestPod(runtime, { name: 'hooks', uid: 'uid-hooks', logDirectory: fixture.logDir })
    const containerId = await pod.run('web', healthServer(8080))
    const container: Container = { name: 'web', image: BUSYBOX_IMAGE, ports: [{ name: 'http', containerPort: 8080 }] }
    target = { containerId, podIP: pod.podIP, container }
    // the server is up once the health script exists and answers
    const deadline = Date.now() + 30_000
    while ((await runtime.execSync(containerId, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 5).catch(() => undefined)) === undefined) {
      if (Date.now() > deadline) throw new Error('the test HTTP server did not start')
      await new Promise((r) => setTimeout(r, 200))
    }
  })
  after(async () => {
    await pod?.remove().catch(() => undefined)
    await fixture?.stop()
  })

  it('ExecSync returns stdout, stderr and the exit code; a non-zero exit is a result, not an error', async () => {
    const r = await runtime!.execSync(target.containerId, ['sh', '-c', 'echo out; echo err >&2; exit 3'], 10)
    assert.deepEqual([text(r.stdout), text(r.stderr), r.exitCode], ['out\n', 'err\n', 3])
    const ok = await runtime!.execSync(target.containerId, ['id', '-u'], 0)
    assert.deepEqual([text(ok.stdout), ok.exitCode], ['0\n', 0])
  })

  it('ExecSync past its timeout rejects with EDGED_EXEC_TIMEOUT; an unknown container with EDGED_RUNTIME_NOT_FOUND', async () => {
    const started = Date.now()
    await assert.rejects(runtime!.execSync(target.containerId, ['sleep', '30'], 1), isCode('EDGED_EXEC_TIMEOUT'))
    // the command was cut off at its timeout, not run to its end (bound generous for a loaded machine)
    assert.ok(Date.now() - started < 25_000, `took ${Date.now() - started} ms`)
    await assert.rejects(runtime!.execSync('0123456789abcdef', ['true'], 5), isCode('EDGED_RUNTIME_NOT_FOUND'))
  })

  it('an exec hook runs in the container; its non-zero exit or timeout is EDGED_HOOK_FAILED', async () => {
    await runHandler(runtime!, target, { exec: { command: ['sh', '-c', 'echo from-hook > /tmp/hook'] } }, 10)
    assert.equal(text((await runtime!.execSync(target.containerId, ['cat', '/tmp/hook'], 10)).stdout), 'from-hook\n')
    await assert.rejects(runHandler(runtime!, target, { exec: { command: ['sh', '-c', 'echo no >&2; exit 7'] } }, 10), (e: unknown) => isCode('EDGED_HOOK_FAILED')(e) && /exit code 7: no/.test((e as Error).message))
    await assert.rejects(runHandler(runtime!, target, { exec: { command: ['sleep', '30'] } }, 1), isCode('EDGED_HOOK_FAILED'))
  })

  it('an httpGet hook reaches the pod IP on a named port (any HTTP status counts); no listener is EDGED_HOOK_FAILED', async () => {
    const dial = containerd!.dial
    const hits = async (): Promise<number> => Number(text((await runtime!.execSync(target.containerId, ['sh', '-c', 'cat /tmp/hits 2>/dev/null | wc -l'], 10)).stdout))
    const before = await hits()
    // /tmp/healthy does not exist: the server answers 503, which a hook (unlike a probe) accepts
    await runHandler(runtime!, target, { httpGet: { port: 'http', path: '/cgi-bin/health' } }, 10, { dial })
    assert.equal(await hits(), before + 1)
    await assert.rejects(runHandler(runtime!, target, { httpGet: { port: 8081, path: '/' } }, 5, { dial }), isCode('EDGED_HOOK_FAILED'))
    await assert.rejects(runHandler(runtime!, target, { httpGet: { port: 'nope' } }, 5, { dial }), (e: unknown) => isCode('EDGED_HOOK_FAILED')(e) && /no port named "nope"/.test((e as Error).message))
  })

  it('a sleep hook waits its seconds; one longer than the time left, or a tcpSocket hook, is EDGED_HOOK_FAILED', async () => {
    const started = Date.now()
    await runHandler(runtime!, target, { sleep: { seconds: 1 } }, 10)
    assert.ok(Date.now() - started >= 990, 'slept its second')
    await assert.rejects(runHandler(runtime!, target, { sleep: { seconds: 30 } }, 1), isCode('EDGED_HOOK_FAILED'))
    await assert.rejects(runHandler(runtime!, target, { tcpSocket: { port: 8080 } }, 5), isCode('EDGED_HOOK_FAILED'))
  })
})
