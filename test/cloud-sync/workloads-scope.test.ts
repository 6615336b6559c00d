/**
 * A node never receives ConfigMaps or Secrets its pods do not reference (DESIGN.md §7; the
 * kubelet's podutil.VisitPodConfigmapNames/VisitPodSecretNames): not another node's, not an
 * unreferenced one in the same namespace, not a same-named one in another namespace, and not one a
 * pod stopped referencing (its pod gone) — neither in the resync nor as a later change. Checked on
 * the wire (every envelope the edge's session received, the resync's content included) and in the
 * edge's store (WorkloadSync over its database, read again after a restart). The cloud side is the
 * real CloudController with client-node against the API emulator.
 */
import { strict as assert } from 'node:assert'
import { WorkloadSync } from '../../cloud-sync/edge/workload-sync.js'
import { ClientNodeWorkloadApi } from '../../cloud-sync/cloud/workload-api.js'
import { loadKubeConfig } from '../../cloud-sync/cloud/kube-api.js'
import { Operations } from '../../cloud-sync/messages.js'
import { eventually, startHarness, type Harness } from './cloud-harness.js'
import { configMap, named, pod, secret, workloadEdge } from './workload-edge.js'

const NODE = 'node-a'
const OTHER = 'node-b'

type Obj = Record<string, unknown>

describe('workloads down: a node gets only the ConfigMaps and Secrets its pods reference (CloudController, API emulator, the edge store)', function () {
  this.timeout(60_000)
  let h: Harness
  afterEach(async () => {
    await h.close()
  })

  it('not another node’s, not an unreferenced one, not one in another namespace, not one its pod stopped referencing: on the wire and in the store', async () => {
    h = await startHarness({ crds: true, cloudFromKubeconfig: (kc) => ({ workloadApi: new ClientNodeWorkloadApi(loadKubeConfig(kc)) }) })
    const create = (plural: string, body: Obj, namespace = 'default'): Promise<Obj> => h.create(`/api/v1/namespaces/${namespace}/${plural}`, body)
    await h.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } })
    for (const name of ['cm-a', 'cm-b', 'cm-unused', 'cm-dropped']) await create('configmaps', configMap(name, `${name}-1`))
    for (const name of ['s-a', 's-b', 's-unused', 's-dropped']) await create('secrets', secret(name, `${name}-1`))
    await create('configmaps', configMap('cm-a', 'elsewhere', 'other'), 'other')
    await create('secrets', secret('s-a', 'elsewhere', 'other'), 'other')
    await create('pods', pod('a1', NODE, 'cm-a', 's-a'))
    await create('pods', pod('a2', NODE, 'cm-dropped', 's-dropped'))
    await create('pods', pod('b1', OTHER, 'cm-b', 's-b'))

    const { store, db, wire, held, close } = await workloadEdge(h, NODE)
    const other = h.edge(OTHER) // another node, connected: it gets its own
    const mine = ['default/configmap/cm-a', 'default/configmap/cm-dropped', 'default/pod/a1', 'default/pod/a2', 'default/secret/s-a', 'default/secret/s-dropped']
    await eventually(() => held().join() === mine.join(), 10_000, `the node's set in its store (holds ${held().join()})`)
    await other.waitFor((r) => r.some((m) => named(m).includes('default/configmap/cm-b')), 10_000)

    // a2 goes: what only it used goes from the node; then every object changes, the used one last
    const beforeGone = wire.length
    const gone = await h.http('DELETE', '/api/v1/namespaces/default/pods/a2?gracePeriodSeconds=0')
    assert.equal(gone.status, 200)
    await eventually(() => !held().includes('default/configmap/cm-dropped') && !held().includes('default/secret/s-dropped'), 10_000, 'cm-dropped and s-dropped deleted at the edge')
    for (const name of ['cm-b', 'cm-unused', 'cm-dropped']) await h.mergePatch(`/api/v1/namespaces/default/configmaps/${name}`, { data: { v: `${name}-2` } })
    for (const name of ['s-b', 's-unused', 's-dropped']) await h.mergePatch(`/api/v1/namespaces/default/secrets/${name}`, { data: { v: Buffer.from(`${name}-2`).toString('base64') } })
    await h.mergePatch('/api/v1/namespaces/other/configmaps/cm-a', { data: { v: 'elsewhere-2' } })
    await h.mergePatch('/api/v1/namespaces/other/secrets/s-a', { data: { v: Buffer.from('elsewhere-2').toString('base64') } })
    await h.mergePatch('/api/v1/namespaces/default/configmaps/cm-a', { data: { v: 'cm-a-2' } })
    await eventually(async () => (await store.configMap('default', 'cm-a'))?.v === 'cm-a-2', 10_000, 'the change of cm-a at the edge')
    await other.waitFor((r) => r.some((m) => m.route.operation === Operations.update && m.route.resource === 'default/configmap/cm-b'), 10_000)

    const seen = new Set(wire.flatMap(named))
    assert.deepEqual([...seen].sort(), mine, 'nothing else ever named on the node’s wire')
    // (until then they came in the resync, or as updates ahead of their pod when read after it was created)
    const dropped = wire.slice(beforeGone).filter((m) => m.route.resource === 'default/configmap/cm-dropped' || m.route.resource === 'default/secret/s-dropped').map((m) => m.route.operation)
    assert.deepEqual(dropped, [Operations.delete, Operations.delete], 'after its pod went: deleted at the edge, never updated again')
    assert.deepEqual(held(), ['default/configmap/cm-a', 'default/pod/a1', 'default/secret/s-a'])
    assert.equal((await store.secret('default', 's-a'))?.v, 's-a-1', 'the Secret of this namespace, not the other one')

    // the store as a restarted edge reads it from its database
    await store.stop()
    const again = new WorkloadSync({ db, nodeName: NODE, fsync: false, log: h.log })
    await again.start()
    assert.deepEqual([...again.objects.keys()].sort(), ['default/configmap/cm-a', 'default/pod/a1', 'default/secret/s-a'])
    close()
  })
})
