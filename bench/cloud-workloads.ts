/**
 * Cloud side at scale with workloads: one `tern cloud` keeping the Nodes, Leases and pods of
 * 1,000 simulated edge nodes (the cloud bench's simulator and API emulator, cloud-sim.ts and
 * cloud-world.ts). Each node reports its Node status over the real cloud link (at connect, then
 * every `statusSeconds`), tern cloud renews its Lease every 10 s (its `nodes.leaseRenewSeconds`
 * default) while the session is open, and each node gets `podsPerNode` pods, created in the
 * emulator, sent down by tern cloud and reported Running by the node.
 *
 * Measured, with every request tern cloud makes to the API server counted by verb and resource:
 * 1. connect: all nodes connected, resynced and their Node status written;
 * 2. steady state without pods, `duration` s after `warmup` s (Leases in their renewal cycle);
 * 3. rollout: `nodes × podsPerNode` pods created at once → all Running in the API (pod status
 *    PATCHes share the status budget `status.qps` with Device status, so at 50/s 10,000 pods take
 *    ≥ 200 s; the result says which budget applied);
 * 4. steady state with the pods running, `duration` s.
 * The steady-state rates are compared with a kubelet fleet's floor: nodes × (1 Lease renewal per
 * 10 s + 1 Node status per `statusSeconds`).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { NAMESPACES } from '../test/support/kube/registry.js'
import { startKubeEmulator, type KubeEmulator } from '../test/support/kube/server.js'
import { nameOf, namespaceOf, type KubeObject } from '../test/support/kube/store.js'
import { makeTestPki } from '../test/support/pki.js'
import { scratchDir } from '../test/support/resources.js'
import { requestRates, type RequestRates } from './api-requests.js'
import { forkEdgeSimulator, type EdgeSimulatorProcess } from './cloud-edges.js'
import { installCrds, nodeName, openFilesLimit, sampleRss, sleep, startCloud, warnings, within, type CloudProcess } from './cloud-world.js'
import { round } from './phases.js'
import { cpuSeconds, rssMiB } from './servers.js'

export interface CloudWorkloadsOptions {
  nodes: number
  podsPerNode: number
  namespaces: number
  /** the simulated nodes' Node status interval, s (tern edge: on change, else every node.status.reportSeconds = 300) */
  statusSeconds: number
  warmup: number
  duration: number
  /** tern cloud status.qps and burst (pod status shares them with Device status) */
  qps: number
  burst: number
  resendMs: number
  tls: boolean
}

export const CLOUD_WORKLOADS_DEFAULTS: CloudWorkloadsOptions = {
  nodes: 1000,
  podsPerNode: 10,
  namespaces: 10,
  statusSeconds: 60,
  warmup: 20,
  duration: 60,
  qps: 50,
  burst: 100,
  resendMs: 5000,
  tls: true,
}

/** tern cloud's `nodes.leaseRenewSeconds` default, which the bench runs with */
const LEASE_RENEW_SECONDS = 10

const SECRET = 'cloud-bench-shared-secret-0123456789'

export function cloudWorkloadsEstimateSeconds(o: CloudWorkloadsOptions): number {
  const pods = o.nodes * o.podsPerNode
  // connecting: ~10 s per 1,000 nodes on an idle 2-core machine, up to 565 s on a busy one (TLS handshakes time out and are retried)
  return 20 + o.nodes / 2 + o.warmup + 2 * o.duration + Math.max(0, pods - o.burst) / o.qps + pods / 2000 + 15
}

export interface SteadyState {
  seconds: number
  /** tern cloud's requests to the API server */
  requests: RequestRates
  /** nodes × (1 / lease renewal interval + 1 / Node status interval): what a kubelet fleet sends */
  kubeletFloorPerSec: number
  /** requests.total / kubeletFloorPerSec */
  ratioToFloor: number
  cpuCores: { cloud: number; simulator: number; emulator: number }
  cloudRssMiB: { end: number; peak: number }
  loadAverage: number
}

export interface CloudWorkloadsResult {
  bench: 'cloud-workloads'
  nodes: number
  podsPerNode: number
  pods: number
  transport: 'wss' | 'ws'
  statusSeconds: number
  leaseRenewSeconds: number
  qps: number
  burst: number
  cloudReadyMs: number
  /** spawn of the simulator → every node connected, resynced and its Node status written */
  connect: { allReadyMs: number; nodes: number; requests: RequestRates; cloudRssMiB: number }
  idle: SteadyState
  rollout: {
    /** first pod created → every pod Running in the API */
    allRunningMs: number
    createSeconds: number
    /** pod status PATCHes answered 2xx per pod (1 when no write was repeated) */
    statusPatchesPerPod: number
    requests: RequestRates
    /** the simulator's and the emulator's too: a rollout slower than status.qps allows is theirs when they use a core */
    cpuCores: { cloud: number; simulator: number; emulator: number }
    cloudRssMiB: { peak: number }
  }
  withPods: SteadyState
  /** at the end, in the API: Nodes Ready, Leases renewed within their duration, pods Running */
  api: { nodesReady: number; leasesFresh: number; podsRunning: number }
  simulator: { refused: Record<string, number>; nodeStatusSent: number; podReportsSent: number; sessionsLost: number }
  cloudWarnings: Record<string, number>
}

export async function runCloudWorkloadsBench(o: CloudWorkloadsOptions, log: (line: string) => void): Promise<CloudWorkloadsResult> {
  const files = openFilesLimit()
  if (files < o.nodes + 256) throw new Error(`open files limit ${files} is too low for ${o.nodes} sessions: raise it (ulimit -n ${o.nodes + 1024}) and run again`)
  const dir = await scratchDir('tern-bench-cloud-workloads-')
  const kube = await startKubeEmulator({ historySize: 20_000 })
  let cloud: CloudProcess | undefined
  let sim: EdgeSimulatorProcess | undefined
  let rss: ReturnType<typeof sampleRss> | undefined
  try {
    installCrds(kube.api)
    const namespaces = Array.from({ length: o.namespaces }, (_, k) => `fleet-${k}`)
    for (const ns of namespaces) kube.api.create(NAMESPACES, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    const kubeconfig = await kube.writeKubeconfig(join(dir.path, 'kubeconfig'))
    const secretFile = join(dir.path, 'secret')
    await writeFile(secretFile, `${SECRET}\n`)
    const pki = o.tls ? await makeTestPki(dir.path) : undefined
    log(`cloud-workloads: starting tern cloud (status.qps ${o.qps}, burst ${o.burst})`)
    cloud = await startCloud(
      dir.path,
      {
        hub: { host: '127.0.0.1', port: 0, ...(pki === undefined ? {} : { tls: { cert: pki.server.cert, key: pki.server.key } }), sessionLimit: Math.max(1000, o.nodes) },
        auth: { mode: 'shared-secret', secretFile },
        kube: { kubeconfig },
        status: { qps: o.qps, burst: o.burst },
        nodes: { leaseRenewSeconds: LEASE_RENEW_SECONDS },
        log: { level: 'info' },
      },
      60_000,
    )
    rss = sampleRss(cloud)
    const c = cloud
    const s = forkEdgeSimulator()
    sim = s

    log(`cloud-workloads: connecting ${o.nodes} simulated nodes (Node status every ${o.statusSeconds} s)`)
    const c0 = Date.now()
    await s.start({
      url: `${pki === undefined ? 'ws' : 'wss'}://127.0.0.1:${c.hubPort}`,
      ...(pki === undefined ? {} : { ca: await readFile(pki.ca, 'utf8') }),
      secret: SECRET,
      nodes: Array.from({ length: o.nodes }, (_, n) => nodeName(n)),
      resendMs: o.resendMs,
      window: 256,
      kubelet: { statusSeconds: o.statusSeconds },
    })
    await within('every node resynced and Ready', 120_000 + o.nodes * 500, until(async () => (await s.counters()).kubelet?.nodesReady === o.nodes))
    const c1 = Date.now()
    const connect = { allReadyMs: c1 - c0, nodes: o.nodes, requests: requestRates(kube.requests, c0, c1), cloudRssMiB: rssMiB(c.pid) }
    log(`cloud-workloads: ${o.nodes} nodes Ready in ${connect.allReadyMs} ms (${connect.requests.total} requests/s meanwhile); RSS ${connect.cloudRssMiB} MiB`)

    await sleep(o.warmup * 1000)
    const idle = await steady(o, kube, c, s, rss)
    log(`cloud-workloads: no pods: ${idle.requests.total} requests/s (floor ${idle.kubeletFloorPerSec}, ×${idle.ratioToFloor}), cloud ${idle.cpuCores.cloud} cores, RSS ${idle.cloudRssMiB.end} MiB`)

    const rollout = await rolloutPods(o, kube, c, s, rss, namespaces, log)
    log(`cloud-workloads: ${o.nodes * o.podsPerNode} pods Running in ${rollout.allRunningMs} ms; ${rollout.statusPatchesPerPod} status PATCH per pod; cores: cloud ${rollout.cpuCores.cloud}, simulator ${rollout.cpuCores.simulator}, emulator ${rollout.cpuCores.emulator}`)

    await sleep(10_000)
    const withPods = await steady(o, kube, c, s, rss)
    log(`cloud-workloads: ${o.nodes * o.podsPerNode} pods: ${withPods.requests.total} requests/s (×${withPods.ratioToFloor} the floor), cloud ${withPods.cpuCores.cloud} cores, RSS ${withPods.cloudRssMiB.end} MiB`)

    const end = await s.counters()
    const result: CloudWorkloadsResult = {
      bench: 'cloud-workloads',
      nodes: o.nodes,
      podsPerNode: o.podsPerNode,
      pods: o.nodes * o.podsPerNode,
      transport: pki === undefined ? 'ws' : 'wss',
      statusSeconds: o.statusSeconds,
      leaseRenewSeconds: LEASE_RENEW_SECONDS,
      qps: o.qps,
      burst: o.burst,
      cloudReadyMs: Math.round(c.readyMs),
      connect,
      idle,
      rollout,
      withPods,
      api: apiState(kube),
      simulator: { refused: end.kubelet?.refused ?? {}, nodeStatusSent: end.kubelet?.nodeStatusSent ?? 0, podReportsSent: end.kubelet?.podReportsSent ?? 0, sessionsLost: end.sessionsLost },
      cloudWarnings: warnings(c.child.output()),
    }
    process.stdout.write(`${JSON.stringify(result)}\n`)
    return result
  } finally {
    rss?.stop()
    await sim?.stop()
    await cloud?.stop()
    // TERN_BENCH_CLOUD_LOG: tern cloud's whole log, to see why a run failed or was slow
    const logFile = process.env.TERN_BENCH_CLOUD_LOG
    if (logFile !== undefined && cloud !== undefined) await writeFile(logFile, cloud.child.output())
    await kube.stop()
    await dir.remove()
  }
}

/** Polls `test` every 500 ms until it holds. */
async function until(test: () => Promise<boolean>): Promise<void> {
  while (!(await test())) await sleep(500)
}

interface CpuSnap {
  at: number
  cloud: number
  simulator: number
  own: number
}

function cpu(cloud: CloudProcess, simPid: number): CpuSnap {
  const own = process.cpuUsage()
  return { at: Date.now(), cloud: cpuSeconds(cloud.pid), simulator: cpuSeconds(simPid), own: (own.user + own.system) / 1e6 }
}

/** CPU used between two snapshots, cores */
function cores(a: CpuSnap, b: CpuSnap): SteadyState['cpuCores'] {
  const seconds = (b.at - a.at) / 1000
  return { cloud: round((b.cloud - a.cloud) / seconds, 3), simulator: round((b.simulator - a.simulator) / seconds, 3), emulator: round((b.own - a.own) / seconds, 3) }
}

async function steady(o: CloudWorkloadsOptions, kube: KubeEmulator, cloud: CloudProcess, sim: EdgeSimulatorProcess, rss: ReturnType<typeof sampleRss>): Promise<SteadyState> {
  const loadAverage = round(loadavg()[0] ?? NaN, 2)
  rss.reset()
  const a = cpu(cloud, sim.pid)
  await sleep(o.duration * 1000)
  const b = cpu(cloud, sim.pid)
  const seconds = (b.at - a.at) / 1000
  const requests = requestRates(kube.requests, a.at, b.at)
  const kubeletFloorPerSec = round(o.nodes * (1 / LEASE_RENEW_SECONDS + 1 / o.statusSeconds), 1)
  return {
    seconds: round(seconds, 1),
    requests,
    kubeletFloorPerSec,
    ratioToFloor: round(requests.total / kubeletFloorPerSec, 2),
    cpuCores: cores(a, b),
    cloudRssMiB: { end: rssMiB(cloud.pid), peak: rss.peak() },
    loadAverage,
  }
}

/** Creates every pod at once (in the emulator, as a DaemonSet controller would) and waits for all of them Running in the API. */
async function rolloutPods(o: CloudWorkloadsOptions, kube: KubeEmulator, cloud: CloudProcess, sim: EdgeSimulatorProcess, rss: ReturnType<typeof sampleRss>, namespaces: string[], log: (line: string) => void): Promise<CloudWorkloadsResult['rollout']> {
  const pods = kube.api.findType('', 'v1', 'pods')
  if (pods === undefined) throw new Error('the emulator has no pods')
  const total = o.nodes * o.podsPerNode
  const running = new Set<string>()
  let allRunning: () => void = () => undefined
  const done = new Promise<void>((resolve) => (allRunning = resolve))
  const unsubscribe = kube.api.store.subscribe((event) => {
    if (event.typeId !== '/pods' || event.type === 'DELETED') return
    const phase = (event.object.status as { phase?: unknown } | undefined)?.phase
    if (phase !== 'Running') return
    running.add(`${namespaceOf(event.object)}/${nameOf(event.object)}`)
    if (running.size === total) allRunning()
  })
  rss.reset()
  const cpu0 = cpu(cloud, sim.pid)
  const t0 = cpu0.at
  try {
    log(`cloud-workloads: creating ${total} pods (${o.podsPerNode} on each node)`)
    for (let n = 0; n < o.nodes; n++) {
      for (let j = 0; j < o.podsPerNode; j++) {
        const ns = namespaces[(n * o.podsPerNode + j) % namespaces.length] as string
        kube.api.create(pods, ns, podBody(ns, `app-${n}-${j}`, nodeName(n)))
      }
      if (n % 100 === 99) await sleep(0) // let the emulator serve the watches meanwhile
    }
    const createSeconds = round((Date.now() - t0) / 1000, 1)
    const limit = 120_000 + (total / o.qps) * 3000
    await within(`all ${total} pods Running`, limit, done)
    const cpu1 = cpu(cloud, sim.pid)
    const t1 = cpu1.at
    await sleep(1000) // requests are recorded when answered: the last PATCHes' answers
    const requests = requestRates(kube.requests, t0, t1)
    const statusPatches = kube.requests.filter((r) => r.receivedAt >= t0 && r.receivedAt <= t1 && r.method === 'PATCH' && /\/pods\/[^/]+\/status/.test(r.url) && r.status < 300).length
    return {
      allRunningMs: t1 - t0,
      createSeconds,
      statusPatchesPerPod: round(statusPatches / total, 3),
      requests,
      cpuCores: cores(cpu0, cpu1),
      cloudRssMiB: { peak: rss.peak() },
    }
  } finally {
    unsubscribe()
  }
}

/** A pod of one container, bound to `node` (as the scheduler or a DaemonSet binds it). */
function podBody(namespace: string, name: string, node: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: 'bench' } },
    spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.local/bench/app:1.0', resources: {} }] },
  }
}

/** What the API says at the end: Nodes Ready, Leases renewed within their duration, pods Running. */
function apiState(kube: KubeEmulator): CloudWorkloadsResult['api'] {
  const type = (group: string, version: string, plural: string): NonNullable<ReturnType<KubeEmulator['api']['findType']>> => {
    const t = kube.api.findType(group, version, plural)
    if (t === undefined) throw new Error(`the emulator has no ${plural}`)
    return t
  }
  const now = Date.now()
  const nodes = kube.api.list(type('', 'v1', 'nodes')).items
  const nodesReady = nodes.filter((n) => ((n.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')).length
  const leases = kube.api.list(type('coordination.k8s.io', 'v1', 'leases'), 'kube-node-lease').items
  const leasesFresh = leases.filter((l) => {
    const spec = l.spec as { renewTime?: string; leaseDurationSeconds?: number } | undefined
    return spec?.renewTime !== undefined && now - Date.parse(spec.renewTime) <= (spec.leaseDurationSeconds ?? 40) * 1000
  }).length
  const podsRunning = kube.api.list(type('', 'v1', 'pods')).items.filter((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running').length
  return { nodesReady, leasesFresh, podsRunning }
}
