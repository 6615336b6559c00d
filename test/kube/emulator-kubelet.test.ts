/**
 * The emulator's built-ins for a kubelet-side controller (tern cloud's Node and Lease, later pods):
 * core/v1 Pods, Nodes, ConfigMaps, Events and coordination.k8s.io/v1 Leases, over HTTP and with the
 * real kubectl v1.32. References: "Kubernetes API Concepts" (field selectors), "Pod Lifecycle"
 * (Termination of Pods: deletionTimestamp, grace period, the kubelet's final delete with grace 0),
 * "Nodes" (Node status, heartbeats: Leases in kube-node-lease), kubectl's printers.
 */
import assert from 'node:assert/strict'
import { parse } from 'yaml'
import { call, openWatch } from '../support/kube/http.js'
import { kubectlFor, type Kubectl } from '../support/kube/kubectl.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'
import { scratchDir } from '../support/resources.js'

const PODS = '/api/v1/namespaces/default/pods'
const NODES = '/api/v1/nodes'
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases'

type Obj = Record<string, unknown> & { metadata: Record<string, unknown> }

const pod = (name: string, nodeName?: string, extra: Record<string, unknown> = {}): Obj => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { ...(nodeName === undefined ? {} : { nodeName }), containers: [{ name: 'app', image: 'busybox:1' }], ...extra },
})

const meta = (o: Record<string, unknown>): Record<string, unknown> => o.metadata as Record<string, unknown>
const spec = (o: Record<string, unknown>): Record<string, unknown> => o.spec as Record<string, unknown>
const names = (list: Record<string, unknown>): string[] => (list.items as Obj[]).map((o) => String(o.metadata.name))

describe('Kubernetes API emulator: Pods, Nodes, Leases, ConfigMaps, Events', function () {
  this.timeout(60_000)
  let kube: KubeEmulator
  beforeEach(async () => {
    kube = await startKubeEmulator()
  })
  afterEach(() => kube.stop())

  it('discovery lists pods (+status), configmaps, events and coordination.k8s.io/v1 leases', async () => {
    const core = ((await call(kube, 'GET', '/api/v1')).body.resources as { name: string }[]).map((r) => r.name)
    for (const r of ['pods', 'pods/status', 'nodes', 'nodes/status', 'configmaps', 'events', 'secrets']) assert.ok(core.includes(r), r)
    const groups = ((await call(kube, 'GET', '/apis')).body.groups as { name: string }[]).map((g) => g.name)
    assert.ok(groups.includes('coordination.k8s.io'))
    const leases = (await call(kube, 'GET', '/apis/coordination.k8s.io/v1')).body.resources as { name: string; namespaced: boolean }[]
    assert.deepEqual(leases.map((r) => [r.name, r.namespaced]), [['leases', true]])
  })

  it('a created pod gets the API server defaults and phase Pending; no containers is 422', async () => {
    const created = await call(kube, 'POST', PODS, pod('web', 'edge-1', { status: { phase: 'Running' } }))
    assert.equal(created.status, 201)
    assert.equal(spec(created.body).restartPolicy, 'Always')
    assert.equal(spec(created.body).terminationGracePeriodSeconds, 30)
    assert.equal((spec(created.body).containers as Obj[])[0]?.imagePullPolicy, 'IfNotPresent')
    assert.deepEqual((created.body.status as Record<string, unknown>).phase, 'Pending', 'status is the server’s on create')
    const latest = await call(kube, 'POST', PODS, { ...pod('latest'), spec: { containers: [{ name: 'a', image: 'busybox' }] } })
    assert.equal((spec(latest.body).containers as Obj[])[0]?.imagePullPolicy, 'Always')
    const bad = await call(kube, 'POST', PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bad' }, spec: { containers: [] } })
    assert.equal(bad.status, 422)
    assert.equal(((bad.body.details as { causes: { field: string }[] }).causes[0])?.field, 'spec.containers')
  })

  it('fieldSelector spec.nodeName selects pods in lists and watches; an unknown field is 400', async () => {
    for (const [name, node] of [['a', 'edge-1'], ['b', 'edge-2'], ['c', undefined]] as const) assert.equal((await call(kube, 'POST', PODS, pod(name, node))).status, 201)
    assert.deepEqual(names((await call(kube, 'GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dedge-1')).body), ['a'])
    assert.deepEqual(names((await call(kube, 'GET', `${PODS}?fieldSelector=spec.nodeName%21%3Dedge-1`)).body), ['b', 'c'])
    assert.deepEqual(names((await call(kube, 'GET', `${PODS}?fieldSelector=spec.nodeName%3D,status.phase%3DPending`)).body), ['c'])
    assert.equal((await call(kube, 'GET', `${PODS}?fieldSelector=spec.image%3Dx`)).status, 400)
    const list = await call(kube, 'GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dedge-2')
    const watch = await openWatch(kube, `/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dedge-2&resourceVersion=${String(meta(list.body).resourceVersion)}`)
    try {
      await call(kube, 'POST', PODS, pod('d', 'edge-1'))
      await call(kube, 'POST', PODS, pod('e', 'edge-2'))
      const event = await watch.next()
      assert.deepEqual([event.type, event.object.metadata?.name], ['ADDED', 'e'])
    } finally {
      watch.close()
    }
  })

  it('graceful deletion: a bound pod is marked (deletionTimestamp, grace), a shorter grace moves it, grace 0 removes it', async () => {
    await call(kube, 'POST', PODS, pod('web', 'edge-1', { terminationGracePeriodSeconds: 20 }))
    const watch = await openWatch(kube, `${PODS}?watch=true&fieldSelector=metadata.name%3Dweb`)
    try {
      assert.equal((await watch.next()).type, 'ADDED')
      const before = Date.now()
      const marked = await call(kube, 'DELETE', `${PODS}/web`)
      assert.equal(marked.status, 200)
      assert.equal(meta(marked.body).deletionGracePeriodSeconds, 20)
      const at = Date.parse(String(meta(marked.body).deletionTimestamp))
      assert.ok(at >= before + 18_000 && at <= Date.now() + 21_000, `deletionTimestamp ${String(meta(marked.body).deletionTimestamp)}`)
      const modified = await watch.next()
      assert.equal(modified.type, 'MODIFIED')
      assert.equal((await call(kube, 'GET', `${PODS}/web`)).status, 200, 'still there while terminating')
      // a longer grace period changes nothing; a shorter one (in DeleteOptions) moves the deadline
      assert.equal(meta((await call(kube, 'DELETE', `${PODS}/web?gracePeriodSeconds=60`)).body).deletionGracePeriodSeconds, 20)
      assert.equal(meta((await call(kube, 'DELETE', `${PODS}/web`, { gracePeriodSeconds: 5 })).body).deletionGracePeriodSeconds, 5)
      assert.equal((await watch.next()).type, 'MODIFIED')
      // the kubelet's final delete
      assert.equal((await call(kube, 'DELETE', `${PODS}/web`, { gracePeriodSeconds: 0 })).status, 200)
      assert.equal((await watch.next()).type, 'DELETED')
      assert.equal((await call(kube, 'GET', `${PODS}/web`)).status, 404)
    } finally {
      watch.close()
    }
    // no node runs it, or it has finished: deleted at once
    await call(kube, 'POST', PODS, pod('unbound'))
    await call(kube, 'DELETE', `${PODS}/unbound`)
    assert.equal((await call(kube, 'GET', `${PODS}/unbound`)).status, 404)
    await call(kube, 'POST', PODS, pod('done', 'edge-1'))
    await call(kube, 'PATCH', `${PODS}/done/status`, { status: { phase: 'Succeeded' } }, 'application/merge-patch+json')
    await call(kube, 'DELETE', `${PODS}/done`)
    assert.equal((await call(kube, 'GET', `${PODS}/done`)).status, 404)
  })

  it('pods/status and nodes/status change status only; Leases update with resourceVersion preconditions', async () => {
    await call(kube, 'POST', PODS, pod('web', 'edge-1'))
    const patched = await call(kube, 'PATCH', `${PODS}/web/status`, { spec: { nodeName: 'x' }, status: { phase: 'Running', podIP: '10.0.0.5' } }, 'application/merge-patch+json')
    assert.equal(patched.status, 200)
    assert.equal(spec(patched.body).nodeName, 'edge-1')
    assert.equal((patched.body.status as Record<string, unknown>).podIP, '10.0.0.5')
    await call(kube, 'POST', NODES, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-1' } })
    const node = await call(kube, 'PATCH', `${NODES}/edge-1/status`, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/strategic-merge-patch+json')
    assert.equal(node.status, 200)
    assert.equal(((node.body.status as { conditions: Obj[] }).conditions[0])?.status, 'True')
    // strategic merge patch merges NodeStatus.addresses and conditions by type, as kube-apiserver does
    const smp = (status: Record<string, unknown>): ReturnType<typeof call> => call(kube, 'PATCH', `${NODES}/edge-1/status`, { status }, 'application/strategic-merge-patch+json')
    await smp({ addresses: [{ type: 'InternalIP', address: '198.51.100.41' }, { type: 'Hostname', address: 'gw' }] })
    const merged = await smp({ addresses: [{ type: 'Hostname', address: 'gw' }], conditions: [{ type: 'MemoryPressure', status: 'False' }] })
    assert.deepEqual((merged.body.status as { addresses: unknown[] }).addresses, [{ type: 'InternalIP', address: '198.51.100.41' }, { type: 'Hostname', address: 'gw' }], 'an address the patch leaves out stays')
    assert.deepEqual((merged.body.status as { conditions: Array<{ type: string }> }).conditions.map((c) => c.type), ['Ready', 'MemoryPressure'])
    const replaced = await smp({ addresses: [{ type: 'Hostname', address: 'gw' }, { $patch: 'replace' }] })
    assert.deepEqual((replaced.body.status as { addresses: unknown[] }).addresses, [{ type: 'Hostname', address: 'gw' }], '$patch: replace')

    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'edge-1' }, spec: { holderIdentity: 'edge-1', leaseDurationSeconds: 40, renewTime: '2026-01-01T00:00:00.000000Z' } }
    const created = await call(kube, 'POST', LEASES, lease)
    assert.equal(created.status, 201)
    const renewed = await call(kube, 'PUT', `${LEASES}/edge-1`, { ...created.body, spec: { ...spec(created.body), renewTime: '2026-01-01T00:00:10.000000Z' } })
    assert.equal(renewed.status, 200)
    assert.equal((await call(kube, 'PUT', `${LEASES}/edge-1`, created.body)).status, 409, 'a stale resourceVersion conflicts')
  })

  describe('with kubectl', () => {
    let kubectl: Kubectl
    let dir: Awaited<ReturnType<typeof scratchDir>>
    const ok = async (args: string[], input?: string): Promise<string> => {
      const r = await kubectl.run(args, input)
      assert.equal(r.code, 0, `kubectl ${args.join(' ')}\n${r.stderr}`)
      return r.stdout
    }
    beforeEach(async () => {
      dir = await scratchDir('tern-kubectl-')
      kubectl = await kubectlFor(kube, dir.path)
    })
    afterEach(() => dir.remove())

    it('get nodes [-o wide] prints STATUS, ROLES, VERSION and nodeInfo; cordon/uncordon patch spec.unschedulable', async () => {
      await call(kube, 'POST', NODES, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-1', labels: { 'node-role.kubernetes.io/edge': '' } } })
      assert.match(await ok(['get', 'nodes']), /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\nedge-1\s+Unknown\s+edge\s+\d+s\s*\n$/)
      const status = {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
        addresses: [{ type: 'InternalIP', address: '192.0.2.7' }],
        nodeInfo: { kubeletVersion: 'v1.32.0-tern', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0', containerRuntimeVersion: 'containerd://1.6.20' },
      }
      await call(kube, 'PATCH', `${NODES}/edge-1/status`, { status }, 'application/merge-patch+json')
      const wide = (await ok(['get', 'nodes', '-o', 'wide'])).split('\n')
      assert.match(wide[0] ?? '', /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP\s+OS-IMAGE\s+KERNEL-VERSION\s+CONTAINER-RUNTIME$/)
      assert.match(wide[1] ?? '', /^edge-1\s+Ready\s+edge\s+\d+s\s+v1\.32\.0-tern\s+192\.0\.2\.7\s+<none>\s+Debian GNU\/Linux 12 \(bookworm\)\s+6\.1\.0\s+containerd:\/\/1\.6\.20$/)
      await ok(['cordon', 'edge-1'])
      assert.match(await ok(['get', 'nodes']), /edge-1\s+Ready,SchedulingDisabled/)
      assert.equal((parse(await ok(['get', 'node', 'edge-1', '-o', 'yaml'])) as { spec: { unschedulable?: boolean } }).spec.unschedulable, true)
      // kubectl asks for protobuf here and takes the JSON answer
      assert.ok(kube.requests.some((r) => r.method === 'PATCH' && r.url === `${NODES}/edge-1` && /protobuf/.test(r.accept ?? '')))
      await ok(['uncordon', 'edge-1'])
      assert.match(await ok(['get', 'nodes']), /edge-1\s+Ready\s+edge/)
      await call(kube, 'PATCH', `${NODES}/edge-1/status`, { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] } }, 'application/merge-patch+json')
      assert.match(await ok(['get', 'nodes']), /edge-1\s+NotReady\s+edge/)
    })

    it('apply a pod → get pods -o wide; status from the node; delete → Terminating until the final delete', async () => {
      await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: { name: web }\nspec:\n  nodeName: edge-1\n  containers: [{ name: app, image: "busybox:1" }]\n')
      assert.match(await ok(['get', 'pods', '-o', 'wide']), /web\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+edge-1\s+<none>\s+<none>/)
      const status = {
        phase: 'Running',
        podIP: '10.88.0.4',
        containerStatuses: [{ name: 'app', ready: true, restartCount: 2, image: 'busybox:1', imageID: '', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }],
      }
      await call(kube, 'PATCH', `${PODS}/web/status`, { status }, 'application/merge-patch+json')
      assert.match(await ok(['get', 'pods', '-o', 'wide']), /web\s+1\/1\s+Running\s+2\s+\d+s\s+10\.88\.0\.4\s+edge-1/)
      await call(kube, 'PATCH', `${PODS}/web/status`, { status: { containerStatuses: [{ ...status.containerStatuses[0], ready: false, state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }, 'application/merge-patch+json')
      assert.match(await ok(['get', 'pods']), /web\s+0\/1\s+CrashLoopBackOff\s+2/)
      assert.match(await ok(['get', 'pods', '--field-selector', 'spec.nodeName=edge-1']), /web/)
      assert.match(await ok(['delete', 'pod', 'web', '--wait=false']), /pod "web" deleted/)
      assert.match(await ok(['get', 'pods']), /web\s+0\/1\s+Terminating/)
      // `kubectl delete` (waiting) returns once the node's final delete removed it
      const waiting = kubectl.run(['delete', 'pod', 'web', '--timeout=30s'])
      // the final delete comes once kubectl has sent its DELETE and watches for the pod to go
      for (let i = 0; i < 300 && kube.watchCount() === 0; i++) await new Promise((r) => setTimeout(r, 50))
      assert.ok(kube.watchCount() > 0, 'kubectl watches the pod')
      assert.equal((await call(kube, 'DELETE', `${PODS}/web`, { gracePeriodSeconds: 0 })).status, 200)
      const done = await waiting
      assert.equal(done.code, 0, done.stderr)
      assert.match(await kubectl.run(['get', 'pods']).then((r) => r.stdout + r.stderr), /No resources found/)
    })

    it('kubectl create configmap sends a protobuf body: 415 with a clear message (the emulator speaks JSON only)', async () => {
      const r = await kubectl.run(['create', 'configmap', 'cfg', '--from-literal=a=1'])
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, /unknown format - accepted media types include: application\/json/)
    })

    it('configmaps, leases and events print their columns', async () => {
      await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg }\ndata: { a: "1", b: "2" }\n')
      assert.match(await ok(['get', 'configmaps']), /^NAME\s+DATA\s+AGE\ncfg\s+2\s+\d+s/)
      await call(kube, 'POST', LEASES, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'edge-1' }, spec: { holderIdentity: 'edge-1', leaseDurationSeconds: 40 } })
      assert.match(await ok(['get', 'leases', '-n', 'kube-node-lease']), /^NAME\s+HOLDER\s+AGE\nedge-1\s+edge-1\s+\d+s/)
      const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'web.1' }, involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' }, reason: 'Started', message: 'Started container app', type: 'Normal', lastTimestamp: new Date().toISOString() }
      assert.equal((await call(kube, 'POST', '/api/v1/namespaces/default/events', event)).status, 201)
      assert.match(await ok(['get', 'events']), /\d+s\s+Normal\s+Started\s+pod\/web\s+Started container app/)
    })
  })
})
