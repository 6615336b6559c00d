/**
 * Deleting pods bound to an edge node, end to end with real processes (emulator, `tern cloud`,
 * `tern edge` with edged on a private containerd, kubectl), as the kubelet does it: the edge
 * stops a pod with the deletion's grace period (`kubectl delete --grace-period=N` shorter than the
 * pod's own counts), and the final delete (grace 0, uid precondition) comes once nothing of the
 * pod runs at the edge — also for a pod that never ran there, made by the node (refused by edged, or
 * bound to a node without edged) or by tern cloud (a pod it cannot send its node, which
 * it also reports Failed as a kubelet's admission would). Bounds are generous for a loaded
 * machine; each is well below what the defect it guards against would take.
 */
import { strict as assert } from 'node:assert'
import { NODE, podsWorlds, podYaml, running, SLEEPING, startPodsWorld, until } from '../support/pods-world.js'
import { parse } from 'yaml'
import { startChild } from '../support/resources.js'
import { startCloudEdge, startCloudWorld, type CloudWorld } from '../support/cloud.js'
import { PODS } from '../support/kube/core-types.js'

/** Whether `kubectl get pod` says the object is gone. */
async function gone(world: CloudWorld, name: string): Promise<boolean> {
  return /NotFound/.test((await world.kubectl.run(['get', 'pod', name])).stderr)
}

interface PodStatus {
  phase?: string
  reason?: string
  message?: string
}

/** The pod's status once it is Failed. */
async function failed(world: CloudWorld, name: string): Promise<PodStatus> {
  return until(`${name} Failed in the cluster`, async () => (parse((await world.kubectl.run(['get', 'pod', name, '-o', 'yaml'])).stdout) as { status?: PodStatus }).status, (s) => s.phase === 'Failed')
}

/** Creates a pod as JSON with kubectl create --raw: the emulator stores what a real API server would refuse or prune. */
async function createRaw(world: CloudWorld, body: unknown): Promise<void> {
  const created = await world.kubectl.run(['create', '--raw', '/api/v1/namespaces/default/pods', '-f', '-'], JSON.stringify(body))
  assert.equal(created.code, 0, created.stderr)
}

/** A pod nesting past what the link takes, in an unknown spec field: the emulator stores it, a real API server prunes it. */
function deepPod(name: string): unknown {
  const body = parse(podYaml(name, NODE, SLEEPING)) as { spec: Record<string, unknown> }
  let nested: Record<string, unknown> = {}
  body.spec.extra = nested
  for (let i = 0; i < 70; i++) nested = nested.next = {}
  return body
}

/** Applies a pod `name` whose container ignores SIGTERM (terminationGracePeriodSeconds 90) and waits until it runs at the edge. */
async function applyIgnoringSigterm(world: CloudWorld, runtime: Parameters<typeof running>[0], name: string): Promise<void> {
  const pod = podYaml(name, NODE, `trap '' TERM; ${SLEEPING}`).replace('terminationGracePeriodSeconds: 5', 'terminationGracePeriodSeconds: 90')
  assert.equal((await world.kubectl.run(['apply', '-f', '-'], pod)).code, 0)
  await until(`${name} running at the edge`, () => running(runtime, name), (c) => c.length === 1)
}

/** A registry inside containerd's network namespace that takes connections and never answers: a pull waits on it. */
const STALLED_REGISTRY = `
const server = require('node:net').createServer((socket) => { console.log('connection'); socket.on('error', () => {}) })
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port))
`

describe('deleting pods at an edge node (real processes: emulator, tern cloud, tern edge, containerd)', function () {
  this.timeout(300_000)
  const undo = podsWorlds()

  it('kubectl delete --grace-period=3 of a pod whose container ignores SIGTERM (terminationGracePeriodSeconds 90): killed after the 3 s, not the pod’s 90', async () => {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    await startEdge()
    await applyIgnoringSigterm(world, runtime, 'stubborn')

    const asked = Date.now()
    const deleted = await world.kubectl.run(['delete', 'pod', 'stubborn', '--grace-period=3', '--wait=false'])
    assert.equal(deleted.code, 0, deleted.stderr)
    // still running within the grace period: SIGTERM was ignored, and the kill waits for the 3 s
    await new Promise((r) => setTimeout(r, 1000))
    assert.equal((await running(runtime, 'stubborn')).length, 1, 'not killed before its grace period')
    await until('the container killed', () => running(runtime, 'stubborn'), (c) => c.length === 0, 60_000)
    await until('the pod object gone', () => gone(world, 'stubborn'), (g) => g, 60_000)
    const took = (Date.now() - asked) / 1000
    assert.ok(took >= 2.5, `gone after ${took} s: the 3 s grace period was waited for`)
    assert.ok(took < 75, `gone after ${took} s: the deletion's 3 s counted, not the pod's 90`)
  })

  it('pods deleted before they ever ran are deleted for good: one deleted before the node connected, one whose image pull never ends', async () => {
    const { world, containerd, startEdge } = await startPodsWorld(undo)
    // deleted while the node was away: the first the edge hears of it is that it is being deleted
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml('early', NODE, SLEEPING))).code, 0)
    assert.equal((await world.kubectl.run(['delete', 'pod', 'early', '--wait=false'])).code, 0)
    assert.equal(await gone(world, 'early'), false, 'Terminating: it waits for the node')

    const registry = startChild('nsenter', [`--target=${containerd.pid}`, '--net', '--', process.execPath, '-e', STALLED_REGISTRY])
    undo.push(() => registry.stop())
    const port = Number((await registry.waitForLine((l) => l.startsWith('port '))).slice(5))
    const edge = await startEdge()
    await until('early gone', () => gone(world, 'early'), (g) => g, 60_000)
    const started = edge.output().split('\n').filter((l) => l.includes('"msg":"container started"') && l.includes('"pod":"default/early"'))
    assert.deepEqual(started, [], 'early was never started')

    const pulling = podYaml('pulling', NODE, SLEEPING).replace(/image: .*/, `image: 127.0.0.1:${port}/stalled/app:1`)
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], pulling)).code, 0)
    await registry.waitForLine((l) => l === 'connection', 60_000) // the pull is under way, and will never end
    const asked = Date.now()
    assert.equal((await world.kubectl.run(['delete', 'pod', 'pulling', '--wait=false'])).code, 0)
    // the runtime's own deadline for the pull is 120 s: the pod must not wait for it
    await until('pulling gone', () => gone(world, 'pulling'), (g) => g, 90_000)
    assert.ok(Date.now() - asked < 100_000)
  })
  it('a second, shorter kubectl delete (--grace-period=60, then 2) of a pod whose container ignores SIGTERM (terminationGracePeriodSeconds 90): killed within seconds of the second', async () => {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    await startEdge()
    await applyIgnoringSigterm(world, runtime, 'slow')

    assert.equal((await world.kubectl.run(['delete', 'pod', 'slow', '--grace-period=60', '--wait=false'])).code, 0)
    await new Promise((r) => setTimeout(r, 3000)) // the edge is stopping it with the 60 s
    assert.equal((await running(runtime, 'slow')).length, 1, 'SIGTERM ignored: still running within the 60 s')
    const asked = Date.now()
    const second = await world.kubectl.run(['delete', 'pod', 'slow', '--grace-period=2', '--wait=false'])
    assert.equal(second.code, 0, second.stderr)
    await until('the pod object gone', () => gone(world, 'slow'), (g) => g, 45_000)
    assert.deepEqual(await running(runtime, 'slow'), [])
    const took = (Date.now() - asked) / 1000
    assert.ok(took < 45, `gone ${took} s after the second delete: its 2 s counted, not what was left of the 60`)
  })

  it('a pod edged refuses (EDGED_POD_INVALID): never run, Failed in the cluster with why; kubectl delete removes it', async () => {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    await startEdge()
    const bad = podYaml('bad', NODE, SLEEPING, '      resources: { limits: { nvidia.com/gpu: "1" } }\n')
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], bad)).code, 0)
    const status = await until(
      'bad Failed in the cluster',
      async () => (parse((await world.kubectl.run(['get', 'pod', 'bad', '-o', 'yaml'])).stdout) as { status?: { phase?: string; reason?: string; message?: string } }).status,
      (s) => s.phase === 'Failed',
    )
    assert.equal(status.reason, 'PodInvalid')
    assert.match(status.message ?? '', /^Pod was rejected: EDGED_POD_INVALID: .*nvidia\.com\/gpu/)
    assert.deepEqual(await running(runtime, 'bad'), [], 'never run')
    assert.equal((await world.kubectl.run(['delete', 'pod', 'bad', '--wait=false'])).code, 0)
    await until('bad gone', () => gone(world, 'bad'), (g) => g, 60_000)
  })

  it('a pod tern cloud cannot send its node (CLOUD_OBJECT_INVALID): never at the edge; kubectl delete removes it at once, and a pod the edge runs keeps its grace period', async function () {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    if (world.kube === undefined) this.skip() // the pod is one only the emulator stores
    const edge = await startEdge()
    await until('the edge Node', async () => (await world.kubectl.run(['get', 'node', NODE])).code, (code) => code === 0)
    await applyIgnoringSigterm(world, runtime, 'stubborn')
    // a label value that is not a string: a real API server refuses it, the emulator stores it; it
    // stands for any pod tern's schema refuses, which tern cloud treats as absent and never sends
    const body = parse(podYaml('unsendable', NODE, SLEEPING)) as { metadata: Record<string, unknown> }
    body.metadata.labels = { version: 2 }
    await createRaw(world, body)
    await until('tern cloud refused it', () => Promise.resolve(world.cloud.output()), (out) => /CLOUD_OBJECT_INVALID.*default\/unsendable/.test(out))
    // as a kubelet reports a pod its admission refused: kubectl get and describe say why
    const status = await failed(world, 'unsendable')
    assert.equal(status.reason, 'PodUnsendable')
    assert.equal(status.message, 'Pod was rejected: tern cloud cannot send it to its node: CLOUD_OBJECT_INVALID: /metadata/labels/version: must be string')
    await until('its Warning event', () => world.kubectl.run(['get', 'events']).then((r) => r.stdout), (t) => /Warning\s+PodUnsendable\s+pod\/unsendable\s+tern cloud cannot send it to its node: CLOUD_OBJECT_INVALID/.test(t))

    const asked = Date.now()
    assert.equal((await world.kubectl.run(['delete', 'pod', 'unsendable', '--wait=false'])).code, 0)
    assert.equal((await world.kubectl.run(['delete', 'pod', 'stubborn', '--grace-period=40', '--wait=false'])).code, 0)
    await until('unsendable gone', () => gone(world, 'unsendable'), (g) => g, 60_000)
    const took = (Date.now() - asked) / 1000
    assert.ok(took < 20, `gone ${took} s after its delete: nothing waits on it`)
    // the pod the edge runs is still being stopped within its 40 s: neither deleted nor killed before
    assert.equal(await gone(world, 'stubborn'), false, 'stubborn still there: its grace period runs at the edge')
    assert.equal((await running(runtime, 'stubborn')).length, 1, 'stubborn still running: SIGTERM ignored, 40 s grace')
    await until('stubborn gone', () => gone(world, 'stubborn'), (g) => g, 90_000)
    assert.ok((Date.now() - asked) / 1000 >= 35, 'stubborn went after its grace period')
    const sent = edge.output().split('\n').filter((l) => l.includes('unsendable'))
    assert.deepEqual(sent, [], 'the edge never heard of it')
  })

  it('a pod larger than a node is sent (3 MB of env, which only a server past etcd’s 1.5 MiB stores): Failed with its size, never at the edge; one of 1.4 MB of env runs', async function () {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    if (world.kube === undefined) this.skip() // a real API server refuses it
    const edge = await startEdge()
    await until('the edge Node', async () => (await world.kubectl.run(['get', 'node', NODE])).code, (code) => code === 0)
    const withEnv = (name: string, vars: number): unknown => {
      const body = parse(podYaml(name, NODE, SLEEPING)) as { spec: { containers: Array<Record<string, unknown>> } }
      body.spec.containers[0]!.env = Array.from({ length: vars }, (_, i) => ({ name: `V${i}`, value: 'z'.repeat(1000) }))
      return body
    }
    // through the emulator's API in this process (kubectl create --raw exits 1 on a 3 MB body)
    world.kube.api.create(PODS, 'default', withEnv('huge', 3000))
    world.kube.api.create(PODS, 'default', withEnv('large', 1400))
    // read through the emulator too: kubectl's output of it is more than the test's runner takes
    const api = world.kube.api
    const status = await until('huge Failed in the cluster', () => Promise.resolve((api.get(PODS, 'default', 'huge') as { status?: PodStatus }).status), (s) => s.phase === 'Failed')
    assert.equal(status.reason, 'PodUnsendable')
    assert.match(status.message ?? '', /^Pod was rejected: tern cloud cannot send it to its node: CLOUD_OBJECT_INVALID: \/: is 3\d{6} bytes of JSON, more than the 2097152 a node is sent$/)
    await until('large running at the edge', () => running(runtime, 'large'), (c) => c.length === 1, 120_000)
    assert.deepEqual(await running(runtime, 'huge'), [], 'never run')
    assert.deepEqual(edge.output().split('\n').filter((l) => l.includes('huge')), [], 'the edge never heard of it')
    assert.equal((await world.kubectl.run(['delete', 'pod', 'huge', '--wait=false'])).code, 0)
    await until('huge gone', () => gone(world, 'huge'), (g) => g, 60_000)
  })

  it('a pod no node would take (nesting deeper than the link takes): Failed with why, never at the edge; kubectl delete removes it at once', async function () {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    if (world.kube === undefined) this.skip() // a real API server prunes the unknown field
    const edge = await startEdge()
    await until('the edge Node', async () => (await world.kubectl.run(['get', 'node', NODE])).code, (code) => code === 0)
    // tern cloud's schema takes any spec (edged checks it), but the edge refuses on arrival a frame
    // nesting deeper than 64 levels: tern cloud does not send it
    await createRaw(world, deepPod('deep'))
    const status = await failed(world, 'deep')
    assert.equal(status.reason, 'PodUnsendable')
    assert.equal(status.message, `Pod was rejected: tern cloud cannot send it to its node: CLOUD_OBJECT_INVALID: /: nests arrays and objects deeper than 61 levels: no edge node takes it (the link's frames nest at most 64)`)
    await until('its Warning event', () => world.kubectl.run(['get', 'events']).then((r) => r.stdout), (t) => /Warning\s+PodUnsendable\s+pod\/deep\s+tern cloud cannot send it/.test(t))
    assert.deepEqual(await running(runtime, 'deep'), [], 'never run')

    const asked = Date.now()
    assert.equal((await world.kubectl.run(['delete', 'pod', 'deep', '--wait=false'])).code, 0)
    await until('deep gone', () => gone(world, 'deep'), (g) => g, 60_000)
    const took = (Date.now() - asked) / 1000
    assert.ok(took < 20, `gone ${took} s after its delete: nothing waits on it`)
    assert.deepEqual(edge.output().split('\n').filter((l) => l.includes('"code":"CLOUD_MESSAGE_INVALID"')), [], 'the edge refused nothing')
  })

  it('one pod no node would take among a node’s pods when it connects: the others run, it is Failed, and the node’s resync goes once', async function () {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    if (world.kube === undefined) this.skip() // a real API server prunes the unknown field
    for (const name of ['good-a', 'good-b']) assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml(name, NODE, SLEEPING))).code, 0)
    await createRaw(world, deepPod('deep-early'))
    await startEdge()
    for (const name of ['good-a', 'good-b']) await until(`${name} running at the edge`, () => running(runtime, name), (c) => c.length === 1, 120_000)
    const status = await failed(world, 'deep-early')
    assert.equal(status.reason, 'PodUnsendable')
    assert.match(status.message ?? '', /^Pod was rejected: tern cloud cannot send it to its node: CLOUD_OBJECT_INVALID: \/: nests arrays and objects deeper than 61 levels/)
    assert.deepEqual(await running(runtime, 'deep-early'), [], 'never run')
    const refused = world.cloud.output().split('\n').filter((l) => l.includes('the edge refused'))
    assert.deepEqual(refused, [], 'the node refused neither its resync nor any object in it')
  })

  it('a running pod whose newer version no node would take: its node stops the version it runs, and the pod stays Failed with why (edged’s later reports do not write over it)', async function () {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    if (world.kube === undefined) this.skip() // a real API server prunes the unknown field
    await startEdge()
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml('skewed', NODE, SLEEPING))).code, 0)
    await until('skewed running at the edge', () => running(runtime, 'skewed'), (c) => c.length === 1, 120_000)
    await until('skewed Running in the cluster', async () => (parse((await world.kubectl.run(['get', 'pod', 'skewed', '-o', 'yaml'])).stdout) as { status?: PodStatus }).status, (s) => s.phase === 'Running')
    // its newer version (a deep unknown field, which only the emulator stores) is one no node takes
    const extra = (deepPod('skewed') as { spec: { extra: unknown } }).spec.extra
    const patched = await world.kubectl.run(['patch', 'pod', 'skewed', '--type=merge', '-p', JSON.stringify({ spec: { extra } })])
    assert.equal(patched.code, 0, patched.stderr)
    const status = await failed(world, 'skewed')
    assert.equal(status.reason, 'PodUnsendable')
    await until('the version it ran stopped at the edge', () => running(runtime, 'skewed'), (c) => c.length === 0, 60_000)
    // edged reports the pod it stopped; the cluster goes on saying why it is not running
    const seen = new Set<string>()
    for (let i = 0; i < 15; i++) {
      const now = (parse((await world.kubectl.run(['get', 'pod', 'skewed', '-o', 'yaml'])).stdout) as { status?: PodStatus }).status ?? {}
      seen.add(`${now.phase}/${now.reason}`)
      await new Promise((r) => setTimeout(r, 1000))
    }
    assert.deepEqual([...seen], ['Failed/PodUnsendable'], 'never anything else after it was Failed')
    assert.equal((await world.kubectl.run(['delete', 'pod', 'skewed', '--wait=false'])).code, 0)
    await until('skewed gone', () => gone(world, 'skewed'), (g) => g, 60_000)
  })

  it('a node without edged runs no pods: a pod bound to it is never run, and kubectl delete removes it at once', async () => {
    const world = await startCloudWorld(undo)
    await startCloudEdge(world, 'edge-plain', `wss://127.0.0.1:${world.cloud.hubPort}`)
    await until('the edge Node', async () => (await world.kubectl.run(['get', 'node', 'edge-plain'])).code, (code) => code === 0)
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml('idle', 'edge-plain', SLEEPING))).code, 0)
    // the node is connected: the pod goes down to it within moments (deleted before, it reaches it as being deleted: stuck the same way before)
    await new Promise((r) => setTimeout(r, 2000))
    const asked = Date.now()
    assert.equal((await world.kubectl.run(['delete', 'pod', 'idle', '--wait=false'])).code, 0)
    await until('idle gone', () => gone(world, 'idle'), (g) => g, 60_000)
    assert.ok(Date.now() - asked < 30_000, 'nothing waits on it (terminationGracePeriodSeconds 5 is not waited for either)')
  })
})
