/**
 * A node whose pods together are more JSON than one frame of the link carries (16 MiB): twelve
 * pods of ~1.9 MiB each as sent. The cloud side is the real CloudController against the API
 * emulator, the edge the real WorkloadSync; between them a wire that closes the session on a
 * frame over 16 MiB, as the link's WebSocket does. An edge that announces `workload-resync-parts`
 * gets the resync in parts and holds every pod, and deletes made while the parts are on their way
 * or after converge; an edge that does not (an older tern) gets the one-frame resync when it fits,
 * and none (logged with CLOUD_RESYNC_TOO_LARGE) when it does not.
 */
import { strict as assert } from 'node:assert'
import { loadKubeConfig } from '../../cloud-sync/cloud/kube-api.js'
import { ClientNodeWorkloadApi } from '../../cloud-sync/cloud/workload-api.js'
import { forEdge } from '../../cloud-sync/cloud/workload-set.js'
import { DEFAULT_MAX_PAYLOAD, Capabilities } from '../../cloud-sync/link/protocol.js'
import { Operations, WORKLOAD_RESYNC_RESOURCE, type Envelope, type NodeWorkloadSet } from '../../cloud-sync/messages.js'
import { POD_MAX_BYTES } from '../../schemas/cloud-link-limits.js'
import type { CloudPod } from '../../schemas/workloads.js'
import { eventually, startHarness, type Harness } from './cloud-harness.js'
import { pod, resyncStore, workloadEdge, type WorkloadEdgeOptions } from './workload-edge.js'

const NODE = 'node-big'
const PODS = 12
const MiB = 1024 * 1024
/** as sent: a pod's JSON without status, close to the 2 MiB a node is sent */
const POD_BYTES = 1.9 * MiB

type Obj = Record<string, unknown>

/** A pod bound to `node` whose JSON as sent is about `bytes`: env values of 1,000 characters. */
function bigPod(name: string, node: string, bytes: number): Obj {
  const env = Array.from({ length: Math.floor(bytes / 1031) }, (_, i) => ({ name: `E${String(i).padStart(5, '0')}`, value: 'x'.repeat(1000) }))
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'app', image: 'busybox:1', env }] } }
}

const podName = (i: number): string => `big-${String(i).padStart(2, '0')}`
const isResync = (m: Envelope): boolean => m.route.operation === Operations.resync && m.route.resource === WORKLOAD_RESYNC_RESOURCE

describe('workloads down: pods past one frame reach their node (CloudController, API emulator, the edge store)', function () {
  this.timeout(120_000)
  let h: Harness
  afterEach(async () => {
    await h.close()
  })

  /** The twelve pods bound to NODE, in tern cloud's cache; their sizes as sent. */
  async function world(): Promise<number[]> {
    h = await startHarness({ crds: true, cloudFromKubeconfig: (kc) => ({ workloadApi: new ClientNodeWorkloadApi(loadKubeConfig(kc)) }) })
    for (let i = 0; i < PODS; i++) await h.create('/api/v1/namespaces/default/pods', bigPod(podName(i), NODE, POD_BYTES))
    const workloads = h.cloud.workloads
    assert.ok(workloads !== undefined)
    await eventually(() => Array.from({ length: PODS }, (_, i) => workloads.boundPod(NODE, 'default', podName(i))).every((p) => p !== undefined), 20_000, 'the pods in the cache')
    return Array.from({ length: PODS }, (_, i) => Buffer.byteLength(JSON.stringify(forEdge('pod', workloads.boundPod(NODE, 'default', podName(i)) as CloudPod))))
  }

  const edge = (options: WorkloadEdgeOptions = {}): ReturnType<typeof workloadEdge> => workloadEdge(h, NODE, { maxPayload: DEFAULT_MAX_PAYLOAD, ...options })
  const pods = (e: Awaited<ReturnType<typeof workloadEdge>>): string[] => e.store.pods().map((p) => p.metadata.name).sort()
  const all = (): string[] => Array.from({ length: PODS }, (_, i) => podName(i))
  const remove = async (name: string): Promise<void> => {
    const res = await h.http('DELETE', `/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
  }

  it(`${PODS} pods of ~1.9 MiB to an edge that takes parts: all in its store, no frame over 16 MiB; a delete after converges`, async () => {
    const sizes = await world()
    for (const bytes of sizes) assert.ok(bytes > 1.85 * MiB && bytes <= POD_MAX_BYTES, `a pod of ${bytes} bytes as sent`)
    assert.ok(sizes.reduce((a, b) => a + b) > DEFAULT_MAX_PAYLOAD)
    const e = await edge({ capabilities: [Capabilities.workloadResyncParts] })
    await eventually(() => pods(e).length === PODS, 60_000, `all pods at the edge (holds ${pods(e).length})`)
    assert.deepEqual(pods(e), all())
    const resyncs = e.wire.filter(isResync).map((m) => m.content as NodeWorkloadSet)
    assert.ok(resyncs.length >= 3, `${resyncs.length} parts`)
    assert.deepEqual(resyncs.map((r) => r.part?.index), resyncs.map((_, i) => i))
    assert.equal(e.frames.tooLarge, 0)
    assert.deepEqual({ resyncs: h.cloud.workloads?.metrics().resyncs, refused: h.cloud.workloads?.metrics().refused }, { resyncs: 1, refused: 0 })

    await remove(podName(5))
    await eventually(() => !pods(e).includes(podName(5)), 20_000, 'the deleted pod gone from the edge')
    assert.deepEqual(pods(e), all().filter((n) => n !== podName(5)))
  })

  it('a delete and a new pod while the parts are on their way: after the resync the edge holds exactly the cloud set', async () => {
    await world()
    const workloads = h.cloud.workloads
    assert.ok(workloads !== undefined)
    let changed: Promise<void> | undefined
    const hold = (m: Envelope): Promise<void> => {
      if (!isResync(m) || (m.content as NodeWorkloadSet).part?.index !== 1) return Promise.resolve()
      changed ??= (async () => {
        await remove(podName(0))
        await remove(podName(11))
        await h.create('/api/v1/namespaces/default/pods', bigPod('late', NODE, 1000))
        await eventually(() => workloads.boundPod(NODE, 'default', podName(0)) === undefined && workloads.boundPod(NODE, 'default', 'late') !== undefined, 20_000, 'the changes in the cache')
      })()
      return changed
    }
    const e = await edge({ capabilities: [Capabilities.workloadResyncParts], hold })
    const want = [...all().filter((n) => n !== podName(0) && n !== podName(11)), 'late'].sort()
    await eventually(() => pods(e).join() === want.join(), 60_000, `the cloud's set at the edge (holds ${pods(e).join()})`)
    assert.ok(changed !== undefined, 'the changes were made during the resync')
    const resync = e.wire.filter(isResync).map((m) => m.content as NodeWorkloadSet)
    assert.ok(resync.flatMap((r) => r.pods.map((p) => p.metadata.name)).includes(podName(0)), 'the resync was made before the delete')
    assert.equal(e.frames.tooLarge, 0)
  })

  it('an edge that does not announce parts (an older tern): the one-frame resync when it fits; none when it does not, logged, and the link stays', async () => {
    await world()
    // twelve do not fit one frame: no frame over 16 MiB goes, the node keeps what it has, the error says why
    const old = await edge()
    await eventually(() => h.logs.some((l) => l.code === 'CLOUD_RESYNC_TOO_LARGE'), 20_000, 'the refusal logged')
    const logged = h.logs.filter((l) => l.code === 'CLOUD_RESYNC_TOO_LARGE')
    assert.equal(logged.length, 1, 'logged once')
    assert.match(String(logged[0]?.reason), /more than the \d+ a frame of the link carries, and its edge does not take a resync in parts/)
    assert.equal(logged[0]?.node, NODE)
    assert.equal(old.frames.tooLarge, 0)
    assert.deepEqual(old.wire.filter(isResync), [])

    // down to four pods: once they fit (eight do), the resync goes in one frame, as to any edge, and the deletes follow
    for (let i = 4; i < PODS; i++) await remove(podName(i))
    await eventually(() => pods(old).join() === all().slice(0, 4).join(), 60_000, `the four pods at the edge (holds ${pods(old).join()})`)
    const resyncs = old.wire.filter(isResync).map((m) => m.content as NodeWorkloadSet)
    assert.equal(resyncs.length, 1)
    assert.equal(resyncs[0]?.part, undefined)
    assert.ok((resyncs[0]?.pods.length ?? 0) >= 4)
    assert.equal(old.frames.tooLarge, 0, 'no frame closed the session')
  })
})

describe('the edge store: a workload resync in parts', () => {
  const smallPod = (name: string, labels: Obj = {}): Obj => ({ ...pod(name, NODE, 'cm', 's', { uid: `uid-${name}` }), metadata: { name, namespace: 'default', uid: `uid-${name}`, labels } })
  const part = (resync: string, index: number, count: number, pods: Obj[]): Obj => ({ pods, configmaps: [], secrets: [], part: { resync, index, count } })
  const answerOf = (a: Envelope): unknown[] => [a.route.operation, a.content]

  it('parts are held until the last, then applied together: what the node held and the set does not name goes', async () => {
    const { store, send } = await resyncStore(NODE)
    assert.deepEqual(answerOf(await send({ pods: [smallPod('gone'), smallPod('a')], configmaps: [], secrets: [] })), [Operations.response, 'OK'])
    assert.deepEqual(answerOf(await send(part('r1', 0, 3, [smallPod('a', { v: '2' })]))), [Operations.response, 'OK'])
    assert.deepEqual(answerOf(await send(part('r1', 1, 3, [smallPod('b')]))), [Operations.response, 'OK'])
    assert.deepEqual([...store.objects.keys()].sort(), ['default/pod/a', 'default/pod/gone'], 'nothing applied before the last part')
    assert.deepEqual(answerOf(await send(part('r1', 2, 3, [smallPod('c')]))), [Operations.response, 'OK'])
    assert.deepEqual([...store.objects.keys()].sort(), ['default/pod/a', 'default/pod/b', 'default/pod/c'])
    assert.equal(store.pods().find((p) => p.metadata.name === 'a')?.metadata.labels?.v, '2')
    // a copy of the last part (re-sent before its answer arrived) changes nothing
    assert.deepEqual(answerOf(await send(part('r1', 2, 3, [smallPod('c')]))), [Operations.response, 'OK'])
    assert.equal(store.objects.size, 3)
    await store.stop()
  })

  it('an object refused in an early part costs only itself, named in the answer to the last', async () => {
    const { store, send } = await resyncStore(NODE)
    await send(part('r2', 0, 2, [smallPod('bad', { v: 2 }), smallPod('a')]))
    const answer = await send(part('r2', 1, 2, [smallPod('b')]))
    assert.deepEqual(answerOf(answer), [Operations.response, { refused: [{ resource: 'default/pod/bad', code: 'CLOUD_MESSAGE_INVALID', reason: '/content/metadata/labels/v: must be string', held: false }] }])
    assert.deepEqual([...store.objects.keys()].sort(), ['default/pod/a', 'default/pod/b'])
    await store.stop()
  })

  it('a last part whose earlier parts did not all arrive, or a part that is not one: refused whole, nothing changed', async () => {
    const { store, send } = await resyncStore(NODE)
    await send({ pods: [smallPod('a')], configmaps: [], secrets: [] })
    await send(part('r3', 0, 3, [smallPod('b')]))
    const missing = await send(part('r3', 2, 3, [smallPod('c')]))
    assert.deepEqual(answerOf(missing), [Operations.error, { code: 'CLOUD_MESSAGE_INVALID', reason: '/content/part: parts 1 of resync r3 did not arrive before its last' }])
    await send(part('r4', 0, 2, [smallPod('b')]))
    const other = await send(part('r4', 1, 3, [smallPod('c')]))
    assert.deepEqual(answerOf(other), [Operations.error, { code: 'CLOUD_MESSAGE_INVALID', reason: "/content/part: count 3, where the resync's earlier parts said 2" }])
    const bad = await send({ ...part('r5', 2, 2, []), configmaps: [] })
    assert.deepEqual(answerOf(bad), [Operations.error, { code: 'CLOUD_MESSAGE_INVALID', reason: '/content/part: must be {resync, index, count}: an id and integers, 0 <= index < count' }])
    assert.deepEqual([...store.objects.keys()], ['default/pod/a'])
    await store.stop()
  })
})
