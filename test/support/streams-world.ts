/**
 * The processes kubectl logs/exec/attach/port-forward go through, as on a real node (the streams
 * tests and bench/streams.ts): the API emulator routing the pods' subresources to the node's
 * daemonEndpoints as the API server does, `tern cloud` with its stream endpoint, and `tern edge`
 * running beside a private containerd in its network namespace (the runtime's streaming server is
 * on that namespace's 127.0.0.1), CloudHub reached through a relay. The pods are bound to the node
 * through the cluster (`kubectl apply` with `spec.nodeName`, sent down by the workload downlink)
 * and are Running as the node's own status says when the world is returned.
 */
import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startCloudEdge, startCloudWorld, type CloudWorld } from './cloud.js'
import { startContainerd, type Containerd } from './containerd.js'
import { eventually } from './edged.js'
import { relayIntoNetns } from './netns-relay.js'
import { startChild } from './resources.js'
import type { TernEdgeProcess } from './tern.js'

export interface StreamsWorld {
  world: CloudWorld
  containerd: Containerd
  /** the running `tern edge` */
  edge: TernEdgeProcess
  node: string
  /** edged's root directory (its pods/ holds the CRI log files) */
  rootDir: string
  /** `name` bound to the node, as the pods are named in the cluster */
  pod(name: string): string
}

export interface StreamsWorldOptions {
  node: string
  /** Pod manifests (busyboxPod), applied as `<name>-<node>` with `spec.nodeName: node` */
  pods: Array<Record<string, unknown>>
  /** more of tern cloud's `streams:` config */
  streams?: Record<string, unknown>
  /** more of tern edge's `edged:` config */
  edged?: Record<string, unknown>
  /** how long the pods may take to be Running, ms */
  readyMs?: number
}

export async function startStreamsWorld(undo: Array<() => Promise<void>>, o: StreamsWorldOptions): Promise<StreamsWorld> {
  const containerd = await startContainerd()
  undo.push(() => containerd.stop())
  const world = await startCloudWorld(undo, { streams: o.streams ?? {}, nodes: { leaseRenewSeconds: 1, gracePeriodSeconds: 30, monitorPeriodSeconds: 1 } })
  const relay = await relayIntoNetns(containerd.pid, world.dir, world.cloud.hubPort)
  undo.push(() => relay.stop())
  const spawn = (command: string, args: readonly string[]): ReturnType<typeof startChild> => startChild('nsenter', [`--net=/proc/${containerd.pid}/ns/net`, '--', command, ...args])
  const rootDir = join(world.dir, 'edged')
  const edge = await startCloudEdge(world, o.node, `wss://127.0.0.1:${world.cloud.hubPort}`, { spawn, nodeStatus: { updateSeconds: 1 }, edged: { ...o.edged, runtimeEndpoint: containerd.endpoint, rootDir } })
  const pod = (name: string): string => `${name}-${o.node}`
  const bound = o.pods.map((p) => {
    const { metadata, spec } = p as { metadata: { name: string }; spec: Record<string, unknown> }
    return stringify({ ...p, metadata: { name: pod(metadata.name), namespace: 'default' }, spec: { ...spec, nodeName: o.node } })
  })
  const applied = await world.kubectl.run(['apply', '-f', '-'], bound.join('---\n'))
  assert.equal(applied.code, 0, applied.stderr)
  await eventually(async () => {
    const r = await world.kubectl.run(['get', 'node', o.node, '-o', 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port} {.status.conditions[?(@.type=="Ready")].status}'])
    return r.code === 0 && r.stdout === `${world.cloud.streamsPort ?? ''} True`
  }, 60_000, 'the node Ready with its stream endpoint')
  // Running as the node reports it (kubectl port-forward, for one, refuses a pod in another phase)
  const names = o.pods.map((p) => pod((p as { metadata: { name: string } }).metadata.name))
  await eventually(async () => {
    // (all the namespace's pods: `get pods NAME` of one name answers the pod, not a list)
    const r = await world.kubectl.run(['get', 'pods', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\\n"}{end}'])
    const phases = new Map(r.stdout.split('\n').map((l) => l.split(' ') as [string, string]))
    return r.code === 0 && names.every((n) => phases.get(n) === 'Running')
  }, o.readyMs ?? 120_000, `pods ${names.join(', ')} Running`)
  return { world, containerd, edge, node: o.node, rootDir, pod }
}
