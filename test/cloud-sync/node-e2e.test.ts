/**
 * An edge node is a Kubernetes Node, end to end with real processes (DESIGN.md §7; Kubernetes
 * "Nodes": node status, heartbeats through Leases in kube-node-lease, node-monitor-grace-period):
 * the API emulator with tern cloud's RBAC from deploy/cloud, `tern cloud`, `tern edge` and the
 * real kubectl. Grace and renew periods are shortened in the cloud's config so the test does not
 * wait 40 s; bounds are generous for a loaded machine.
 */
import { strict as assert } from 'node:assert'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { availableParallelism, release } from 'node:os'
import pino from 'pino'
import { parse } from 'yaml'
import { message, nodeStatusResource, NODE_STATUS_ROUTE, Operations, type Envelope } from '../../cloud-sync/messages.js'
import { EdgeHub } from '../../cloud-sync/link/edge-hub.js'
import type { Session } from '../../cloud-sync/session.js'
import { startCloudEdge, startCloudWorld, until, type CloudWorld } from '../support/cloud.js'
import { containerdAvailable, startContainerd } from '../support/containerd.js'
import { makeNetns, netnsUnavailable } from '../support/netns.js'

interface NodeDoc {
  metadata: { name: string; uid: string; labels: Record<string, string> }
  status: {
    capacity: Record<string, string>
    allocatable: Record<string, string>
    conditions: Array<{ type: string; status: string; reason: string; lastHeartbeatTime: string; lastTransitionTime: string }>
    addresses: Array<{ type: string; address: string }>
    nodeInfo: Record<string, string>
  }
}

interface LeaseDoc {
  metadata: { ownerReferences?: Array<{ kind: string; name: string; uid: string }> }
  spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string }
}

async function getYaml<T>(world: CloudWorld, args: string[]): Promise<T | undefined> {
  const r = await world.kubectl.run(['get', ...args, '-o', 'yaml'])
  return r.code === 0 ? (parse(r.stdout) as T) : undefined
}

const nodesTable = async (world: CloudWorld): Promise<string> => (await world.kubectl.run(['get', 'nodes'])).stdout

describe('an edge node is a Kubernetes Node: status, Lease, NotReady after silence (real processes)', function () {
  this.timeout(180_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it('connect → Node created with labels, Ready with its version; Lease renewed; edge stopped → NotReady; back → Ready', async () => {
    const world = await startCloudWorld(undo, { nodes: { leaseRenewSeconds: 0.5, gracePeriodSeconds: 4, monitorPeriodSeconds: 0.5 } })
    const url = `wss://127.0.0.1:${world.cloud.hubPort}`
    const edge = await startCloudEdge(world, 'edge-1', url, { nodeStatus: { updateSeconds: 1 } })

    const table = await until('edge-1 Ready in kubectl get nodes', () => nodesTable(world), (t) => /edge-1\s+Ready\s+edge\s/.test(t))
    assert.match(table, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\n/)
    assert.match(table, /edge-1\s+Ready\s+edge\s+\S+\s+v1\.32\.0-tern-v\d+\.\d+\.\d+/)
    const node = (await getYaml<NodeDoc>(world, ['node', 'edge-1'])) as NodeDoc
    const arch = { x64: 'amd64', arm64: 'arm64', arm: 'arm' }[process.arch as string] ?? process.arch
    assert.deepEqual(node.metadata.labels, { 'node-role.kubernetes.io/edge': '', 'kubernetes.io/hostname': 'edge-1', 'kubernetes.io/arch': arch, 'kubernetes.io/os': 'linux' })
    assert.equal(node.status.capacity.cpu, String(availableParallelism()))
    assert.equal(node.status.capacity.pods, '110')
    assert.match(node.status.capacity.memory ?? '', /^\d+Ki$/)
    assert.ok(Number.parseInt(node.status.allocatable.memory ?? '', 10) < Number.parseInt(node.status.capacity.memory ?? '', 10), 'allocatable memory is capacity minus the eviction threshold')
    assert.equal(node.status.nodeInfo.kernelVersion, release())
    assert.equal(node.status.nodeInfo.architecture, arch)
    assert.equal(node.status.nodeInfo.operatingSystem, 'linux')
    assert.match(node.status.nodeInfo.osImage ?? '', /\S/)
    assert.equal(node.status.nodeInfo.containerRuntimeVersion, '', 'no edged: no runtime')
    assert.deepEqual(node.status.conditions.map((c) => [c.type, c.status, c.reason]), [
      ['Ready', 'True', 'KubeletReady'],
      ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
    ])
    assert.ok(node.status.addresses.some((a) => a.type === 'Hostname'))

    // the Lease: held by the node, owned by its Node, renewed while it is connected
    const first = await until('the Lease', () => getYaml<LeaseDoc>(world, ['lease', 'edge-1', '-n', 'kube-node-lease']), () => true)
    assert.equal(first.spec.holderIdentity, 'edge-1')
    assert.equal(first.spec.leaseDurationSeconds, 40)
    assert.match(first.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'MicroTime')
    assert.deepEqual(first.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]), [['Node', 'edge-1', node.metadata.uid]])
    await until('the Lease renewed', () => getYaml<LeaseDoc>(world, ['lease', 'edge-1', '-n', 'kube-node-lease']), (l) => Date.parse(l.spec.renewTime) > Date.parse(first.spec.renewTime))

    // the edge stops: after the grace period the node is NotReady, every condition Unknown
    const transition = node.status.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime
    await edge.stop()
    const stoppedAt = Date.now()
    await until('edge-1 NotReady', () => nodesTable(world), (t) => /edge-1\s+NotReady\s+edge/.test(t), 60_000)
    assert.ok(Date.now() - stoppedAt >= 3000, `NotReady only after the grace period (after ${Date.now() - stoppedAt} ms)`)
    const silent = (await getYaml<NodeDoc>(world, ['node', 'edge-1'])) as NodeDoc
    assert.deepEqual(silent.status.conditions.map((c) => [c.type, c.status, c.reason]), [
      ['Ready', 'Unknown', 'NodeStatusUnknown'],
      ['MemoryPressure', 'Unknown', 'NodeStatusUnknown'],
      ['DiskPressure', 'Unknown', 'NodeStatusUnknown'],
      ['PIDPressure', 'Unknown', 'NodeStatusUnknown'],
    ])
    const line = await world.cloud.waitForLine((l) => l.includes('Ready=Unknown'), 5000)
    assert.match(line, /"node":"edge-1"/)

    // it comes back: Ready again, with a new transition time
    await startCloudEdge(world, 'edge-1', url, { nodeStatus: { updateSeconds: 1 } })
    await until('edge-1 Ready again', () => nodesTable(world), (t) => /edge-1\s+Ready\s+edge/.test(t))
    const back = (await getYaml<NodeDoc>(world, ['node', 'edge-1'])) as NodeDoc
    assert.notEqual(back.status.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime, transition)
  })

  // updateSeconds 300: the Node must follow the runtime's state as it changes, not at the next periodic update
  it('with edged: NotReady (KubeletNotReady) while containerd cannot be reached; Ready with containerRuntimeVersion once it can, without waiting for the next update', async function () {
    if (!(await containerdAvailable())) this.skip()
    const world = await startCloudWorld(undo, { nodes: { leaseRenewSeconds: 1, gracePeriodSeconds: 30, monitorPeriodSeconds: 1 } })
    const url = `wss://127.0.0.1:${world.cloud.hubPort}`
    const down = await startCloudEdge(world, 'edge-down', url, { nodeStatus: { updateSeconds: 300 }, edged: { runtimeEndpoint: `unix://${join(world.dir, 'no-containerd.sock')}` } })
    // first NotReady with 'edged is starting', then, once edged has tried the endpoint, 'container runtime is down'
    const notReady = await until('edge-down Ready=False, runtime down', () => getYaml<NodeDoc>(world, ['node', 'edge-down']), (n) => {
      const condition = n.status?.conditions?.[0] as { status?: string; message?: string } | undefined
      return condition?.status === 'False' && (condition.message ?? '').includes('container runtime is down')
    })
    const ready = notReady.status.conditions[0] as NodeDoc['status']['conditions'][number] & { message?: string }
    assert.equal(ready.reason, 'KubeletNotReady')
    assert.match(ready.message ?? '', /container runtime is down: edged cannot reach unix:\/\/.*no-containerd\.sock/)
    assert.match(await nodesTable(world), /edge-down\s+NotReady\s+edge/)
    await down.stop()

    const containerd = await startContainerd()
    undo.push(() => containerd.stop())
    await startCloudEdge(world, 'edge-ctr', url, { nodeStatus: { updateSeconds: 300 }, edged: { runtimeEndpoint: containerd.endpoint } })
    const up = await until('edge-ctr Ready with its runtime', () => getYaml<NodeDoc>(world, ['node', 'edge-ctr']), (n) => n.status?.conditions?.[0]?.status === 'True' && n.status.nodeInfo.containerRuntimeVersion !== '')
    assert.match(up.status.nodeInfo.containerRuntimeVersion ?? '', /^containerd:\/\/1\.\d+\.\d+/)
    assert.match((await world.kubectl.run(['get', 'nodes', '-o', 'wide'])).stdout, /edge-ctr\s+Ready\s+edge\s.*containerd:\/\/1\./)
  })

  // updateSeconds 0.5: each update reads the host's addresses; before, only a start or a reconnect did
  it('the Node follows the host’s addresses: one added in the edge’s network namespace is its InternalIP at the next update, a changed one replaces it, a removed one leaves the Node, with no reconnect', async function () {
    const missing = netnsUnavailable()
    if (missing !== undefined) this.skip()
    const world = await startCloudWorld(undo, { nodes: { leaseRenewSeconds: 1, gracePeriodSeconds: 30, monitorPeriodSeconds: 1 } })
    // a namespace with only its loopback: the edge reaches CloudHub through a forward to the root namespace
    const ns = await makeNetns()
    undo.push(() => ns.remove())
    await ns.forward(world.cloud.hubPort, world.dir)
    const edge = await startCloudEdge(world, 'edge-n', `wss://127.0.0.1:${world.cloud.hubPort}`, { spawn: (command, args) => ns.spawn(command, args), nodeStatus: { updateSeconds: 0.5 } })
    const addresses = async (): Promise<NodeDoc['status']['addresses'] | undefined> => (await getYaml<NodeDoc>(world, ['node', 'edge-n']))?.status?.addresses
    const internalIP = (list: NodeDoc['status']['addresses']): string | undefined => list.find((a) => a.type === 'InternalIP')?.address
    const none = await until('edge-n reported', addresses, (list) => list.some((a) => a.type === 'Hostname'))
    assert.equal(internalIP(none), undefined, 'no address but loopback yet')

    // the gateway's link comes up, and its address (DHCP) after tern edge started; a veth pair inside
    // the namespace is the link (this kernel has no dummy interfaces)
    await ns.ip('link', 'add', 'gw0', 'type', 'veth', 'peer', 'name', 'gw0-peer')
    await ns.ip('link', 'set', 'gw0-peer', 'up')
    await ns.ip('link', 'set', 'gw0', 'up')
    await ns.ip('addr', 'add', '198.51.100.41/24', 'dev', 'gw0')
    await until('InternalIP 198.51.100.41', addresses, (list) => internalIP(list) === '198.51.100.41', 20_000)
    // and a new lease gives it another one (deleting a primary address deletes its subnet's secondaries: the old one goes first)
    await ns.ip('addr', 'del', '198.51.100.41/24', 'dev', 'gw0')
    await ns.ip('addr', 'add', '198.51.100.42/24', 'dev', 'gw0')
    await until('InternalIP 198.51.100.42', addresses, (list) => internalIP(list) === '198.51.100.42', 20_000)
    // the lease ends: the address leaves the node's report and must leave the Node, whose addresses a
    // strategic merge patch merges by type (an InternalIP the patch does not name stays)
    await ns.ip('addr', 'del', '198.51.100.42/24', 'dev', 'gw0')
    const jsonpath = async (): Promise<string> => (await world.kubectl.run(['get', 'node', 'edge-n', '-o', 'jsonpath={range .status.addresses[*]}{.type}={.address}{"\\n"}{end}'])).stdout
    const left = await until('no InternalIP', jsonpath, (out) => !out.includes('InternalIP'), 20_000)
    assert.match(left, /^Hostname=\S+\n$/)
    assert.equal(edge.output().split('\n').filter((l) => l.includes('"msg":"connected to CloudHub"')).length, 1, 'one session all along')
  })

  it('edged.nodeIP is the Node’s InternalIP (the kubelet’s --node-ip); one this host does not have is warned about, NODE_IP_NOT_LOCAL', async () => {
    const world = await startCloudWorld(undo, { nodes: { leaseRenewSeconds: 1, gracePeriodSeconds: 30, monitorPeriodSeconds: 1 } })
    const edge = await startCloudEdge(world, 'edge-ip', `wss://127.0.0.1:${world.cloud.hubPort}`, {
      edged: { runtimeEndpoint: `unix://${join(world.dir, 'no-containerd.sock')}`, nodeIP: '198.51.100.77' },
    })
    const node = await until('edge-ip reported', () => getYaml<NodeDoc>(world, ['node', 'edge-ip']), (n) => (n.status?.addresses ?? []).length > 0)
    assert.deepEqual(node.status.addresses.filter((a) => a.type === 'InternalIP'), [{ type: 'InternalIP', address: '198.51.100.77' }])
    const line = await edge.waitForLine((l) => l.includes('NODE_IP_NOT_LOCAL'), 5000)
    assert.match(line, /"nodeIP":"198\.51\.100\.77"/)
  })

  it('a node may only report its own Node: a report about another node is refused with CLOUD_NOT_OWNER and changes nothing', async () => {
    const world = await startCloudWorld(undo, { nodes: { leaseRenewSeconds: 1, gracePeriodSeconds: 30, monitorPeriodSeconds: 1 } })
    const url = `wss://127.0.0.1:${world.cloud.hubPort}`
    await startCloudEdge(world, 'edge-a', url)
    const before = await until('edge-a Ready', () => getYaml<NodeDoc>(world, ['node', 'edge-a']), (n) => n.status?.conditions?.[0]?.status === 'True')

    // edge-b, a node of the fleet (the shared secret here), speaks the link protocol itself
    const secret = (await readFile(world.secretFile, 'utf8')).trim()
    const sessions: Session[] = []
    const hub = new EdgeHub({ url, node: 'edge-b', secret, ca: await readFile(world.pki.ca), log: pino({ level: 'silent' }), onSession: (s) => sessions.push(s) })
    await hub.start()
    undo.push(() => hub.stop())
    const session = await until('edge-b connected', () => Promise.resolve(sessions[0]), (s) => s.open)
    const forged = { ...NODE_STATUS_ROUTE, operation: Operations.update, resource: nodeStatusResource('edge-a') }
    const content = { capacity: { cpu: '64', memory: '1Ki', pods: '1' }, allocatable: { cpu: '64', memory: '1Ki', pods: '1' }, conditions: [{ type: 'Ready', status: 'False', reason: 'Forged', message: 'forged' }], addresses: [], nodeInfo: { machineID: '', systemUUID: '', bootID: '', kernelVersion: 'x', osImage: 'x', containerRuntimeVersion: '', kubeletVersion: 'x', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' } }
    const answer: Envelope = await session.request(message(forged, content))
    assert.equal(answer.route.operation, Operations.error)
    assert.equal((answer.content as { code: string }).code, 'CLOUD_NOT_OWNER')
    const line = await world.cloud.waitForLine((l) => l.includes('CLOUD_NOT_OWNER') && l.includes('edge-b'), 5000)
    assert.match(line, /"reported":"edge-a"/)
    const after = (await getYaml<NodeDoc>(world, ['node', 'edge-a'])) as NodeDoc
    assert.equal(after.status.capacity.cpu, before.status.capacity.cpu)
    assert.equal(after.status.conditions[0]?.status, 'True')
    assert.equal(await getYaml(world, ['node', 'edge-b']), undefined, 'no Node for a node that reported nothing of its own')
  })

  it('copies of a report (the edge re-sends while the cloud has not answered) are written once; the report is answered', async function () {
    const world = await startCloudWorld(undo, { nodes: { leaseRenewSeconds: 60, gracePeriodSeconds: 60, monitorPeriodSeconds: 1 } })
    const kube = world.kube
    if (kube === undefined) this.skip() // counts the API server's requests: the emulator's
    const secret = (await readFile(world.secretFile, 'utf8')).trim()
    const sessions: Session[] = []
    const hub = new EdgeHub({ url: `wss://127.0.0.1:${world.cloud.hubPort}`, node: 'edge-r', secret, ca: await readFile(world.pki.ca), log: pino({ level: 'silent' }), onSession: (s) => sessions.push(s) })
    await hub.start()
    undo.push(() => hub.stop())
    const session = await until('edge-r connected', () => Promise.resolve(sessions[0]), (s) => s.open)
    const route = { ...NODE_STATUS_ROUTE, operation: Operations.update, resource: nodeStatusResource('edge-r') }
    const content = (cpu: string): object => ({
      capacity: { cpu, memory: '1024Ki', pods: '110' },
      allocatable: { cpu, memory: '1000Ki', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
      addresses: [{ type: 'Hostname', address: 'edge-r' }],
      nodeInfo: { machineID: '', systemUUID: '', bootID: '', kernelVersion: 'x', osImage: 'x', containerRuntimeVersion: '', kubeletVersion: 'v1.32.0-tern-v0.1.0', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' },
    })
    const report = message(route, content('2'))
    const answered = session.request(report)
    for (let i = 0; i < 4; i++) session.send(report) // the Session's re-sends, all before the first answer
    assert.equal((await answered).route.operation, Operations.response)
    session.send(report) // a re-send that crossed the answer: answered again (the Session drops it), not written
    // the cloud writes a node's reports in order: once the next one is answered, every copy was handled
    const next = await session.request(message(route, content('4')))
    assert.equal(next.route.operation, Operations.response)
    const patches = kube.requests.filter((r) => r.method === 'PATCH' && r.url.startsWith('/api/v1/nodes/edge-r/status'))
    assert.equal(patches.length, 2, `PATCHes of nodes/edge-r/status: ${patches.length}`)
    const node = (await getYaml<NodeDoc>(world, ['node', 'edge-r'])) as NodeDoc
    assert.equal(node.status.capacity.cpu, '4')
  })
})
