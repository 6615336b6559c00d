/**
 * A node's edge for workload tests against the cloud harness: a session to the real
 * CloudController, every envelope it receives recorded, and the edge's store of workload objects
 * (WorkloadSync over an in-memory database) answering them; the devices' resync is acknowledged.
 * And the objects those tests create.
 */
import { MemoryLevel } from 'memory-level'
import { pino } from 'pino'
import { WorkloadSync } from '../../cloud-sync/edge/workload-sync.js'
import { message, Operations, parseWorkloadResource, response, Sources, WORKLOAD_RESYNC_RESOURCE, workloadResource, type Envelope, type NodeWorkloadSet } from '../../cloud-sync/messages.js'
import { Session, wirePair } from '../../cloud-sync/session.js'
import type { AnyLevel } from '../../twin/store.js'
import type { Harness } from './cloud-harness.js'

export interface WorkloadEdge {
  store: WorkloadSync
  db: AnyLevel
  /** every envelope the edge received, in order */
  wire: Envelope[]
  /** the resources the store holds, sorted */
  held: () => string[]
  /** frames the cloud sent past `maxPayload` (each closed the session) */
  frames: { tooLarge: number }
  /** closes the cloud's side of the session */
  close: () => void
}

type Obj = Record<string, unknown>

export const configMap = (name: string, value: string, namespace = 'default', metadata: Obj = {}): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...metadata }, data: { v: value } })
export const secret = (name: string, value: string, namespace = 'default', metadata: Obj = {}): Obj => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, ...metadata }, data: { v: Buffer.from(value).toString('base64') } })

/** A pod bound to `node` using ConfigMap `cm` as a volume and Secret `sec` through env. */
export function pod(name: string, node: string, cm: string, sec: string, metadata: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...metadata },
    spec: {
      nodeName: node,
      containers: [{ name: 'app', image: 'busybox:1', env: [{ name: 'V', valueFrom: { secretKeyRef: { name: sec, key: 'v' } } }], volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }],
      volumes: [{ name: 'cfg', configMap: { name: cm } }],
    },
  }
}

/** Every workload resource an envelope names: its route's, and for a resync each object in it. */
export function named(m: Envelope): string[] {
  if (m.route.operation === Operations.resync && m.route.resource === WORKLOAD_RESYNC_RESOURCE) {
    const set = m.content as NodeWorkloadSet
    const of = (kind: 'pod' | 'configmap' | 'secret', objects: Array<{ metadata: { namespace: string; name: string } }>): string[] => objects.map((o) => workloadResource(kind, o.metadata.namespace, o.metadata.name))
    return [...of('pod', set.pods), ...of('configmap', set.configmaps), ...of('secret', set.secrets)]
  }
  return parseWorkloadResource(m.route.resource) === undefined ? [] : [m.route.resource]
}

const claimedByWorkloads = (m: Envelope): boolean => (m.route.operation === Operations.resync ? m.route.resource === WORKLOAD_RESYNC_RESOURCE : parseWorkloadResource(m.route.resource) !== undefined)

export interface WorkloadEdgeOptions {
  /** changes each envelope on its way to the edge (a cloud of another tern version sending what this edge's schema does not take) */
  alter?: (m: Envelope) => void
  /** an earlier edge's database */
  db?: AnyLevel
  /** what the edge announces (`tern-capabilities`); none by default, as an older tern edge */
  capabilities?: readonly string[]
  /** a frame longer than this closes the session with 1009, as the link's WebSocket does (default: none) */
  maxPayload?: number
  /** each frame to the edge waits for this first (frames keep their order) */
  hold?: (m: Envelope) => Promise<void>
}

export async function workloadEdge(h: Harness, node: string, options: WorkloadEdgeOptions = {}): Promise<WorkloadEdge> {
  const [cloudWire, edgeWire] = wirePair()
  const { alter, maxPayload, hold } = options
  const send = cloudWire.send.bind(cloudWire)
  const frames = { tooLarge: 0 }
  let queue = Promise.resolve()
  cloudWire.send = (text: string) => {
    const m = JSON.parse(text) as Envelope
    alter?.(m)
    const sent = alter === undefined ? text : JSON.stringify(m)
    if (maxPayload !== undefined && Buffer.byteLength(sent) > maxPayload) {
      frames.tooLarge++
      cloudWire.close(1009, 'Max payload size exceeded')
      return
    }
    if (hold === undefined) return send(sent)
    // a frame held past the session's end is dropped, as a closed socket drops it
    queue = queue.then(() => hold(m)).then(() => send(sent)).catch(() => undefined)
  }
  const cloudSide = new Session(cloudWire, { node, source: Sources.hub, log: h.log, resendMs: 60_000, capabilities: new Set(options.capabilities ?? []) })
  const edgeSide = new Session(edgeWire, { node, source: Sources.edge, log: h.log, resendMs: 60_000 })
  const wire: Envelope[] = []
  edgeSide.onMessage((m) => {
    wire.push(m)
    if (!claimedByWorkloads(m)) edgeSide.send(response(m, Sources.edge)) // the devices' resync
  })
  const db = options.db ?? (new MemoryLevel({ valueEncoding: 'json' }) as unknown as AnyLevel)
  const store = new WorkloadSync({ db, nodeName: node, fsync: false, log: h.log })
  await store.start()
  store.attach(edgeSide)
  h.cloud.attach(cloudSide)
  return { store, db, wire, frames, held: () => [...store.objects.keys()].sort(), close: () => cloudSide.close() }
}

/** The edge's store alone on an in-memory session, and a way to send it a workload resync as the cloud does. */
export async function resyncStore(node: string): Promise<{ store: WorkloadSync; send: (content: unknown) => Promise<Envelope> }> {
  const [cloudWire, edgeWire] = wirePair()
  const log = pino({ level: 'silent' })
  const cloud = new Session(cloudWire, { node, source: Sources.hub, log, resendMs: 60_000 })
  const edgeSide = new Session(edgeWire, { node, source: Sources.edge, log, resendMs: 60_000 })
  const store = new WorkloadSync({ db: new MemoryLevel({ valueEncoding: 'json' }) as unknown as AnyLevel, nodeName: node, fsync: false, log })
  await store.start()
  store.attach(edgeSide)
  return { store, send: (content) => cloud.request(message({ source: Sources.cloud, group: 'resource', operation: Operations.resync, resource: WORKLOAD_RESYNC_RESOURCE }, content)) }
}
