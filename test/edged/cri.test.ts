/**
 * The CRI client against a real containerd 1.6 with runc (test/support/containerd.ts): a private
 * containerd in its own mount and network namespace, images built from busybox-static. Checks the
 * effects from outside: the runtime's own listings, the container's log file, the process state.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { ContainerRuntime, PodSandboxConfig } from '../../edged/cri/runtime.js'
import { TernError } from '../../schemas/tern-error.js'
import { BUSYBOX_IMAGE, PAUSE_IMAGE, startContainerd, type Containerd } from '../support/containerd.js'
import { scratchDir } from '../support/resources.js'

async function eventually(test: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const isCode = (code: string) => (e: unknown) => e instanceof TernError && e.code === code

describe('edged CRI client (real containerd)', function () {
  // containerd's start, image import and first sandbox take seconds on a loaded 2-core machine
  this.timeout(180_000)
  let containerd: Containerd | undefined
  let runtime: ContainerRuntime | undefined

  before(async () => {
    containerd = await startContainerd()
    runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 90_000 })
  })
  after(async () => {
    runtime?.close()
    await containerd?.stop()
  })

  it('Version names containerd and CRI v1; the imported images are listed and ImageStatus finds them', async () => {
    const rt = runtime!
    const version = await rt.version()
    assert.equal(version.runtimeName, 'containerd')
    assert.equal(version.runtimeApiVersion, 'v1')
    assert.match(version.runtimeVersion, /^1\./)
    const tags = (await rt.listImages()).flatMap((i) => i.repoTags)
    assert.ok(tags.includes(BUSYBOX_IMAGE) && tags.includes(PAUSE_IMAGE), `images: ${tags.join(', ')}`)
    const busybox = await rt.imageStatus(BUSYBOX_IMAGE)
    assert.ok(busybox !== undefined && busybox.repoTags.includes(BUSYBOX_IMAGE) && Number(busybox.size) > 0)
    assert.equal(await rt.imageStatus('localhost/absent:1'), undefined)
  })

  it('runs a sandbox and a busybox container (labels, env, args, log file), sees it running, stops and removes both', async () => {
    const rt = runtime!
    const logs = await scratchDir('tern-cri-logs-')
    try {
      const sandboxConfig: PodSandboxConfig = {
        metadata: { name: 'web', uid: 'uid-1', namespace: 'default', attempt: 0 },
        hostname: 'web',
        logDirectory: logs.path,
        labels: { 'io.kubernetes.pod.uid': 'uid-1', 'tern.io/test': 'cri' },
      }
      const sandboxId = await rt.runPodSandbox(sandboxConfig)
      const sandbox = await rt.podSandboxStatus(sandboxId)
      assert.equal(sandbox.state, 'SANDBOX_READY')
      assert.equal(sandbox.metadata.uid, 'uid-1')
      assert.match(sandbox.network?.ip ?? '', /^10\.189\.0\.\d+$/, 'the CNI bridge gave the pod an address')
      assert.deepEqual(
        (await rt.listPodSandbox({ labelSelector: { 'tern.io/test': 'cri' } })).map((s) => s.id),
        [sandboxId],
      )

      const containerId = await rt.createContainer(
        sandboxId,
        {
          metadata: { name: 'app', attempt: 0 },
          image: { image: BUSYBOX_IMAGE },
          command: ['/bin/sh', '-c'],
          // sh as PID 1 ignores SIGTERM unless it traps it
          args: ['trap "echo got TERM; exit 0" TERM; echo "hello $GREETING"; while true; do sleep 0.2; done'],
          envs: [{ key: 'GREETING', value: 'from tern' }],
          labels: { 'io.kubernetes.container.name': 'app', 'tern.io/test': 'cri' },
          logPath: 'app/0.log',
        },
        sandboxConfig,
      )
      await rt.startContainer(containerId)
      const running = await rt.listContainers({ podSandboxId: sandboxId, state: 'CONTAINER_RUNNING' })
      assert.deepEqual(
        running.map((c) => [c.id, c.metadata.name, c.labels['io.kubernetes.container.name']]),
        [[containerId, 'app', 'app']],
      )
      const logPath = join(logs.path, 'app', '0.log')
      // CRI log format: <RFC3339Nano> stdout F <line>
      await eventually(async () => /stdout F hello from tern/.test(await readFile(logPath, 'utf8').catch(() => '')), 30_000, 'the log line')

      await rt.stopContainer(containerId, 10)
      const stopped = await rt.containerStatus(containerId)
      assert.equal(stopped.state, 'CONTAINER_EXITED')
      assert.equal(stopped.exitCode, 0)
      assert.equal(stopped.reason, 'Completed')
      assert.match(await readFile(logPath, 'utf8'), /stdout F got TERM/)

      await rt.removeContainer(containerId)
      await assert.rejects(rt.containerStatus(containerId), isCode('EDGED_RUNTIME_NOT_FOUND'))
      assert.deepEqual(await rt.listContainers({ podSandboxId: sandboxId }), [])
      await rt.stopPodSandbox(sandboxId)
      assert.equal((await rt.podSandboxStatus(sandboxId)).state, 'SANDBOX_NOTREADY')
      await rt.removePodSandbox(sandboxId)
      assert.deepEqual(await rt.listPodSandbox({ labelSelector: { 'tern.io/test': 'cri' } }), [])
      await assert.rejects(rt.podSandboxStatus(sandboxId), isCode('EDGED_RUNTIME_NOT_FOUND'))
    } finally {
      await logs.remove()
    }
  })

  it('StopContainer of a container that ignores SIGTERM waits its grace period past the call deadline, then the container is killed (not EDGED_RUNTIME_UNAVAILABLE)', async () => {
    // a call deadline shorter than the grace period, as runtimeRequestTimeoutSeconds (120 s) is to a pod's 300 s
    const short = await connectGrpcRuntime({ endpoint: containerd!.endpoint, callTimeoutMs: 1_000 })
    const sandboxConfig: PodSandboxConfig = { metadata: { name: 'stubborn', uid: 'uid-stop', namespace: 'default', attempt: 0 }, hostname: 'stubborn', labels: { 'tern.io/test': 'cri-stop' } }
    const rt = runtime!
    const sandboxId = await rt.runPodSandbox(sandboxConfig)
    try {
      const config = { metadata: { name: 'app', attempt: 0 }, image: { image: BUSYBOX_IMAGE }, command: ['/bin/sh', '-c'], args: ["trap '' TERM; while true; do sleep 0.2; done"], labels: { 'tern.io/test': 'cri-stop' } }
      const id = await rt.createContainer(sandboxId, config, sandboxConfig)
      await rt.startContainer(id)
      const asked = Date.now()
      await short.stopContainer(id, 3)
      const took = Date.now() - asked
      assert.ok(took >= 2_500, `stopped after ${took} ms: the 3 s grace period was waited for`)
      assert.equal((await rt.containerStatus(id)).state, 'CONTAINER_EXITED')
    } finally {
      short.close()
      await rt.stopPodSandbox(sandboxId)
      await rt.removePodSandbox(sandboxId)
    }
  })

  it('a pull no registry can serve is EDGED_RUNTIME_FAILED naming the image; a missing socket is EDGED_RUNTIME_UNAVAILABLE', async () => {
    await assert.rejects(runtime!.pullImage('127.0.0.1:1/absent:1'), (e: unknown) => isCode('EDGED_RUNTIME_FAILED')(e) && /absent/.test((e as Error).message))
    const dir = await scratchDir('tern-cri-nosock-')
    const nowhere = await connectGrpcRuntime({ endpoint: `unix://${dir.path}/none.sock`, callTimeoutMs: 3_000 })
    try {
      await assert.rejects(nowhere.version(), isCode('EDGED_RUNTIME_UNAVAILABLE'))
    } finally {
      nowhere.close()
      await dir.remove()
    }
  })
})
