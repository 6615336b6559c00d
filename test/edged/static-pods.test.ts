/**
 * Static pods (kubelet pkg/kubelet/config/file.go semantics) run by edged against a real
 * containerd 1.6 and runc: a manifest written is a running pod, an edit replaces the pod (its uid
 * is a hash of the content), a removal stops and removes everything; checked in the runtime's
 * own listings, the CRI log files and the pods.json snapshot.
 */
import assert from 'node:assert/strict'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { podLogDir } from '../../edged/labels.js'
import { busyboxPod, containersOf, eventually, NODE, edgedSuite, readSnapshot, SLEEP_FOREVER, writeManifest } from '../support/edged.js'

describe('edged static pods (real containerd)', function () {
  this.timeout(180_000)
  const suite = edgedSuite()


  it('a manifest written runs its containers; the snapshot says Running with the pod IP; an edit replaces the pod; removal stops and removes it', async () => {
    const h = suite().harness
    const name = `web-${NODE}`
    await writeManifest(h.manifests, 'web.yaml', busyboxPod('web', { app: `echo "hello v1"; ${SLEEP_FOREVER}`, side: SLEEP_FOREVER }))
    const running = await eventually(async () => {
      const list = await containersOf(h.runtime, name, 'CONTAINER_RUNNING')
      return list.length === 2 && list
    }, 60_000, 'both containers running')
    const snap = await eventually(async () => {
      const s = await readSnapshot(h.rootDir)
      const pod = s?.pods.find((p) => p.name === name)
      return pod?.status.phase === 'Running' && pod.status.containerStatuses.every((c) => c.state.running !== undefined) && s !== undefined && pod
    }, 30_000, 'snapshot: Running')
    assert.equal(snap.namespace, 'default')
    assert.equal(snap.deleting, false)
    assert.match(snap.status.podIP ?? '', /^10\.189\.0\.\d+$/)
    assert.equal(snap.status.hostIP, '10.1.2.3')
    assert.deepEqual(snap.status.containerStatuses.map((c) => [c.name, c.restartCount, c.ready, c.containerID?.startsWith('containerd://')]), [
      ['app', 0, true, true],
      ['side', 0, true, true],
    ])
    assert.deepEqual(snap.status.conditions.map((c) => [c.type, c.status]), [
      ['Initialized', 'True'],
      ['Ready', 'True'],
      ['ContainersReady', 'True'],
      ['PodScheduled', 'True'],
    ])
    const uid1 = snap.uid
    const log = join(podLogDir(h.rootDir, { name, namespace: 'default', uid: uid1 }), 'app', '0.log')
    await eventually(async () => /stdout F hello v1/.test(await readFile(log, 'utf8')), 30_000, 'the log line of v1')

    // edit: a new uid, the old containers stopped and removed, the new ones running
    await writeManifest(h.manifests, 'web.yaml', busyboxPod('web', { app: `echo "hello v2"; ${SLEEP_FOREVER}`, side: SLEEP_FOREVER }))
    const replaced = await eventually(async () => {
      const list = await containersOf(h.runtime, name)
      return list.length === 2 && list.every((c) => c.state === 'CONTAINER_RUNNING' && !running.some((r) => r.id === c.id)) && list
    }, 60_000, 'the edited pod running, the old containers gone')
    assert.equal(new Set(replaced.map((c) => c.labels['io.kubernetes.pod.uid'])).size, 1)
    assert.notEqual(replaced[0]?.labels['io.kubernetes.pod.uid'], uid1)
    // the sandbox goes after its containers, so it may outlast them by a moment
    await eventually(async () => (await h.runtime.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': uid1 } })).length === 0, 30_000, 'the old sandbox removed')

    // removal: nothing of the pod left in the runtime, nothing in the snapshot
    await rm(join(h.manifests, 'web.yaml'))
    await eventually(async () => (await containersOf(h.runtime, name)).length === 0 && (await h.runtime.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': name } })).length === 0, 60_000, 'everything removed')
    await eventually(async () => (await readSnapshot(h.rootDir))?.pods.length === 0, 10_000, 'the snapshot empty')
  })

  it('a broken manifest is refused with EDGED_POD_INVALID naming the file and field, and the other pods run; a half-saved edit keeps the last good pod', async () => {
    const h = suite().harness
    await writeManifest(h.manifests, 'ok.yaml', busyboxPod('ok', { app: SLEEP_FOREVER }))
    await writeFile(join(h.manifests, 'bad.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - name: app\n')
    await eventually(async () => (await containersOf(h.runtime, `ok-${NODE}`, 'CONTAINER_RUNNING')).length === 1, 60_000, 'the good pod running')
    const refusal = await eventually(() => Promise.resolve(h.logLines.find((l) => l.includes('EDGED_POD_INVALID') && l.includes('bad.yaml'))), 10_000, 'the refusal logged')
    assert.match(refusal, /spec\.containers\[0\]\.image/)
    const before = (await containersOf(h.runtime, `ok-${NODE}`, 'CONTAINER_RUNNING'))[0]!.id
    await writeFile(join(h.manifests, 'ok.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec:\n  containers:\n  - name: app\n    image: [')
    await eventually(() => Promise.resolve(h.logLines.find((l) => l.includes('EDGED_POD_INVALID') && l.includes('ok.yaml'))), 10_000, 'the half-saved file refused')
    await new Promise((r) => setTimeout(r, 1500))
    assert.deepEqual((await containersOf(h.runtime, `ok-${NODE}`)).map((c) => [c.id, c.state]), [[before, 'CONTAINER_RUNNING']], 'the last good pod kept running, untouched')
    await rm(join(h.manifests, 'ok.yaml'))
    await rm(join(h.manifests, 'bad.yaml'))
    await eventually(async () => (await containersOf(h.runtime, `ok-${NODE}`)).length === 0, 60_000, 'removed')
  })
})
