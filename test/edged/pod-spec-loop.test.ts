/**
 * The pod spec through edged's own loop (static pod → validatePod → sync → CRI) on a real
 * containerd: resources in the container's cgroup, an env fieldRef, a Memory emptyDir as a tmpfs
 * that is gone once the pod is removed; a pod the validator refuses never reaches the runtime;
 * a missing image under `Never` shows as ErrImageNeverPull in the snapshot.
 */
import assert from 'node:assert/strict'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { containerLogPath, podLogDir } from '../../edged/labels.js'
import { mountPoints } from '../../edged/volumes/mounter.js'
import { processCgroups, readCgroupFile } from '../support/cgroups.js'
import { busyboxPod, containersOf, edgedSuite, eventually, NODE, readSnapshot, SLEEP_FOREVER, writeManifest } from '../support/edged.js'

describe('edged pod spec through the sync loop (real containerd)', function () {
  this.timeout(180_000)
  const suite = edgedSuite()

  it('limits, env fieldRef and a Memory emptyDir run as specified; removing the manifest unmounts and removes the volume', async () => {
    const { harness: h, containerd: cd } = suite()
    const pod = busyboxPod(
      'spec',
      { app: `echo "node=$NODE_NAME pod=$POD_NAME"; grep ' /cache ' /proc/mounts; ${SLEEP_FOREVER}` },
      { volumes: [{ name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '4Mi' } }] },
    )
    const container = (pod.spec as { containers: Array<Record<string, unknown>> }).containers[0]!
    container.env = [
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ]
    container.resources = { limits: { cpu: '200m', memory: '40Mi' } }
    container.volumeMounts = [{ name: 'cache', mountPath: '/cache' }]
    await writeManifest(h.manifests, 'spec.yaml', pod)
    const name = `spec-${NODE}`
    const [running] = await eventually(async () => {
      const list = await containersOf(h.runtime, name, 'CONTAINER_RUNNING')
      return list.length === 1 && list
    }, 60_000, 'the container running')
    const uid = running?.labels['io.kubernetes.pod.uid'] ?? ''
    const logFile = join(podLogDir(h.rootDir, { name, namespace: 'default', uid }), containerLogPath('app', 0))
    const log = await eventually(async () => {
      const text = await readFile(logFile, 'utf8')
      return text.includes(' /cache ') && text
    }, 30_000, 'the container’s output')
    assert.match(log, new RegExp(`stdout F node=${NODE} pod=${name}\\n`))
    assert.match(log, /stdout F tmpfs \/cache tmpfs rw,.*size=4096k/)
    const cgroups = await eventually(() => processCgroups(running?.id ?? '-'), 30_000, 'the container process')
    assert.equal(await readCgroupFile(cgroups, 'memory', 'memory.limit_in_bytes'), String(40 * 1024 * 1024))
    assert.equal(await readCgroupFile(cgroups, 'cpu', 'cpu.cfs_quota_us'), '20000')
    const volume = join(h.rootDir, 'volumes', uid, 'cache')
    const containerdMounts = async (): Promise<string[]> => mountPoints(await readFile(`/proc/${cd.pid}/mountinfo`, 'utf8'))
    assert.ok((await containerdMounts()).includes(volume), 'the tmpfs is mounted where containerd sees it')

    await rm(join(h.manifests, 'spec.yaml'))
    await eventually(async () => (await containersOf(h.runtime, name)).length === 0, 60_000, 'the pod removed')
    await eventually(async () => !(await containerdMounts()).some((m) => m.startsWith(join(h.rootDir, 'volumes', uid))), 30_000, 'the tmpfs unmounted')
    await eventually(async () => !(await readdir(join(h.rootDir, 'volumes')).catch((): string[] => [])).includes(uid), 30_000, 'the volume directory removed')
  })

  it('a pod the API server would refuse never reaches the runtime; an absent image under Never is ErrImageNeverPull; a hostPath failing its check waits in ContainerCreating', async () => {
    const h = suite().harness
    const bad = busyboxPod('bad', { app: SLEEP_FOREVER, app2: SLEEP_FOREVER })
    const containers = (bad.spec as { containers: Array<Record<string, unknown>> }).containers
    containers[0]!.ports = [{ containerPort: 80, hostPort: 8080 }]
    containers[1]!.ports = [{ containerPort: 81, hostPort: 8080 }]
    await writeManifest(h.manifests, 'bad.yaml', bad)
    const missing = busyboxPod('nofile', { app: SLEEP_FOREVER }, { volumes: [{ name: 'conf', hostPath: { path: join(h.rootDir, 'absent.conf'), type: 'File' } }] })
    await writeManifest(h.manifests, 'nofile.yaml', missing)
    const never = busyboxPod('never', { app: SLEEP_FOREVER })
    const nc = (never.spec as { containers: Array<Record<string, unknown>> }).containers[0]!
    nc.image = 'localhost/absent:1'
    nc.imagePullPolicy = 'Never'
    await writeManifest(h.manifests, 'never.yaml', never)
    const refusal = await eventually(() => Promise.resolve(h.logLines.find((l) => l.includes('bad.yaml') && l.includes('EDGED_POD_INVALID'))), 30_000, 'the refusal logged')
    assert.match(refusal, /spec\.containers\[1\]\.ports\[0\]\.hostPort: Duplicate value: \\"8080\/TCP\\"/)
    const waiting = await eventually(async () => {
      const snap = await readSnapshot(h.rootDir)
      const state = snap?.pods.find((p) => p.name === `never-${NODE}`)?.status.containerStatuses[0]?.state.waiting
      return state?.reason === 'ErrImageNeverPull' && state
    }, 60_000, 'ErrImageNeverPull in the snapshot')
    assert.match(waiting.message ?? '', /not present with pull policy of Never/)
    // Volumes are set up before the sandbox: the pod says why, its container waits in ContainerCreating.
    const pending = await eventually(async () => {
      const status = (await readSnapshot(h.rootDir))?.pods.find((p) => p.name === `nofile-${NODE}`)?.status
      return status?.message !== undefined && status.containerStatuses[0]?.state.waiting?.reason === 'ContainerCreating' && status
    }, 60_000, 'the volume failure in the snapshot')
    assert.equal(pending.phase, 'Pending')
    assert.match(pending.message ?? '', /hostPath type check failed: .*absent\.conf does not exist/)
    assert.deepEqual(await containersOf(h.runtime, `nofile-${NODE}`), [])
    assert.deepEqual(await containersOf(h.runtime, `bad-${NODE}`), [])
    assert.deepEqual(await containersOf(h.runtime, `never-${NODE}`), [])
  })
})
