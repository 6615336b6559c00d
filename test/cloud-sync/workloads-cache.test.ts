/**
 * tern cloud keeps the data of a ConfigMap or Secret only while some bound pod references it (the
 * kubelet's configmap/secret managers hold only what their pods use): of every other one a stub
 * (namespace, name, resourceVersion). A new reference to an object held as a stub reads it and
 * the pod reaches the edge only after it; an object created after its pod is taken from the
 * watch with no read; an edit of a referenced object flows; a reference gone forgets the data;
 * managedFields and the last-applied annotation are neither cached nor sent. The real
 * CloudController with client-node against the API emulator, the edge's real store.
 */
import { strict as assert } from 'node:assert'
import { ClientNodeWorkloadApi } from '../../cloud-sync/cloud/workload-api.js'
import { loadKubeConfig } from '../../cloud-sync/cloud/kube-api.js'
import { isStub } from '../../cloud-sync/cloud/referenced-objects.js'
import { LAST_APPLIED } from '../../cloud-sync/cloud/workload-set.js'
import type { Workloads } from '../../cloud-sync/cloud/workloads.js'
import { Operations } from '../../cloud-sync/messages.js'
import { eventually, startHarness, type Harness } from './cloud-harness.js'
import { configMap as cm, pod as boundPod, secret as sec, workloadEdge, type WorkloadEdge } from './workload-edge.js'

const NODE = 'node-a'

type Obj = Record<string, unknown>

/** created as `kubectl apply` leaves it: its last-applied annotation (the whole object again), managedFields, and an annotation of its own */
const applied = (o: Obj): Obj => ({ annotations: { [LAST_APPLIED]: JSON.stringify(o), keep: 'yes' }, managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: {} }] })

describe('tern cloud holds the data of ConfigMaps and Secrets only while a bound pod references them (CloudController, API emulator, the edge store)', function () {
  this.timeout(60_000)
  let h: Harness
  let edge: WorkloadEdge
  let workloads: Workloads
  beforeEach(async () => {
    h = await startHarness({ crds: true, cloudFromKubeconfig: (kc) => ({ workloadApi: new ClientNodeWorkloadApi(loadKubeConfig(kc)) }) })
    edge = await workloadEdge(h, NODE)
    workloads = h.cloud.workloads as Workloads
  })
  afterEach(async () => {
    edge.close()
    await h.close()
  })

  const secret = (name: string, value: string, metadata: Obj = {}): Obj => sec(name, value, 'default', metadata)
  const configMap = (name: string, value: string, metadata: Obj = {}): Obj => cm(name, value, 'default', metadata)
  const pod = (name: string, configMapName: string, secretName: string, metadata: Obj = {}): Obj => boundPod(name, NODE, configMapName, secretName, metadata)
  const create = (plural: string, body: Obj): Promise<Obj> => h.create(`/api/v1/namespaces/default/${plural}`, body)
  /** what the cloud's cache holds of a Secret or ConfigMap */
  const cached = (kind: 'secrets' | 'configMaps', name: string): unknown => workloads[kind].informer.get('default', name)
  const reads = (plural: string, name: string): number => h.kube.requests.filter((r) => r.method === 'GET' && r.url.split('?')[0] === `/api/v1/namespaces/default/${plural}/${name}`).length
  /** index on the edge's wire of the first update of `resource` */
  const updateAt = (resource: string): number => edge.wire.findIndex((m) => m.route.operation === Operations.update && m.route.resource === resource)

  it('an unreferenced one is a stub; a new pod referencing it gets it, data and all, ahead of the pod; an edit then flows; once no pod references it, its data is forgotten', async () => {
    await create('secrets', secret('token', 'one'))
    await create('configmaps', configMap('cfg', 'first'))
    await eventually(() => isStub(cached('secrets', 'token') as never) && isStub(cached('configMaps', 'cfg') as never), 10_000, 'the unreferenced objects held as stubs')
    assert.deepEqual(Object.keys(cached('secrets', 'token') as Obj).sort(), ['metadata', 'stub'], 'no data of an unreferenced Secret')

    // every time the edge's store changes, the pod it holds has what it uses
    const incomplete: string[] = []
    edge.store.onChange(() => {
      if (edge.store.objects.has('default/pod/app') && !(edge.store.objects.has('default/secret/token') && edge.store.objects.has('default/configmap/cfg'))) incomplete.push(edge.held().join())
    })
    await create('pods', pod('app', 'cfg', 'token'))
    await eventually(() => edge.held().includes('default/pod/app'), 10_000, 'the pod at the edge')
    assert.deepEqual(incomplete, [], 'the edge never held the pod without its ConfigMap and Secret')
    assert.ok(updateAt('default/secret/token') >= 0 && updateAt('default/secret/token') < updateAt('default/pod/app'), 'the Secret went down before the pod')
    assert.ok(updateAt('default/configmap/cfg') >= 0 && updateAt('default/configmap/cfg') < updateAt('default/pod/app'), 'the ConfigMap went down before the pod')
    assert.equal((await edge.store.secret('default', 'token'))?.v, 'one')
    assert.equal((await edge.store.configMap('default', 'cfg'))?.v, 'first')
    assert.equal(reads('secrets', 'token'), 1, 'one read of the Secret the new reference needed')
    assert.equal(reads('configmaps', 'cfg'), 1, 'one read of the ConfigMap the new reference needed')
    assert.ok(!isStub(cached('secrets', 'token') as never), 'held whole while referenced')

    await h.mergePatch('/api/v1/namespaces/default/configmaps/cfg', { data: { v: 'second' } })
    await eventually(async () => (await edge.store.configMap('default', 'cfg'))?.v === 'second', 10_000, 'the edit of the referenced ConfigMap at the edge')
    assert.equal(reads('configmaps', 'cfg'), 1, 'the edit came through the watch')

    const gone = await h.http('DELETE', '/api/v1/namespaces/default/pods/app?gracePeriodSeconds=0')
    assert.equal(gone.status, 200)
    await eventually(() => edge.held().length === 0, 10_000, 'the pod and what it used gone from the edge')
    assert.deepEqual(cached('secrets', 'token'), { stub: true, metadata: { name: 'token', namespace: 'default', resourceVersion: (cached('secrets', 'token') as { metadata: { resourceVersion: string } }).metadata.resourceVersion } }, 'the Secret no pod uses is a stub again')
    assert.ok(isStub(cached('configMaps', 'cfg') as never), 'so is the ConfigMap')
  })

  it('a change of a pod (its status, a label) keeps what it references whole: no read, and the edge never loses the pod', async () => {
    await create('secrets', secret('kept', 'one'))
    await create('configmaps', configMap('kept-cfg', 'first'))
    await create('pods', pod('steady', 'kept-cfg', 'kept'))
    await eventually(() => edge.held().includes('default/pod/steady'), 10_000, 'the pod at the edge')
    const lost: string[] = []
    edge.store.onChange(() => {
      for (const resource of ['default/pod/steady', 'default/secret/kept', 'default/configmap/kept-cfg']) if (!edge.store.objects.has(resource)) lost.push(resource)
    })
    const before = { secret: reads('secrets', 'kept'), configMap: reads('configmaps', 'kept-cfg'), wire: edge.wire.length }
    for (let i = 0; i < 5; i++) {
      await h.mergePatch('/api/v1/namespaces/default/pods/steady/status', { status: { phase: 'Running', message: `report ${i}` } })
      await h.mergePatch('/api/v1/namespaces/default/pods/steady', { metadata: { labels: { round: String(i) } } })
    }
    await eventually(() => workloads.pods.get('default', 'steady')?.metadata.labels?.round === '4', 10_000, 'the last label in the cloud\'s cache')
    await eventually(() => (edge.store.objects.get('default/pod/steady')?.metadata as { labels?: Obj } | undefined)?.labels?.round === '4', 10_000, 'the last label at the edge')
    assert.deepEqual(lost, [], 'the edge never lost the pod or what it uses')
    assert.deepEqual({ secret: reads('secrets', 'kept'), configMap: reads('configmaps', 'kept-cfg') }, { secret: before.secret, configMap: before.configMap }, 'no read: the objects stayed whole')
    assert.ok(!isStub(cached('secrets', 'kept') as never) && !isStub(cached('configMaps', 'kept-cfg') as never), 'held whole throughout')
    const removals = edge.wire.slice(before.wire).filter((m) => m.route.operation !== Operations.update)
    assert.deepEqual(removals.map((m) => `${m.route.operation} ${m.route.resource}`), [], 'only updates went down')
  })

  it('a referenced Secret created after its pod comes from the watch, with no read, and reaches the edge', async () => {
    await create('configmaps', configMap('cfg-late', 'x'))
    await create('pods', pod('early', 'cfg-late', 'late'))
    await eventually(() => edge.held().includes('default/pod/early'), 10_000, 'the pod at the edge (its Secret does not exist yet)')
    await create('secrets', secret('late', 'arrived'))
    await eventually(async () => (await edge.store.secret('default', 'late'))?.v === 'arrived', 10_000, 'the Secret at the edge')
    assert.equal(reads('secrets', 'late'), 0, 'no read: the watch brought it, kept whole because a pod references it')
    assert.ok(!isStub(cached('secrets', 'late') as never))
  })

  it('managedFields and the last-applied annotation are neither cached nor sent, of pods, ConfigMaps and Secrets', async () => {
    await create('secrets', secret('s', 'v', applied(secret('s', 'v'))))
    await create('configmaps', configMap('c', 'v', applied(configMap('c', 'v'))))
    await create('pods', pod('p', 'c', 's', applied(pod('p', 'c', 's'))))
    await eventually(() => edge.held().length === 3, 10_000, 'pod, ConfigMap and Secret at the edge')
    for (const [resource, held] of [...edge.store.objects]) {
      const metadata = held.metadata as Obj
      assert.deepEqual(metadata.annotations, { keep: 'yes' }, `${resource} at the edge: other annotations kept, not the last-applied one`)
      assert.equal(metadata.managedFields, undefined, `${resource} at the edge: no managedFields`)
    }
    for (const held of [workloads.pods.get('default', 'p'), cached('secrets', 's'), cached('configMaps', 'c')]) {
      const metadata = (held as { metadata: Obj }).metadata
      assert.deepEqual([metadata.annotations, metadata.managedFields], [{ keep: 'yes' }, undefined], `${String(metadata.name)} in the cloud's cache`)
    }
  })
})
