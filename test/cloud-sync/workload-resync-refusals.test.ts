/**
 * One object of a node's workload resync that the edge's store refuses costs only itself
 * (cloud-sync/edge/workload-resync.ts): the edge applies the others, keeps what it held of the
 * refused one, and names it in the resync's answer; tern cloud handles each as a refused `update`
 * (its pods to the `onRefused` handlers, which report them Failed: unsent-pods.ts) and does not
 * send the resync again. The cloud side is the real CloudController against the API emulator, the
 * edge the real WorkloadSync; the skew (a cloud of another tern version sending what this edge's
 * schema does not take) is made on the wire between them: a pod's label value turned into a number.
 */
import { strict as assert } from 'node:assert'
import { loadKubeConfig } from '../../cloud-sync/cloud/kube-api.js'
import type { RefusedHandler } from '../../cloud-sync/cloud/unsent-pods.js'
import { ClientNodeWorkloadApi } from '../../cloud-sync/cloud/workload-api.js'
import { Operations, WORKLOAD_RESYNC_RESOURCE, type Envelope, type NodeWorkloadSet } from '../../cloud-sync/messages.js'
import { eventually, startHarness, type Harness } from './cloud-harness.js'
import { configMap, named, pod, resyncStore, secret, workloadEdge } from './workload-edge.js'

const NODE = 'node-a'

type Obj = Record<string, unknown>
type Refusal = Parameters<RefusedHandler>

/** The skew: pod `name`, wherever it goes to the edge, carries a label value this edge's schema refuses. */
function skewed(name: string): (m: Envelope) => void {
  const bad = (p: { metadata: { name: string; labels?: Record<string, unknown> } }): void => {
    if (p.metadata.name === name) p.metadata.labels = { ...p.metadata.labels, version: 2 }
  }
  return (m) => {
    if (m.route.operation === Operations.resync && m.route.resource === WORKLOAD_RESYNC_RESOURCE) for (const p of (m.content as NodeWorkloadSet).pods) bad(p)
    if (m.route.operation === Operations.update && m.route.resource.startsWith('default/pod/')) bad(m.content as { metadata: { name: string } })
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('workloads down: an object of a resync the edge refuses costs only itself (CloudController, API emulator, the edge store)', function () {
  this.timeout(60_000)
  let h: Harness
  afterEach(async () => {
    await h.close()
  })

  async function world(): Promise<{ refusals: Refusal[] }> {
    h = await startHarness({ crds: true, cloudFromKubeconfig: (kc) => ({ workloadApi: new ClientNodeWorkloadApi(loadKubeConfig(kc)) }) })
    const create = (plural: string, body: Obj): Promise<Obj> => h.create(`/api/v1/namespaces/default/${plural}`, body)
    for (const name of ['cm-a', 'cm-b', 'cm-bad']) await create('configmaps', configMap(name, `${name}-1`))
    for (const name of ['s-a', 's-b', 's-bad']) await create('secrets', secret(name, `${name}-1`))
    await create('pods', pod('a', NODE, 'cm-a', 's-a'))
    await create('pods', pod('bad', NODE, 'cm-bad', 's-bad'))
    await create('pods', pod('b', NODE, 'cm-b', 's-b'))
    const refusals: Refusal[] = []
    const workloads = h.cloud.workloads
    assert.ok(workloads !== undefined)
    workloads.onRefused((...refusal) => refusals.push(refusal))
    // all in tern cloud's caches, so the node's first resync carries them all
    await eventually(
      () => ['a', 'b', 'bad'].every((name) => workloads.boundPod(NODE, 'default', name) !== undefined && workloads.configMaps.get('default', `cm-${name}`) !== undefined && workloads.secrets.get('default', `s-${name}`) !== undefined),
      10_000,
      'the pods and what they use in the caches',
    )
    return { refusals }
  }

  it('a pod the edge refuses in the resync of a node that held nothing: the others are stored, it is reported refused as its update would be, and the resync goes once', async () => {
    const { refusals } = await world()
    const { store, held, wire } = await workloadEdge(h, NODE, { alter: skewed('bad') })
    const others = ['default/configmap/cm-a', 'default/configmap/cm-b', 'default/configmap/cm-bad', 'default/pod/a', 'default/pod/b', 'default/secret/s-a', 'default/secret/s-b', 'default/secret/s-bad']
    await eventually(() => held().join() === others.join(), 10_000, `the node's other objects in its store (holds ${held().join()})`)
    await eventually(() => refusals.length > 0, 10_000, 'the refusal handed on')
    assert.deepEqual(
      refusals.map(([node, p, error, wasHeld]) => [node, p.metadata.name, error, wasHeld]),
      [[NODE, 'bad', { code: 'CLOUD_MESSAGE_INVALID', reason: '/content/metadata/labels/version: must be string' }, false]],
      'as the answer to an update of it says it',
    )
    await pause(2500) // a refused resync is sent again after 1 s
    assert.deepEqual({ resyncs: h.cloud.workloads?.metrics().resyncs, refused: h.cloud.workloads?.metrics().refused }, { resyncs: 1, refused: 1 })
    assert.equal(store.pods().length, 2)
    assert.deepEqual(wire.filter((m) => named(m).includes('default/pod/bad')).map((m) => m.route.operation), [Operations.resync], 'the pod came in the resync only')

    // the node is served on: a change of another pod reaches it
    await h.mergePatch('/api/v1/namespaces/default/pods/a', { metadata: { labels: { step: '2' } } })
    await eventually(() => store.pods().some((p) => p.metadata.name === 'a' && p.metadata.labels?.step === '2'), 10_000, 'the change of a at the edge')
  })

  it('a pod the node held whose newer version the edge refuses in a resync: the version it held stays, and the refusal says so', async () => {
    const { refusals } = await world()
    const first = await workloadEdge(h, NODE)
    await eventually(() => first.store.pods().length === 3, 10_000, 'the three pods at the edge')
    const uid = first.store.pods().find((p) => p.metadata.name === 'bad')?.metadata.uid
    await first.store.stop()
    first.close()

    const again = await workloadEdge(h, NODE, { alter: skewed('bad'), db: first.db })
    await eventually(() => refusals.length > 0, 10_000, 'the refusal handed on')
    assert.deepEqual(
      refusals.map(([, p, error, wasHeld]) => [p.metadata.name, p.metadata.uid, error.code, wasHeld]),
      [['bad', uid, 'CLOUD_MESSAGE_INVALID', true]],
    )
    const kept = again.store.pods().find((p) => p.metadata.name === 'bad')
    assert.equal(kept?.metadata.uid, uid, 'the version it held')
    assert.equal(kept?.metadata.labels, undefined)
    assert.equal(again.held().length, 9, 'all it had')
  })
})

describe('the edge store: a workload resync that is not a set is refused whole', () => {
  it('lists missing or not lists, kept not names, an object without a name: CLOUD_MESSAGE_INVALID with every problem, nothing stored', async () => {
    const { store, send } = await resyncStore(NODE)
    const good = pod('a', NODE, 'cm', 's', { uid: 'u1' })
    const cases: Array<[unknown, string]> = [
      ['pods', '/content: must be object'],
      [{ pods: [good], configmaps: 'x' }, '/content/configmaps: must be array; /content/secrets: is required'],
      [{ pods: [good], configmaps: [], secrets: [], kept: [3] }, '/content/kept: must be an array of resource names'],
      [{ pods: [good, { metadata: { namespace: 'default' }, spec: {} }], configmaps: [], secrets: [] }, '/content/pods/1/metadata: must name the object (name and namespace)'],
    ]
    for (const [content, reason] of cases) {
      const answer = await send(content)
      assert.equal(answer.route.operation, Operations.error, JSON.stringify(content))
      assert.deepEqual(answer.content, { code: 'CLOUD_MESSAGE_INVALID', reason })
    }
    assert.equal(store.objects.size, 0)
    const answer = await send({ pods: [good], configmaps: [], secrets: [] })
    assert.deepEqual([answer.route.operation, answer.content], [Operations.response, 'OK'], 'a resync it takes whole is answered as before')
    assert.deepEqual([...store.objects.keys()], ['default/pod/a'])
    await store.stop()
  })
})
