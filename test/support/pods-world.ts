/**
 * A world for end-to-end tests of pods on an edge node: the cloud world (test/support/cloud.ts) with
 * a private containerd, and `tern edge` with edged run in containerd's mount namespace, as on a node.
 * With a network-namespace pair (netns.ts), `tern edge` runs in the pair's edge namespace and reaches
 * CloudHub over its veth, so a partition test can cut the link between them; with a lone namespace
 * (makeNetns), it runs there and reaches CloudHub through a forward, on a host whose addresses the
 * test sets.
 */
import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { parse } from 'yaml'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { POD_NAME, POD_UID } from '../../edged/labels.js'
import { startCloudEdge, startCloudWorld, until as pollUntil, type CloudWorld } from './cloud.js'
import { BUSYBOX_IMAGE, containerdAvailable, startContainerd, type Containerd } from './containerd.js'
import type { Netns, NetnsPair } from './netns.js'
import { startChild } from './resources.js'
import type { Spawner, TernEdgeProcess } from './tern.js'

export const NODE = 'edge-pods'

/** cloud.ts's `until`, with a probe that fails (the API or the CRI not answering yet) counted as not yet. */
export function until<T>(what: string, probe: () => Promise<T | undefined>, test: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  return pollUntil(what, () => probe().catch(() => undefined), test, timeoutMs)
}

/** A busybox pod bound to `node` running `script` (SIGTERM ends it at once). */
export function podYaml(name: string, node: string, script: string, extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default }
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 5
  containers:
    - name: app
      image: ${BUSYBOX_IMAGE}
      command: ["/bin/sh", "-c", ${JSON.stringify(`trap 'exit 0' TERM; ${script}`)}]
${extra}`
}

export const SLEEPING = 'while true; do sleep 0.2; done'

/** Runs `tern edge` inside containerd's mount namespace (nsenter execs it: the PID is tern's). */
export function inMountNamespaceOf(containerd: Containerd): Spawner {
  return (command, args) => startChild('nsenter', [`--target=${containerd.pid}`, '--mount', '--', command, ...args])
}

export async function running(runtime: ContainerRuntime, pod: string): Promise<Array<{ id: string; uid: string }>> {
  const all = await runtime.listContainers({ labelSelector: { [POD_NAME]: pod }, state: 'CONTAINER_RUNNING' })
  return all.map((c) => ({ id: c.id, uid: c.labels[POD_UID] ?? '' }))
}

export async function podUid(world: CloudWorld, name: string): Promise<string> {
  const got = await world.kubectl.run(['get', 'pod', name, '-o', 'yaml'])
  assert.equal(got.code, 0, got.stderr)
  return (parse(got.stdout) as { metadata: { uid: string } }).metadata.uid
}

export interface PodsWorld {
  world: CloudWorld
  containerd: Containerd
  runtime: ContainerRuntime
  url: string
  edgeDir: string
  /** `nodeStatus`: the edge's node.status config (maxPods...) */
  startEdge: (options?: { nodeStatus?: Record<string, unknown> }) => Promise<TernEdgeProcess>
}

/**
 * Call inside a `describe`: skips it where containerd is not installed, and undoes each test's
 * world after the test. Returns the undo list to hand startPodsWorld.
 */
export function podsWorlds(): Array<() => Promise<void>> {
  const undo: Array<() => Promise<void>> = []
  before(async function () {
    if (!(await containerdAvailable())) this.skip()
  })
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  return undo
}

/** CloudHub's port in the cloud namespace of a pair (the bridge's; that namespace has nothing else). */
const BRIDGED_HUB_PORT = 10000

/**
 * `link`: a namespace pair the edge runs behind (made before the world: the hub's certificate names
 * its cloud address); `netns`: a namespace the edge runs in, with only the interfaces the test adds.
 */
export async function startPodsWorld(undo: Array<() => Promise<void>>, options: { link?: NetnsPair; netns?: Netns } = {}): Promise<PodsWorld> {
  const { link, netns } = options
  const world = await startCloudWorld(undo, { nodes: { leaseRenewSeconds: 1, gracePeriodSeconds: 30, monitorPeriodSeconds: 1 }, ...(link === undefined ? {} : { serverIps: [link.cloudIp] }) })
  const containerd = await startContainerd()
  undo.push(() => containerd.stop())
  const runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 60_000 })
  undo.push(() => Promise.resolve(runtime.close()))
  let url = `wss://127.0.0.1:${world.cloud.hubPort}`
  let spawn = inMountNamespaceOf(containerd)
  if (link !== undefined) {
    await link.bridge(world.cloud.hubPort, BRIDGED_HUB_PORT, world.dir)
    url = `wss://${link.cloudIp}:${BRIDGED_HUB_PORT}`
    // `ip netns exec` puts it in the edge's network namespace, nsenter then in containerd's mounts (both exec in place)
    spawn = (command, args) => link.spawn(link.edgeNs, 'nsenter', [`--target=${containerd.pid}`, '--mount', '--', command, ...args])
  } else if (netns !== undefined) {
    await netns.forward(world.cloud.hubPort, world.dir)
    spawn = (command, args) => netns.spawn('nsenter', [`--target=${containerd.pid}`, '--mount', '--', command, ...args])
  }
  const edgeDir = join(world.dir, 'edge')
  const { mkdir } = await import('node:fs/promises')
  await mkdir(edgeDir, { recursive: true })
  const startEdge = (options: { nodeStatus?: Record<string, unknown> } = {}): Promise<TernEdgeProcess> =>
    startCloudEdge(world, NODE, url, { dir: edgeDir, spawn, edged: { runtimeEndpoint: containerd.endpoint, syncPeriodSeconds: 0.5 }, ...options })
  return { world, containerd, runtime, url, edgeDir, startEdge }
}

