/**
 * Restarts lose nothing and duplicate nothing (kubelet: containers found by their labels are
 * adopted). The built `tern edge` with 5 static pods on a private containerd: after `kill -9` of
 * tern edge the same containers (same ids) run and none is added; after `kill -9` of containerd the
 * node keeps serving, and once containerd is back the pods are adopted again, and a container that
 * died while containerd was down is restarted.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { CTR_BIN, containerdAvailable, startContainerd, type Containerd } from '../support/containerd.js'
import { busyboxPod, eventually, readSnapshot, SLEEP_FOREVER, writeManifest } from '../support/edged.js'
import { scratchDir } from '../support/resources.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

const execFileAsync = promisify(execFile)
const PODS = 5

describe('edged across restarts of tern edge and containerd (built binary, real containerd)', function () {
  this.timeout(240_000)
  let containerd: Containerd | undefined
  let runtime: ContainerRuntime | undefined
  let dir: Awaited<ReturnType<typeof scratchDir>> | undefined
  let node: TernEdgeProcess | undefined

  before(async function () {
    if (!(await containerdAvailable())) this.skip()
    containerd = await startContainerd()
    runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 60_000 })
    dir = await scratchDir('tern-edged-restarts-')
  })
  after(async () => {
    await node?.stop()
    runtime?.close()
    await containerd?.stop()
    await dir?.remove()
  })

  const config = (): Record<string, unknown> => ({
    node: { name: 'edge-r' },
    mqtt: { listeners: [{ port: 0 }] },
    edged: { runtimeEndpoint: containerd!.endpoint, podManifestsDir: join(dir!.path, 'manifests'), syncPeriodSeconds: 0.5 },
  })
  /** pod name → running container id, from the runtime */
  const running = async (): Promise<Map<string, string[]>> => {
    const byPod = new Map<string, string[]>()
    for (const c of await runtime!.listContainers({ labelSelector: { 'io.tern.managed-by': 'tern-edged' }, state: 'CONTAINER_RUNNING' })) {
      const pod = c.labels['io.kubernetes.pod.name'] ?? '?'
      byPod.set(pod, [...(byPod.get(pod) ?? []), c.id])
    }
    return byPod
  }
  const allRunning = async (): Promise<Map<string, string[]> | false> => {
    const r = await running()
    return r.size === PODS && [...r.values()].every((ids) => ids.length === 1) && r
  }
  const snapshotIds = async (): Promise<Map<string, string> | false> => {
    const snap = await readSnapshot(join(dir!.path, 'data', 'edged'))
    const ids = new Map((snap?.pods ?? []).map((p) => [p.name, p.status.containerStatuses[0]?.state.running === undefined ? '' : (p.status.containerStatuses[0]?.containerID ?? '').replace('containerd://', '')]))
    return ids.size === PODS && [...ids.values()].every((id) => id !== '') && ids
  }

  it('kill -9 of tern edge with 5 pods: after the restart the same container ids run, none duplicated, restartCount 0', async () => {
    const manifests = join(dir!.path, 'manifests')
    const { mkdir } = await import('node:fs/promises')
    await mkdir(manifests, { recursive: true })
    for (let i = 0; i < PODS; i++) await writeManifest(manifests, `p${i}.yaml`, busyboxPod(`p${i}`, { app: SLEEP_FOREVER }))
    node = await startTernEdge(dir!.path, config())
    const before = await eventually(allRunning, 90_000, '5 pods running')
    await node.kill9()
    node = undefined
    assert.deepEqual(await running(), before, 'the pods keep running while tern edge is down')

    node = await startTernEdge(dir!.path, config())
    await node.waitForLine((l) => l.includes('container runtime ready'), 30_000)
    const adopted = await eventually(snapshotIds, 60_000, 'the snapshot showing 5 running pods')
    // a few sync periods later: still exactly the same containers
    await new Promise((r) => setTimeout(r, 3000))
    assert.deepEqual(await running(), before)
    assert.deepEqual(new Set(adopted.values()), new Set([...before.values()].flat()))
    const snap = await readSnapshot(join(dir!.path, 'data', 'edged'))
    assert.deepEqual(snap?.pods.map((p) => p.status.containerStatuses[0]?.restartCount), [0, 0, 0, 0, 0])
    assert.doesNotMatch(node.output(), /container started/, 'nothing was started again')
  })

  it('containerd killed: EDGED_RUNTIME_UNAVAILABLE, tern edge stays up; restarted: the pods are adopted and one that died meanwhile is restarted', async () => {
    const before = await eventually(allRunning, 60_000, '5 pods running')
    const victim = [...before.entries()][0]!
    const { stdout } = await execFileAsync(CTR_BIN, ['--address', containerd!.socket, '--namespace', 'k8s.io', 'tasks', 'ls'])
    const pid = stdout.split('\n').find((l) => l.startsWith(victim[1][0]!))?.trim().split(/\s+/)[1]
    assert.ok(pid !== undefined && /^\d+$/.test(pid), stdout)

    await containerd!.kill9()
    await node!.waitForLine((l) => l.includes('EDGED_RUNTIME_UNAVAILABLE'), 30_000)
    process.kill(Number(pid), 'SIGKILL') // a container dies while its runtime is away
    await new Promise((r) => setTimeout(r, 1000))
    assert.equal(node!.process.exitCode, null, 'tern edge is still running')

    await containerd!.restart()
    const after = await eventually(async () => {
      const r = await allRunning()
      return r !== false && r.get(victim[0])?.[0] !== victim[1][0] && r
    }, 90_000, 'the killed container replaced, all 5 running').catch((err: Error) => {
      throw new Error(`${err.message}\ncontainerd:\n${containerd!.output().slice(-1500)}\ntern edge:\n${node!.output().slice(-1500)}`)
    })
    for (const [pod, ids] of before) if (pod !== victim[0]) assert.deepEqual(after.get(pod), ids, `${pod} adopted, not restarted`)
    const snap = await eventually(async () => {
      const s = await readSnapshot(join(dir!.path, 'data', 'edged'))
      const p = s?.pods.find((x) => x.name === victim[0])
      return p?.status.containerStatuses[0]?.restartCount === 1 && s
    }, 30_000, 'restartCount 1 for the killed one')
    assert.deepEqual(snap.pods.filter((p) => p.name !== victim[0]).map((p) => p.status.containerStatuses[0]?.restartCount), [0, 0, 0, 0])
  })
})
