/**
 * Edged's hooks for pods from the API server (source `api`), against a real containerd: every new
 * status of such a pod reaches the status hook, and the kubelet's events (Pulled, Created, Started,
 * BackOff, Killing) reach the recorder — nothing of static pods does; and admission against the
 * Node's spec: a cordoned node refuses new pods (Failed, TaintToleration, nothing runs) while the
 * pods it runs keep running, and admits new ones again once uncordoned; pods being deleted
 * (deletionTimestamp) stopped with the deletion's grace period and reported terminated once nothing
 * of them runs, also when they never ran.
 */
import assert from 'node:assert/strict'
import { NodeAdmission } from '../../edged/admission.js'
import { POD_NAME } from '../../edged/labels.js'
import { validatePod } from '../../edged/pod/validate.js'
import { CloudPodSource, type CloudPods } from '../../edged/sources/cloud.js'
import { pino } from 'pino'
import type { Pod, PodStatus } from '../../schemas/pod.js'
import { BUSYBOX_IMAGE } from '../support/containerd.js'
import { busyboxPod, containersOf, edgedSuite, eventually, NODE, SLEEP_FOREVER, writeManifest } from '../support/edged.js'

/** The edge's store of the cloud's pods as edged's cloud source reads it, with the pods a test sets. */
class TestCloudPods implements CloudPods {
  #pods: Pod[] = []
  #listeners: Array<(changed: ReadonlyArray<{ kind: string; namespace: string; name: string }>) => void> = []
  pods(): Pod[] {
    return this.#pods
  }
  onChange(listener: (changed: ReadonlyArray<{ kind: string; namespace: string; name: string }>) => void): void {
    this.#listeners.push(listener)
  }
  set(pods: Pod[]): void {
    this.#pods = pods
    for (const listener of this.#listeners) listener([{ kind: 'pod', namespace: 'default', name: '' }]) // the pods changed (which ones does not matter here)
  }
}

/** Each version of a pod gets its own resourceVersion, as from the API server (the cloud source validates each version once). */
let version = 0
const nextVersion = (): string => String(++version)

function apiPod(name: string, script: string, uid: string): Pod {
  const pod = busyboxPod(name, { app: script }) as unknown as Pod
  return { ...pod, metadata: { name, namespace: 'default', uid, resourceVersion: nextVersion() }, spec: { ...pod.spec, nodeName: NODE, containers: pod.spec.containers.map((c) => ({ ...c, image: BUSYBOX_IMAGE, imagePullPolicy: 'IfNotPresent' })) } }
}

/** The pod as the API server serves it once deleted with `grace` seconds (deletionTimestamp and deletionGracePeriodSeconds). */
const deleting = (pod: Pod, grace: number): Pod => ({ ...pod, metadata: { ...pod.metadata, resourceVersion: nextVersion(), deletionTimestamp: new Date(Date.now() + grace * 1000).toISOString(), deletionGracePeriodSeconds: grace } })

describe('edged: status and events of pods from the API server, admission against the Node spec (real containerd)', function () {
  this.timeout(180_000)
  const api = new TestCloudPods()
  const statuses: Array<{ pod: string; status: PodStatus }> = []
  const events: Array<{ pod: string; type: string; reason: string; message: string }> = []
  const admission = new NodeAdmission({ name: NODE, maxPods: 110 })
  const terminated: string[] = []
  const suite = edgedSuite({
    onPodTerminated: (pod) => void terminated.push(pod.uid),
    crashBackoff: { initialMs: 1000, maxMs: 2000 },
    sources: [new CloudPodSource({ store: api, validate: validatePod, log: pino({ level: 'silent' }) })],
    onPodStatus: (pod, status) => void statuses.push({ pod: pod.metadata.name, status }),
    recorder: { event: (pod, type, reason, message) => void events.push({ pod: pod.metadata.name, type, reason, message }) },
    admission,
  })

  it('statuses and events of api pods reach the hooks (a crash loop: restarts counted, BackOff recorded); a static pod reports nothing', async () => {
    const h = suite().harness
    await writeManifest(h.manifests, 'static.yaml', busyboxPod('static', { app: SLEEP_FOREVER }))
    api.set([apiPod('web', SLEEP_FOREVER, 'uid-web'), apiPod('crashy', 'exit 1', 'uid-crashy'), apiPod('doomed', SLEEP_FOREVER, 'uid-doomed')])
    const running = await eventually(() => Promise.resolve(statuses.filter((s) => s.pod === 'web').find((s) => s.status.phase === 'Running' && s.status.podIP !== undefined)), 60_000, 'web Running through the hook')
    assert.equal(running.status.containerStatuses[0]?.ready, true)
    await eventually(() => Promise.resolve(statuses.some((s) => s.pod === 'crashy' && (s.status.containerStatuses[0]?.restartCount ?? 0) >= 2 && s.status.containerStatuses[0]?.state.waiting?.reason === 'CrashLoopBackOff')), 60_000, 'crashy restarting, CrashLoopBackOff through the hook')
    await eventually(async () => (await containersOf(h.runtime, `static-${NODE}`)).length > 0, 30_000, 'the static pod running')
    assert.deepEqual([...new Set(statuses.map((s) => s.pod))].sort(), ['crashy', 'doomed', 'web'], 'no status of the static pod')
    const of = (pod: string): string[] => events.filter((e) => e.pod === pod).map((e) => `${e.type} ${e.reason}`)
    assert.deepEqual(of('web').slice(0, 3), ['Normal Pulled', 'Normal Created', 'Normal Started'])
    assert.match(events.find((e) => e.pod === 'web' && e.reason === 'Pulled')?.message ?? '', /already present on machine/)
    assert.ok(of('crashy').includes('Warning BackOff'), of('crashy').join(', '))
    assert.match(events.find((e) => e.reason === 'BackOff')?.message ?? '', /^Back-off restarting failed container app in pod crashy_default\(uid-crashy\)$/)
    assert.equal(events.filter((e) => e.pod.startsWith('static')).length, 0, 'no events of the static pod')
    // a running pod removed from its source: Killing
    await eventually(async () => (await containersOf(h.runtime, 'doomed', 'CONTAINER_RUNNING')).length === 1, 30_000, 'doomed running')
    api.set([apiPod('web', SLEEP_FOREVER, 'uid-web')])
    const killing = await eventually(() => Promise.resolve(events.find((e) => e.pod === 'doomed' && e.reason === 'Killing')), 30_000, 'Killing of doomed')
    assert.equal(killing.message, 'Stopping container app')
  })

  it('cordoned: a new pod is refused (Failed, TaintToleration, nothing runs) and the running one stays; uncordoned: new pods run', async () => {
    const h = suite().harness
    admission.set({ unschedulable: true })
    api.set([apiPod('web', SLEEP_FOREVER, 'uid-web'), apiPod('late', SLEEP_FOREVER, 'uid-late')])
    const refused = await eventually(() => Promise.resolve(statuses.find((s) => s.pod === 'late')), 30_000, 'late refused')
    assert.equal(refused.status.phase, 'Failed')
    assert.equal(refused.status.reason, 'TaintToleration')
    assert.match(refused.status.message ?? '', /^Pod was rejected: .*node\.kubernetes\.io\/unschedulable/)
    assert.ok(events.some((e) => e.pod === 'late' && e.type === 'Warning' && e.reason === 'TaintToleration'))
    await new Promise((r) => setTimeout(r, 1500)) // a few syncs
    assert.equal((await containersOf(h.runtime, 'late')).length, 0, 'nothing of the refused pod runs')
    assert.equal((await containersOf(h.runtime, 'web', 'CONTAINER_RUNNING')).length, 1, 'the admitted pod keeps running')

    admission.set({ unschedulable: false })
    api.set([apiPod('web', SLEEP_FOREVER, 'uid-web'), apiPod('late', SLEEP_FOREVER, 'uid-late'), apiPod('after', SLEEP_FOREVER, 'uid-after')])
    await eventually(async () => (await containersOf(h.runtime, 'after', 'CONTAINER_RUNNING')).length === 1, 60_000, 'a new pod runs once uncordoned')
    assert.equal((await containersOf(h.runtime, 'late')).length, 0, 'a refused pod stays refused (the kubelet does not admit it again)')
  })

  it('being deleted: a refused pod and one never seen are reported terminated at once and never started; a running one that ignores SIGTERM is killed after the deletion’s grace period, not its own; each reported once', async () => {
    const h = suite().harness
    const base = apiPod('stubborn', `trap '' TERM; ${SLEEP_FOREVER}`, 'uid-stubborn')
    const stubborn: Pod = { ...base, spec: { ...base.spec, terminationGracePeriodSeconds: 90 } }
    const web = apiPod('web', SLEEP_FOREVER, 'uid-web')
    const late = apiPod('late', SLEEP_FOREVER, 'uid-late') // refused while cordoned, above
    api.set([web, late, stubborn])
    await eventually(async () => (await containersOf(h.runtime, 'stubborn', 'CONTAINER_RUNNING')).length === 1, 60_000, 'stubborn running')

    const asked = Date.now()
    const early = apiPod('early', SLEEP_FOREVER, 'uid-early')
    const doomed = [deleting(late, 30), deleting(early, 30), deleting(stubborn, 2)]
    api.set([web, ...doomed])
    await eventually(() => Promise.resolve(terminated.includes('uid-late') && terminated.includes('uid-early')), 30_000, 'late and early reported terminated')
    await eventually(() => Promise.resolve(terminated.includes('uid-stubborn')), 60_000, 'stubborn reported terminated')
    const took = (Date.now() - asked) / 1000
    assert.ok(took >= 1.5 && took < 60, `stubborn ended after ${took} s: its deletion's 2 s grace period, not its own 90`)
    assert.deepEqual(await containersOf(h.runtime, 'stubborn'), [], 'nothing of stubborn is left')
    assert.deepEqual(await containersOf(h.runtime, 'early'), [])
    assert.deepEqual(events.filter((e) => e.pod === 'early' && (e.reason === 'Created' || e.reason === 'Started')), [], 'early was never started')

    // listed as being deleted until the final delete lands: not reported again
    api.set([web, ...doomed])
    await new Promise((r) => setTimeout(r, 1500)) // a few syncs
    for (const uid of ['uid-early', 'uid-late', 'uid-stubborn']) assert.equal(terminated.filter((u) => u === uid).length, 1, `${uid} reported once`)
    api.set([web])
    assert.equal((await containersOf(h.runtime, 'web', 'CONTAINER_RUNNING')).length, 1, 'the other pod runs on')
  })

  it('a second, shorter deletion of a pod already stopping (SIGTERM ignored, terminationGracePeriodSeconds 90, deleted with 60 then 2, or then removed as by --force --grace-period=0) kills it within seconds of the second, as the kubelet keeps the earliest deadline', async () => {
    const h = suite().harness
    const stubborn = (name: string): Pod => {
      const base = apiPod(name, `trap '' TERM; ${SLEEP_FOREVER}`, `uid-${name}`)
      return { ...base, spec: { ...base.spec, terminationGracePeriodSeconds: 90 } }
    }
    const [slow, forced] = [stubborn('slow'), stubborn('forced')]
    const web = apiPod('web', SLEEP_FOREVER, 'uid-web')
    api.set([web, slow, forced])
    for (const name of ['slow', 'forced']) await eventually(async () => (await containersOf(h.runtime, name, 'CONTAINER_RUNNING')).length === 1, 60_000, `${name} running`)
    const first = [deleting(slow, 60), deleting(forced, 60)]
    api.set([web, ...first])
    await eventually(() => Promise.resolve(['slow', 'forced'].every((name) => events.some((e) => e.pod === name && e.reason === 'Killing'))), 30_000, 'the kills with 60 s under way')
    await new Promise((r) => setTimeout(r, 1500))
    for (const name of ['slow', 'forced']) assert.equal((await containersOf(h.runtime, name, 'CONTAINER_RUNNING')).length, 1, `SIGTERM ignored: ${name} still running within the 60 s`)

    const asked = Date.now()
    api.set([web, deleting(slow, 2)])
    // before the 60 s are up by far: a loaded machine takes seconds, the first deletion's period 58 more
    await eventually(() => Promise.resolve(terminated.includes('uid-slow')), 30_000, 'slow reported terminated after the second deletion')
    const took = (Date.now() - asked) / 1000
    assert.ok(took >= 1.5, `slow ended ${took} s after the second deletion: its 2 s were waited for`)
    await eventually(async () => (await containersOf(h.runtime, 'forced')).length === 0, 30_000, 'nothing of forced left after it was removed')
    assert.deepEqual(await containersOf(h.runtime, 'slow'), [], 'nothing of slow is left')
    assert.equal(terminated.filter((u) => u === 'uid-slow').length, 1, 'reported once')
    api.set([web])
  })

  it('a pod edged refuses (EDGED_POD_INVALID) reports Failed with why and never runs; deleted, it is reported terminated, as is one refused and deleted before edged heard of it', async () => {
    const h = suite().harness
    const gpu = (pod: Pod): Pod => ({ ...pod, spec: { ...pod.spec, containers: pod.spec.containers.map((c) => ({ ...c, resources: { limits: { 'nvidia.com/gpu': '1' } } })) } })
    const web = apiPod('web', SLEEP_FOREVER, 'uid-web')
    const bad = gpu(apiPod('bad', SLEEP_FOREVER, 'uid-bad'))
    api.set([web, bad])
    const refused = await eventually(() => Promise.resolve(statuses.find((s) => s.pod === 'bad')), 30_000, 'bad reported refused')
    assert.equal(refused.status.phase, 'Failed')
    assert.equal(refused.status.reason, 'PodInvalid')
    assert.match(refused.status.message ?? '', /^Pod was rejected: EDGED_POD_INVALID: .*resources\.limits.*nvidia\.com\/gpu/)
    assert.ok(events.some((e) => e.pod === 'bad' && e.type === 'Warning' && e.reason === 'PodInvalid'), 'a Warning event says why')
    await new Promise((r) => setTimeout(r, 1500)) // a few syncs
    assert.deepEqual(await containersOf(h.runtime, 'bad'), [], 'nothing of the refused pod runs')

    const unseen = gpu(apiPod('unseen', SLEEP_FOREVER, 'uid-unseen'))
    api.set([web, deleting(bad, 30), deleting(unseen, 30)])
    await eventually(() => Promise.resolve(terminated.includes('uid-bad') && terminated.includes('uid-unseen')), 30_000, 'bad and unseen reported terminated')
    api.set([web])
    assert.equal((await containersOf(h.runtime, 'web', 'CONTAINER_RUNNING')).length, 1, 'the other pod runs on')
  })

  it('the pods capacity counts the pods admitted and not finished: a pod that completed frees its place, new pods are admitted oldest first, a refused one never runs', async () => {
    const h = suite().harness
    await writeManifest(h.manifests, 'static.yaml', busyboxPod('static', { app: SLEEP_FOREVER }))
    api.set([])
    const onlyStatic = async (): Promise<boolean> => (await h.runtime.listContainers({ state: 'CONTAINER_RUNNING' })).every((c) => c.labels[POD_NAME] === `static-${NODE}`)
    await eventually(async () => (await onlyStatic()) && (await containersOf(h.runtime, `static-${NODE}`, 'CONTAINER_RUNNING')).length === 1, 60_000, 'only the static pod running')
    await new Promise((r) => setTimeout(r, 1000)) // the stopped pods' terminations end
    const at = (pod: Pod, created: string, restartPolicy?: 'Never'): Pod => ({ ...pod, metadata: { ...pod.metadata, creationTimestamp: created }, spec: { ...pod.spec, ...(restartPolicy === undefined ? {} : { restartPolicy }) } })
    // the static pod and one more
    admission.allocatable = { pods: '2' }
    try {
      const done = at(apiPod('done', 'exit 0', 'uid-done'), '2026-01-01T00:00:00Z', 'Never')
      api.set([done])
      await eventually(() => Promise.resolve(statuses.some((s) => s.pod === 'done' && s.status.phase === 'Succeeded')), 60_000, 'done Succeeded')
      const old = at(apiPod('old', SLEEP_FOREVER, 'uid-old'), '2026-01-01T00:00:01Z')
      const young = at(apiPod('young', SLEEP_FOREVER, 'uid-young'), '2026-01-01T00:00:02Z')
      api.set([done, young, old])
      const refused = await eventually(() => Promise.resolve(statuses.find((s) => s.pod === 'young')), 30_000, 'young refused')
      assert.deepEqual([refused.status.phase, refused.status.reason, refused.status.message], ['Failed', 'OutOfpods', "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2"])
      assert.ok(events.some((e) => e.pod === 'young' && e.type === 'Warning' && e.reason === 'OutOfpods'))
      await eventually(async () => (await containersOf(h.runtime, 'old', 'CONTAINER_RUNNING')).length === 1, 60_000, 'old running in the place done left')
      await new Promise((r) => setTimeout(r, 1500)) // a few syncs
      assert.deepEqual(await containersOf(h.runtime, 'young'), [], 'nothing of the refused pod runs')
      api.set([])
    } finally {
      admission.allocatable = undefined
    }
  })
})
