/**
 * Offline autonomy of workloads under a partition (DESIGN.md §7, §9), with real processes: the API
 * emulator, `tern cloud`, kubectl, and `tern edge` with edged on a private containerd, the edge in
 * its own network namespace reaching CloudHub over a veth pair that is cut (iptables DROP). While
 * the link is cut, pods are created, deleted and force-deleted in the cluster, a container keeps
 * crashing at the edge (restartPolicy Always: restarted per its back-off), and `tern edge` is
 * restarted (its pods come back from the local store, without the cloud). After healing: the
 * deleted pods are stopped at the edge and gone from the cluster, the new pod runs, nothing runs
 * that should not, and what happened offline reaches the cluster (restart count, phase, IPs), as
 * `kubectl get pods -o json` shows. What runs is read from containerd's CRI. Waits are bounded
 * generously: other tests load the machine.
 */
import { strict as assert } from 'node:assert'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { RuntimeObserver } from '../../edged/kuberuntime/observe.js'
import type { CloudWorld } from '../support/cloud.js'
import { containerdAvailable } from '../support/containerd.js'
import { makeNetnsPair, netnsUnavailable } from '../support/netns.js'
import { NODE, podUid, podYaml, SLEEPING, startPodsWorld, until } from '../support/pods-world.js'

interface ApiPod {
  metadata: { name: string; uid: string; deletionTimestamp?: string }
  status?: {
    phase?: string
    podIP?: string
    conditions?: Array<{ type: string; status: string }>
    containerStatuses?: Array<{ name: string; restartCount: number; ready: boolean; state?: Record<string, unknown>; lastState?: { terminated?: { exitCode: number } } }>
  }
}

/** The pods in the cluster by name, as `kubectl get pods -o json` gives them. */
async function apiPods(world: CloudWorld): Promise<Record<string, ApiPod | undefined>> {
  const got = await world.kubectl.run(['get', 'pods', '-o', 'json'])
  assert.equal(got.code, 0, got.stderr)
  return Object.fromEntries((JSON.parse(got.stdout) as { items: ApiPod[] }).items.map((p) => [p.metadata.name, p]))
}

interface EdgePod {
  /** running containers, with the uid of the pod each belongs to */
  running: Array<{ id: string; uid: string }>
  /** the highest restart count of its containers */
  restarts: number
  /** a ready sandbox's IP */
  ip?: string
}

/** What the edge's containerd holds, by pod name (pods of one name with different uids together). */
async function edgeView(runtime: ContainerRuntime): Promise<Map<string, EdgePod>> {
  const view = new Map<string, EdgePod>()
  for (const pod of (await new RuntimeObserver(runtime).relist()).values()) {
    const seen = view.get(pod.ref.name) ?? { running: [], restarts: 0 }
    const ip = pod.sandboxes.find((s) => s.state === 'SANDBOX_READY')?.ip ?? seen.ip
    view.set(pod.ref.name, {
      running: [...seen.running, ...pod.containers.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => ({ id: c.id, uid: pod.ref.uid }))],
      restarts: Math.max(seen.restarts, ...pod.containers.map((c) => c.restartCount)),
      ...(ip === undefined ? {} : { ip }),
    })
  }
  return view
}

const readyCondition = (pod: ApiPod | undefined): string | undefined => pod?.status?.conditions?.find((c) => c.type === 'Ready')?.status

/**
 * What kube-controller-manager's node lifecycle controller does to the pods of a node that stopped
 * posting status (MarkPodsNotReady: the Ready condition False, written with an update of the status
 * subresource). No controller manager runs here (DESIGN.md §10), so the test does it with kubectl.
 */
async function markPodsNotReady(world: CloudWorld, names: readonly string[]): Promise<void> {
  const pods = await apiPods(world)
  for (const name of names) {
    const pod = pods[name]
    const conditions = pod?.status?.conditions ?? []
    assert.ok(conditions.some((c) => c.type === 'Ready'), `${name} has a Ready condition`)
    for (const c of conditions) if (c.type === 'Ready') Object.assign(c, { status: 'False', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') })
    const replaced = await world.kubectl.run(['replace', '--subresource=status', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod }))
    assert.equal(replaced.code, 0, replaced.stderr)
  }
}

describe('pods under a partition: the edge in its own network namespace, the cloud link cut (real processes)', function () {
  this.timeout(600_000)
  const undo: Array<() => Promise<void>> = []
  before(async function () {
    if (netnsUnavailable() !== undefined || !(await containerdAvailable())) this.skip()
  })
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it('pods created, deleted and crashing during the cut, tern edge restarted in it: after healing pods and their status converge, nothing runs that should not', async () => {
    const pair = await makeNetnsPair()
    undo.push(() => pair.remove())
    const { world, runtime, startEdge } = await startPodsWorld(undo, { link: pair })
    let edge = await startEdge()

    const pods = ['keep', 'doomed', 'forced', 'reborn'].map((name) => podYaml(name, NODE, SLEEPING))
    pods.push(podYaml('crashy', NODE, 'sleep 1; exit 1'))
    const applied = await world.kubectl.run(['apply', '-f', '-'], pods.join('---\n'))
    assert.equal(applied.code, 0, applied.stderr)
    // before the cut: everything runs and the cluster has seen crashy restart at least once
    const before = await until(
      'keep Running with its IP and crashy restarted, in the cluster',
      () => apiPods(world),
      (p) => p['keep']?.status?.podIP !== undefined && p['keep']?.status?.phase === 'Running' && (p['crashy']?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
      180_000,
    )
    const atEdge = await until('keep, doomed, forced, reborn running at the edge', () => edgeView(runtime), (v) => ['keep', 'doomed', 'forced', 'reborn'].every((n) => v.get(n)?.running.length === 1))
    const keepIp = atEdge.get('keep')?.ip
    assert.equal(before['keep']?.status?.podIP, keepIp, 'the reported IP is the sandbox’s')
    const keepContainer = atEdge.get('keep')?.running[0]

    await pair.cut('iptables-drop')
    // the cluster changes while the edge cannot hear it
    const fresh = await world.kubectl.run(['apply', '-f', '-'], podYaml('fresh', NODE, SLEEPING))
    assert.equal(fresh.code, 0, fresh.stderr)
    const freshUid = await podUid(world, 'fresh')
    const deleted = await world.kubectl.run(['delete', 'pod', 'doomed', '--wait=false'])
    assert.equal(deleted.code, 0, deleted.stderr)
    const forced = await world.kubectl.run(['delete', 'pod', 'forced', '--grace-period=0', '--force'])
    assert.equal(forced.code, 0, forced.stderr)
    // a pod deleted at once and created again under its name: a new uid
    const oldReborn = atEdge.get('reborn')?.running[0]?.uid
    assert.equal((await world.kubectl.run(['delete', 'pod', 'reborn', '--grace-period=0', '--force'])).code, 0)
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml('reborn', NODE, SLEEPING))).code, 0)
    const rebornUid = await podUid(world, 'reborn')
    assert.notEqual(rebornUid, oldReborn)

    // the edge goes on alone: crashy restarts per its back-off, with nothing heard from the cloud
    const offline1 = (await edgeView(runtime)).get('crashy')?.restarts ?? 0
    const beforeRestart = await until('crashy restarted offline', () => edgeView(runtime), (v) => (v.get('crashy')?.restarts ?? 0) > offline1, 120_000)
    assert.equal(beforeRestart.get('doomed')?.running.length, 1, 'the edge has not heard of the deletion')
    assert.equal(beforeRestart.get('fresh'), undefined, 'nor of the new pod')

    // tern edge restarted during the cut: its pods come from the local store
    await edge.stop()
    edge = await startEdge()
    await edge.waitForLine((l) => l.includes('workload objects loaded') && l.includes('"objects":5'), 60_000)
    const afterRestart = await until(
      'crashy restarted again by the restarted edge, offline',
      () => edgeView(runtime),
      (v) => (v.get('crashy')?.restarts ?? 0) > (beforeRestart.get('crashy')?.restarts ?? 0),
      120_000,
    )
    assert.deepEqual(afterRestart.get('keep')?.running, [keepContainer], 'keep adopted, not started again')
    assert.equal(afterRestart.get('doomed')?.running.length, 1)
    assert.equal(afterRestart.get('fresh'), undefined)
    assert.equal(afterRestart.get('reborn')?.running[0]?.uid, oldReborn, 'the edge still runs the pod it knows')
    const offlineRestarts = afterRestart.get('crashy')?.restarts ?? 0
    // the node goes NotReady in the cluster, and its pods are marked not ready as a controller manager would
    await until('the node NotReady', () => world.kubectl.run(['get', 'node', NODE]).then((r) => r.stdout), (t) => new RegExp(`^${NODE}\\s+NotReady\\s`, 'm').test(t), 120_000)
    await markPodsNotReady(world, ['keep', 'crashy', 'doomed'])
    // nothing crossed the cut
    const during = await apiPods(world)
    assert.ok((during['crashy']?.status?.containerStatuses?.[0]?.restartCount ?? 0) < offlineRestarts, 'the cluster has not seen the offline restarts yet')
    assert.notEqual(during['doomed']?.metadata.deletionTimestamp, undefined, 'doomed is Terminating, waiting for the edge')
    assert.equal(during['fresh']?.status?.phase, 'Pending')
    assert.equal(('forced' in during), false)

    await pair.heal()
    const healed = await until(
      'the edge converged: fresh running, doomed and forced stopped',
      () => edgeView(runtime),
      (v) => v.get('fresh')?.running.length === 1 && (v.get('doomed')?.running.length ?? 0) === 0 && (v.get('forced')?.running.length ?? 0) === 0 && v.get('reborn')?.running.length === 1 && v.get('reborn')?.running[0]?.uid === rebornUid,
      180_000,
    )
    assert.equal(healed.get('fresh')?.running[0]?.uid, freshUid, 'fresh runs with its API uid')
    const cluster = await until(
      'the cluster converged: doomed gone, fresh Running with its IP, crashy’s offline restarts counted',
      () => apiPods(world),
      (p) =>
        !('doomed' in p) &&
        p['fresh']?.status?.phase === 'Running' &&
        p['fresh']?.status?.podIP !== undefined &&
        p['reborn']?.status?.phase === 'Running' &&
        readyCondition(p['keep']) === 'True' &&
        (p['crashy']?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= offlineRestarts,
      180_000,
    )
    assert.deepEqual(Object.keys(cluster).sort(), ['crashy', 'fresh', 'keep', 'reborn'])
    await until('the node Ready again', () => world.kubectl.run(['get', 'node', NODE]).then((r) => r.stdout), (t) => new RegExp(`^${NODE}\\s+Ready\\s`, 'm').test(t), 60_000)
    assert.equal(cluster['reborn']?.metadata.uid, rebornUid)
    assert.equal(cluster['reborn']?.status?.podIP, (await edgeView(runtime)).get('reborn')?.ip)
    const keep = cluster['keep']
    assert.equal(keep?.status?.phase, 'Running')
    assert.equal(keep?.status?.podIP, keepIp, 'keep kept its sandbox and IP through the edge restart')
    assert.equal(keep?.status?.containerStatuses?.[0]?.restartCount, 0)
    assert.equal(keep?.status?.containerStatuses?.[0]?.ready, true)
    const crashy = cluster['crashy']?.status
    assert.equal(crashy?.phase, 'Running', 'restartPolicy Always: a crash loop keeps the pod Running')
    assert.equal(crashy?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 1)
    assert.equal(crashy?.podIP, (await edgeView(runtime)).get('crashy')?.ip)
    assert.equal(cluster['fresh']?.status?.podIP, (await edgeView(runtime)).get('fresh')?.ip)

    // nothing runs that should not, a few sync periods later too
    await new Promise((r) => setTimeout(r, 3000))
    const last = await edgeView(runtime)
    const runningPods = [...last].filter(([, v]) => v.running.length > 0).map(([name]) => name)
    assert.ok(runningPods.every((name) => ['keep', 'crashy', 'fresh', 'reborn'].includes(name)), `running at the edge: ${runningPods.join(', ')}`)
    assert.deepEqual(last.get('reborn')?.running.map((c) => c.uid), [rebornUid], 'only the new reborn runs')
    assert.deepEqual(last.get('keep')?.running, [keepContainer])
    assert.equal(last.get('fresh')?.running.length, 1)
  })
})
