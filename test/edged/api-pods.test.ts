/**
 * Edged's hooks for pods from the API server (source `api`), against a real containerd: every new
 * status of such a pod reaches the status hook, and the kubelet's events (Pulled, Created, Started,
 * BackOff, Killing) reach the recorder — nothing of static pods does; and admission against the
 * Node's spec: a cordoned node refuses new pods (Failed, TaintToleration, nothing runs) while the
 * pods it runs keep running, and admits new ones again once uncordoned.
 */
import assert from 'node:assert/strict'
import { NodeAdmission } from '../../edged/admission.js'
import type { PodSource } from '../../edged/sources/source.js'
import type { Pod, PodStatus } from '../../schemas/pod.js'
import { BUSYBOX_IMAGE } from '../support/containerd.js'
import { busyboxPod, containersOf, edgedSuite, eventually, NODE, SLEEP_FOREVER, writeManifest } from '../support/edged.js'

/** A source named `api` whose pods a test sets, as the cloud's would be. */
class TestApiSource implements PodSource {
  readonly name = 'api'
  #pods: Pod[] = []
  #onChange: (pods: Pod[]) => void = () => undefined
  start(onChange: (pods: Pod[]) => void): Promise<Pod[]> {
    this.#onChange = onChange
    return Promise.resolve(this.#pods)
  }
  stop(): Promise<void> {
    return Promise.resolve()
  }
  set(pods: Pod[]): void {
    this.#pods = pods
    this.#onChange(pods)
  }
}

function apiPod(name: string, script: string, uid: string): Pod {
  const pod = busyboxPod(name, { app: script }) as unknown as Pod
  return { ...pod, metadata: { name, namespace: 'default', uid }, spec: { ...pod.spec, nodeName: NODE, containers: pod.spec.containers.map((c) => ({ ...c, image: BUSYBOX_IMAGE, imagePullPolicy: 'IfNotPresent' })) } }
}

describe('edged: status and events of pods from the API server, admission against the Node spec (real containerd)', function () {
  this.timeout(180_000)
  const api = new TestApiSource()
  const statuses: Array<{ pod: string; status: PodStatus }> = []
  const events: Array<{ pod: string; type: string; reason: string; message: string }> = []
  const admission = new NodeAdmission()
  const suite = edgedSuite({
    crashBackoff: { initialMs: 1000, maxMs: 2000 },
    sources: [api],
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
})
