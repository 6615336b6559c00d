/**
 * Edged admits pods bound to its node as the kubelet does, against the Node it reports, end to end
 * with real processes (emulator, `tern cloud`, `tern edge` with edged on a private containerd,
 * kubectl): with `node.status.maxPods: 5`, of 8 pods applied 5 run and 3 are Failed with
 * OutOfpods, nothing of them in containerd; deleting a running pod does not admit a refused one
 * (the kubelet never admits a rejected pod again), while a pod created afterwards runs. A pod's
 * nodeSelector is matched against the Node's labels as `kubectl label node` sets them.
 */
import { strict as assert } from 'node:assert'
import { POD_NAME } from '../../edged/labels.js'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { NODE, podsWorlds, podYaml, SLEEPING, startPodsWorld, until } from '../support/pods-world.js'
import type { CloudWorld } from '../support/cloud.js'

interface PodView {
  metadata: { name: string }
  status?: { phase?: string; reason?: string; message?: string }
}

async function pods(world: CloudWorld): Promise<PodView[]> {
  const got = await world.kubectl.run(['get', 'pods', '-o', 'json'])
  assert.equal(got.code, 0, got.stderr)
  return (JSON.parse(got.stdout) as { items: PodView[] }).items
}

/** Whatever containerd holds of a pod: sandboxes and containers, in any state. */
async function anything(runtime: ContainerRuntime, name: string): Promise<number> {
  const [sandboxes, containers] = await Promise.all([runtime.listPodSandbox({ labelSelector: { [POD_NAME]: name } }), runtime.listContainers({ labelSelector: { [POD_NAME]: name } })])
  return sandboxes.length + containers.length
}

describe('edged admission against the pods capacity the node reports (real processes: emulator, tern cloud, tern edge, containerd)', function () {
  this.timeout(300_000)
  const undo = podsWorlds()

  it('maxPods 5: of 8 pods, 5 Running and 3 Failed OutOfpods and never started; deleting a running one admits none of the 3, a new pod runs', async () => {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    await startEdge({ nodeStatus: { maxPods: 5 } })
    const allocatable = await until(
      'the Node reporting 5 pods allocatable',
      () => world.kubectl.run(['get', 'node', NODE, '-o', 'jsonpath={.status.allocatable.pods}']).then((r) => r.stdout),
      (pods) => pods === '5',
    )
    assert.equal(allocatable, '5')

    const names = Array.from({ length: 8 }, (_, i) => `p${i}`)
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], names.map((n) => podYaml(n, NODE, SLEEPING)).join('---\n'))).code, 0)
    const settled = await until('every pod Running or Failed', () => pods(world), (all) => all.length === 8 && all.every((p) => p.status?.phase === 'Running' || p.status?.phase === 'Failed'), 120_000)
    const running = settled.filter((p) => p.status?.phase === 'Running').map((p) => p.metadata.name)
    const refused = settled.filter((p) => p.status?.phase === 'Failed')
    assert.equal(running.length, 5, `running: ${running.join(' ')}`)
    assert.equal(refused.length, 3)
    for (const p of refused) {
      assert.equal(p.status?.reason, 'OutOfpods')
      assert.equal(p.status?.message, "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 5, capacity: 5")
    }
    const table = (await world.kubectl.run(['get', 'pods'])).stdout
    for (const p of refused) assert.match(table, new RegExp(`^${p.metadata.name}\\s+0/1\\s+OutOfpods\\s`, 'm'))
    await until('OutOfpods Warning events', () => world.kubectl.run(['get', 'events']).then((r) => r.stdout), (t) => (t.match(/Warning\s+OutOfpods\s+pod\/p\d/g) ?? []).length === 3)
    for (const p of refused) assert.equal(await anything(runtime, p.metadata.name), 0, `nothing of ${p.metadata.name} in containerd`)

    const victim = running[0] ?? ''
    const deleted = await world.kubectl.run(['delete', 'pod', victim, '--timeout=90s'])
    assert.equal(deleted.code, 0, deleted.stderr)
    await new Promise((r) => setTimeout(r, 3000)) // several of edged's syncs (0.5 s) with a place free
    const after = await pods(world)
    for (const p of refused) {
      assert.equal(after.find((q) => q.metadata.name === p.metadata.name)?.status?.phase, 'Failed', `${p.metadata.name} stays refused`)
      assert.equal(await anything(runtime, p.metadata.name), 0, `nothing of ${p.metadata.name} in containerd`)
    }

    assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml('newcomer', NODE, SLEEPING))).code, 0)
    await until('newcomer Running in the freed place', () => pods(world), (all) => all.find((p) => p.metadata.name === 'newcomer')?.status?.phase === 'Running', 120_000)
  })
  it('a nodeSelector the Node does not match: Failed NodeAffinity, never started; after kubectl label node, a pod with it runs', async () => {
    const { world, runtime, startEdge } = await startPodsWorld(undo)
    const edge = await startEdge()
    const selecting = (name: string): string => podYaml(name, NODE, SLEEPING).replace('spec:\n', 'spec:\n  nodeSelector: { zone: hall-3 }\n')
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], selecting('early'))).code, 0)
    const early = await until('early Failed', () => pods(world), (all) => all.find((p) => p.metadata.name === 'early')?.status?.phase === 'Failed', 120_000)
    const status = early.find((p) => p.metadata.name === 'early')?.status
    assert.equal(status?.reason, 'NodeAffinity')
    assert.equal(status?.message, "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector")
    assert.equal(await anything(runtime, 'early'), 0)

    assert.equal((await world.kubectl.run(['label', 'node', NODE, 'zone=hall-3'])).code, 0)
    await until('the labels at the edge', () => Promise.resolve(edge.output()), (out) => out.split('\n').some((l) => l.includes('Node labels received') && l.includes('"zone":"hall-3"')))
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], selecting('late'))).code, 0)
    await until('late Running', () => pods(world), (all) => all.find((p) => p.metadata.name === 'late')?.status?.phase === 'Running', 120_000)
    assert.equal((await pods(world)).find((p) => p.metadata.name === 'early')?.status?.phase, 'Failed', 'a refused pod stays refused')
  })
})
