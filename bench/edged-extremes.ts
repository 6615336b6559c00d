/**
 * The workload half of `tern edge` at operators' sizes (`npm run bench -- --only edged-extremes`),
 * with real processes: the API emulator (in this process, so every request tern cloud makes is
 * counted), `tern cloud` (built) on a TLS CloudHub, `tern edge` (built) with edged on a private
 * containerd, and the twin's round trip sampled all along by an app on the edge bus (a Device of
 * the same node; bench/twin-probe.ts).
 *
 * 1. A ConfigMap of `configMapKiB` in four keys mounted by `configMapPods` pods: the messages that
 *    carry it to the node (tern_cloud_workload_messages_total), how long until every pod's volume
 *    shows an edit of it, tern edge's memory and LevelDB size before and after.
 * 2. A Secret mounted by `secretPods` pods changed `secretRate` times a second for `secretSeconds`:
 *    how long after the last change every volume shows the last value, what is left in the volume
 *    directories besides `..data`, one `..<timestamp>` directory and the key links, the messages
 *    sent and superseded, tern edge's CPU meanwhile.
 * 3. `burstPods` pods created at once: time to all running at the runtime and Running in the API,
 *    tern edge's CPU and peak RSS, and the pod status PATCHes tern cloud made per second against
 *    its status.qps. Before them, the floors of the twin's round trip: with no pods, and while the
 *    bench makes as many pods through the CRI itself, at once, edged not involved (what creating
 *    them costs the machine).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, stat } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { connectGrpcRuntime } from '../edged/cri/grpc-runtime.js'
import type { ContainerRuntime } from '../edged/cri/runtime.js'
import { MANAGED_BY, MANAGED_BY_EDGED } from '../edged/labels.js'
import { MODEL, startCloudWorld, type CloudWorld } from '../test/support/cloud.js'
import { BUSYBOX_IMAGE, startContainerd, type Containerd } from '../test/support/containerd.js'
import { CONFIGMAPS, PODS } from '../test/support/kube/core-types.js'
import { SECRETS } from '../test/support/kube/registry.js'
import { inMountNamespaceOf } from '../test/support/pods-world.js'
import { startTernEdge, type TernEdgeProcess } from '../test/support/tern.js'
import { CriFloor } from './cri-floor.js'
import { round } from './phases.js'
import { anonMiB, cpuSeconds, rssMiB, ternNodeFlags } from './servers.js'
import { TwinProbe, type TwinProbeStats } from './twin-probe.js'

export interface EdgedExtremesOptions {
  configMapPods: number
  /** the ConfigMap's data, KiB, in four keys */
  configMapKiB: number
  secretPods: number
  /** Secret changes per second */
  secretRate: number
  secretSeconds: number
  burstPods: number
  /** status.qps of tern cloud (its default: 50) */
  statusQps: number
  /** Write a V8 CPU profile of tern edge into this directory (node --cpu-prof). */
  cpuProfDir?: string
}

export const EDGED_EXTREMES_DEFAULTS: EdgedExtremesOptions = { configMapPods: 50, configMapKiB: 1024, secretPods: 10, secretRate: 10, secretSeconds: 60, burstPods: 100, statusQps: 50 }

/** Rough, for a busy 2-core machine. */
export function edgedExtremesEstimateSeconds(o: EdgedExtremesOptions): number {
  return 120 + (o.configMapPods + o.secretPods + o.burstPods * 2) * 4 + o.secretSeconds * 2
}

interface Memory {
  rssMiB: number
  anonMiB: number
  /** the node's LevelDB (the data directory without edged's), MiB */
  levelDbMiB: number
}

export interface EdgedExtremesResult {
  options: EdgedExtremesOptions
  loadAverage: { before: number; after: number }
  /** the twin's round trip with nothing else going on */
  twinIdle: TwinProbeStats
  configMap: {
    /** pods created → all running at the runtime, ms */
    podsRunningMs: number
    /** workload messages (updates) tern cloud sent while the pods and the ConfigMap went down */
    updatesForPods: number
    /** workload messages (updates) for one edit of the ConfigMap */
    updatesForEdit: number
    /** edit written to the API → every pod's volume shows it, ms */
    editSeenByAllMs: number
    memoryNoPods: Memory
    memoryWithPods: Memory
    memoryAfterEdit: Memory
    /** the twin's round trip in the 10 s before the edit (the pods running, nothing changing): the same hour's idle figure */
    twinBeforeEdit: TwinProbeStats
    /** the twin's round trip from the edit until every pod saw it */
    twinDuringEdit: TwinProbeStats
  }
  secret: {
    changes: number
    updatesSent: number
    superseded: number
    /** last change written to the API → every volume shows it, ms */
    lastSeenByAllMs: number
    /** entries in the volume directories other than ..data, one ..<timestamp> directory and the key link */
    leftovers: string[]
    /** tern edge's CPU while the Secret changed, cores */
    edgeCores: number
    cloudCores: number
    memoryAfter: Memory
    twinBeforeChanges: TwinProbeStats
    twinDuringChanges: TwinProbeStats
  }
  burst: {
    /** pods created → all containers running at the runtime, ms */
    allRunningMs: number
    /** pods created → all Running in the API, ms */
    allRunningInApiMs: number
    edgeCores: number
    edgePeakRssMiB: number
    statusPatches: number
    /** most status PATCHes of pods in one second */
    statusPatchesPeakPerSecond: number
    apiRequests: number
    /** the same pods made by the bench through the CRI, at once, edged not involved: all running, ms */
    runtimeOnlyAllRunningMs: number
    /** the twin's round trip while the bench made those */
    twinDuringRuntimeOnly: TwinProbeStats
    twinBeforeBurst: TwinProbeStats
    twinDuringBurst: TwinProbeStats
  }
}

const NODE = 'edge-extremes'
const DEVICE = 'probe-fan'
const SETTLE_MS = 10_000
const IDLE = "trap 'exit 0' TERM; sleep 2147483647 & wait"

export async function runEdgedExtremesBench(o: EdgedExtremesOptions, log: (line: string) => void): Promise<EdgedExtremesResult> {
  const before = loadavg()[0] ?? 0
  const undo: Array<() => Promise<void>> = []
  try {
    const world = await startCloudWorld(undo, { qps: o.statusQps })
    const kube = world.kube
    if (kube === undefined) throw new Error('edged-extremes bench: needs the API emulator')
    const containerd = await startContainerd()
    undo.push(() => containerd.stop())
    const runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 120_000 })
    undo.push(() => Promise.resolve(runtime.close()))
    const edgeDir = join(world.dir, 'edge')
    const edge = await startEdge(world, containerd, edgeDir, o.cpuProfDir)
    undo.push(() => edge.stop(30_000))
    const api = kube.api
    const applied = await world.kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${probeDevice()}`)
    if (applied.code !== 0) throw new Error(applied.stderr)
    const mqttPort = edge.listeners.find((l) => l.protocol === 'mqtt')?.port ?? 0
    const probe = await TwinProbe.start({ url: `mqtt://127.0.0.1:${mqttPort}`, device: DEVICE, property: 'temperature', intervalMs: 100 })
    undo.push(() => probe.stop())
    const metrics = (): Promise<WorkloadMessages> => workloadMessages(world)
    const memory = (): Promise<Memory> => memoryOf(edge.pid, edgeDir)
    const volumeOf = (uid: string, volume: string): string => `/proc/${containerd.pid}/root${join(edgeDir, 'data', 'edged', 'volumes', uid, volume)}`

    await sleep(SETTLE_MS)
    probe.take()
    await sleep(SETTLE_MS)
    const twinIdle = probe.take()
    const memoryNoPods = await memory()
    log(`edged-extremes: twin round trip idle p50 ${twinIdle.latencyMs.p50} ms p99 ${twinIdle.latencyMs.p99} ms; tern edge RSS ${memoryNoPods.rssMiB} MiB`)

    // 1. a large ConfigMap mounted by many pods
    const keys = 4
    const keyBytes = Math.floor((o.configMapKiB * 1024) / keys)
    api.create(CONFIGMAPS, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big', namespace: 'default' }, data: bigData(keys, keyBytes, 'A') })
    let m0 = await metrics()
    let t = performance.now()
    for (let i = 0; i < o.configMapPods; i++) api.create(PODS, 'default', pod(`cm-${i}`, { cfg: { configMap: { name: 'big' } } }))
    await until(async () => (await runningTotal(runtime)) === o.configMapPods, 900_000, `${o.configMapPods} ConfigMap pods running`)
    const podsRunningMs = performance.now() - t
    await until(async () => (await metrics()).update - m0.update >= o.configMapPods + 1, 120_000, 'the ConfigMap pods sent')
    probe.take()
    await sleep(SETTLE_MS)
    const twinBeforeEdit = probe.take()
    const updatesForPods = (await metrics()).update - m0.update
    const memoryWithPods = await memory()
    log(`edged-extremes: ${o.configMapPods} pods mounting a ${o.configMapKiB} KiB ConfigMap running in ${round(podsRunningMs, 0)} ms; ${updatesForPods} updates sent; RSS ${memoryWithPods.rssMiB} MiB, LevelDB ${memoryWithPods.levelDbMiB} MiB`)
    const cmUids = uidsOf(api, 'cm-')
    m0 = await metrics()
    t = performance.now()
    api.patch(CONFIGMAPS, 'default', 'big', 'application/merge-patch+json', { data: bigData(keys, keyBytes, 'B') }, undefined)
    await until(async () => (await Promise.all(cmUids.map((uid) => head(join(volumeOf(uid, 'cfg'), 'k0'))))).every((h) => h === 'B'), 600_000, 'every pod seeing the edit')
    const editSeenByAllMs = performance.now() - t
    const twinDuringEdit = probe.take()
    await sleep(SETTLE_MS)
    const updatesForEdit = (await metrics()).update - m0.update
    const memoryAfterEdit = await memory()
    log(`edged-extremes: ConfigMap edit seen by all ${o.configMapPods} pods in ${round(editSeenByAllMs, 0)} ms (${updatesForEdit} updates sent); twin p50/p99 ${twinDuringEdit.latencyMs.p50}/${twinDuringEdit.latencyMs.p99} ms meanwhile (before: ${twinBeforeEdit.latencyMs.p50}/${twinBeforeEdit.latencyMs.p99}); RSS ${memoryAfterEdit.rssMiB} MiB, LevelDB ${memoryAfterEdit.levelDbMiB} MiB`)

    // 2. a Secret changing fast
    api.create(SECRETS, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hot', namespace: 'default' }, data: { token: b64('v0') } })
    for (let i = 0; i < o.secretPods; i++) api.create(PODS, 'default', pod(`sec-${i}`, { sec: { secret: { secretName: 'hot' } } }))
    await until(async () => (await runningTotal(runtime)) === o.configMapPods + o.secretPods, 600_000, 'the Secret pods running')
    const secUids = uidsOf(api, 'sec-')
    probe.take()
    await sleep(SETTLE_MS)
    const twinBeforeChanges = probe.take()
    m0 = await metrics()
    const cpu0 = { edge: cpuSeconds(edge.pid), cloud: cpuSeconds(world.cloud.pid), at: performance.now() }
    const changes = Math.round(o.secretRate * o.secretSeconds)
    const last = `v${changes}`
    const flipStart = performance.now()
    for (let i = 1; i <= changes; i++) {
      api.patch(SECRETS, 'default', 'hot', 'application/merge-patch+json', { data: { token: b64(`v${i}`) } }, undefined)
      await sleep(Math.max(0, flipStart + (i * 1000) / o.secretRate - performance.now()))
    }
    t = performance.now()
    const cpu1 = { edge: cpuSeconds(edge.pid), cloud: cpuSeconds(world.cloud.pid), at: performance.now() }
    const twinDuringChanges = probe.take()
    await until(async () => (await Promise.all(secUids.map((uid) => head(join(volumeOf(uid, 'sec'), 'token'), 8)))).every((h) => h === last), 600_000, 'every pod seeing the last Secret value')
    const lastSeenByAllMs = performance.now() - t
    await sleep(SETTLE_MS)
    const m1 = await metrics()
    const leftovers: string[] = []
    for (const uid of secUids) leftovers.push(...(await strays(volumeOf(uid, 'sec'), ['token'])).map((e) => `${uid}/sec/${e}`))
    for (const uid of cmUids) leftovers.push(...(await strays(volumeOf(uid, 'cfg'), ['k0', 'k1', 'k2', 'k3'])).map((e) => `${uid}/cfg/${e}`))
    const memoryAfter = await memory()
    const seconds = (cpu1.at - cpu0.at) / 1000
    const secret = {
      changes,
      updatesSent: m1.update - m0.update,
      superseded: m1.superseded - m0.superseded,
      lastSeenByAllMs: round(lastSeenByAllMs, 0),
      leftovers,
      edgeCores: round((cpu1.edge - cpu0.edge) / seconds, 3),
      cloudCores: round((cpu1.cloud - cpu0.cloud) / seconds, 3),
      memoryAfter,
      twinBeforeChanges,
      twinDuringChanges,
    }
    log(`edged-extremes: Secret changed ${changes} times: last value seen by all ${o.secretPods} pods ${secret.lastSeenByAllMs} ms after; ${secret.updatesSent} updates sent, ${secret.superseded} superseded; leftovers ${leftovers.length}; tern edge ${secret.edgeCores} cores; twin p50/p99 ${twinDuringChanges.latencyMs.p50}/${twinDuringChanges.latencyMs.p99} ms (before: ${twinBeforeChanges.latencyMs.p50}/${twinBeforeChanges.latencyMs.p99}); load ${round(loadavg()[0] ?? 0, 1)}`)

    // 3. many pods at once, on a node without others
    for (const p of api.list(PODS, 'default').items) api.delete(PODS, 'default', p.metadata.name as string, { gracePeriodSeconds: 1 })
    await until(async () => api.list(PODS, 'default').items.length === 0 && (await runningTotal(runtime)) === 0, 900_000, 'the pods deleted')
    probe.take()
    await sleep(SETTLE_MS)
    const twinNoPods = probe.take()
    const floor = new CriFloor(runtime, NODE, join(world.dir, 'cri-floor'))
    t = performance.now()
    await Promise.all(Array.from({ length: o.burstPods }, (_, i) => floor.run(`floor-${i}`, pod(`floor-${i}`, {}))))
    const runtimeOnlyAllRunningMs = performance.now() - t
    const twinDuringRuntimeOnly = probe.take()
    await floor.remove()
    log(`edged-extremes: ${o.burstPods} pods at once through the CRI by the bench running in ${round(runtimeOnlyAllRunningMs, 0)} ms; twin p50/p99 ${twinDuringRuntimeOnly.latencyMs.p50}/${twinDuringRuntimeOnly.latencyMs.p99} ms (before: ${twinNoPods.latencyMs.p50}/${twinNoPods.latencyMs.p99}); load ${round(loadavg()[0] ?? 0, 1)}`)
    probe.take()
    await sleep(SETTLE_MS)
    const twinBeforeBurst = probe.take()
    const requests0 = kube.requests.length
    const cpu2 = { edge: cpuSeconds(edge.pid), at: performance.now() }
    let peakRss = rssMiB(edge.pid)
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMiB(edge.pid))), 250)
    t = performance.now()
    for (let i = 0; i < o.burstPods; i++) api.create(PODS, 'default', pod(`burst-${i}`, {}))
    await until(async () => (await runningTotal(runtime)) === o.burstPods, 900_000, `${o.burstPods} pods running`)
    const allRunningMs = performance.now() - t
    await until(() => Promise.resolve(api.list(PODS, 'default').items.filter((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running').length === o.burstPods), 900_000, `${o.burstPods} pods Running in the API`)
    const allRunningInApiMs = performance.now() - t
    clearInterval(sampler)
    const cpu3 = { edge: cpuSeconds(edge.pid), at: performance.now() }
    const twinDuringBurst = probe.take()
    const requests = kube.requests.slice(requests0)
    const patches = requests.filter((r) => r.method === 'PATCH' && /\/pods\/[^/]+\/status/.test(r.url))
    const perSecond = new Map<number, number>()
    for (const r of patches) perSecond.set(Math.floor(r.receivedAt / 1000), (perSecond.get(Math.floor(r.receivedAt / 1000)) ?? 0) + 1)
    const burst = {
      allRunningMs: round(allRunningMs, 0),
      allRunningInApiMs: round(allRunningInApiMs, 0),
      edgeCores: round((cpu3.edge - cpu2.edge) / ((cpu3.at - cpu2.at) / 1000), 3),
      edgePeakRssMiB: peakRss,
      statusPatches: patches.length,
      statusPatchesPeakPerSecond: Math.max(0, ...perSecond.values()),
      apiRequests: requests.length,
      runtimeOnlyAllRunningMs: round(runtimeOnlyAllRunningMs, 0),
      twinDuringRuntimeOnly,
      twinBeforeBurst,
      twinDuringBurst,
    }
    log(`edged-extremes: ${o.burstPods} pods at once running in ${burst.allRunningMs} ms, Running in the API in ${burst.allRunningInApiMs} ms; tern edge ${burst.edgeCores} cores, peak RSS ${peakRss} MiB; ${patches.length} status PATCHes (peak ${burst.statusPatchesPeakPerSecond}/s); twin p50/p99 ${twinDuringBurst.latencyMs.p50}/${twinDuringBurst.latencyMs.p99} ms (before: ${twinBeforeBurst.latencyMs.p50}/${twinBeforeBurst.latencyMs.p99}); load ${round(loadavg()[0] ?? 0, 1)}`)

    return {
      options: o,
      loadAverage: { before: round(before, 2), after: round(loadavg()[0] ?? 0, 2) },
      twinIdle,
      configMap: { podsRunningMs: round(podsRunningMs, 0), updatesForPods, updatesForEdit, editSeenByAllMs: round(editSeenByAllMs, 0), memoryNoPods, memoryWithPods, memoryAfterEdit, twinBeforeEdit, twinDuringEdit },
      secret,
      burst,
    }
  } finally {
    for (const fn of undo.splice(0).reverse()) await fn().catch((err: unknown) => log(`edged-extremes: cleanup: ${(err as Error).message}`))
  }
}

/**
 * `tern edge` as the tests' pods world starts it (in containerd's mount namespace), logging at info
 * as shipped; node flags as bench/servers.ts gives them. A/B: TERN_BENCH_BIN names another built tern.js.
 */
async function startEdge(world: CloudWorld, containerd: Containerd, dir: string, cpuProfDir: string | undefined): Promise<TernEdgeProcess> {
  await mkdir(dir, { recursive: true })
  const spawn = inMountNamespaceOf(containerd)
  return startTernEdge(
      dir,
      {
        node: { name: NODE, status: { maxPods: 250 } },
        mqtt: { listeners: [{ port: 0 }] },
        cloud: { url: `wss://127.0.0.1:${world.cloud.hubPort}`, ca: world.pki.ca, secretFile: world.secretFile },
        edged: { runtimeEndpoint: containerd.endpoint },
        log: { level: 'info' },
      },
      [],
    (command, [bin, ...args]) => spawn(command, [...ternNodeFlags(cpuProfDir), process.env.TERN_BENCH_BIN ?? bin ?? '', ...args]),
  )
}

function probeDevice(): string {
  return `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${DEVICE}, namespace: default }
spec:
  nodeName: ${NODE}
  deviceModelRef: { name: fan-model }
  properties:
    - name: temperature
`
}

function pod(name: string, volumes: Record<string, Record<string, unknown>>): Record<string, unknown> {
  const mounts = Object.keys(volumes).map((v) => ({ name: v, mountPath: `/${v}` }))
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: NODE,
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'app', image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', IDLE], ...(mounts.length === 0 ? {} : { volumeMounts: mounts }) }],
      ...(mounts.length === 0 ? {} : { volumes: Object.entries(volumes).map(([v, source]) => ({ name: v, ...source })) }),
    },
  }
}

/** `keys` keys of `bytes` each, starting with `marker`, the rest random (so LevelDB's compression does not shrink it). */
function bigData(keys: number, bytes: number, marker: string): Record<string, string> {
  return Object.fromEntries(Array.from({ length: keys }, (_, k) => [`k${k}`, marker + randomBytes(bytes).toString('base64').slice(0, bytes - 1)]))
}

const b64 = (text: string): string => Buffer.from(text).toString('base64')

function uidsOf(api: NonNullable<CloudWorld['kube']>['api'], prefix: string): string[] {
  return api
    .list(PODS, 'default')
    .items.filter((p) => (p.metadata.name as string).startsWith(prefix))
    .map((p) => p.metadata.uid as string)
}

/** The first `n` bytes of a file as text ('' when it cannot be read yet). */
async function head(path: string, n = 1): Promise<string> {
  const file = await open(path).catch(() => undefined)
  if (file === undefined) return ''
  try {
    const buf = Buffer.alloc(n)
    const { bytesRead } = await file.read(buf, 0, n, 0)
    return buf.subarray(0, bytesRead).toString('utf8')
  } finally {
    await file.close()
  }
}

/** What an AtomicWriter volume holds besides `..data`, one `..<timestamp>` directory and the key links. */
async function strays(dir: string, keys: string[]): Promise<string[]> {
  const entries = await readdir(dir)
  const stamped = entries.filter((e) => e.startsWith('..') && e !== '..data')
  return [...entries.filter((e) => e !== '..data' && !keys.includes(e) && !e.startsWith('..')), ...stamped.slice(stamped.length === 1 ? 1 : 0)]
}

type WorkloadMessages = Record<'resync' | 'update' | 'delete' | 'superseded' | 'refused', number>

/** tern cloud's tern_cloud_workload_messages_total, scraped. */
async function workloadMessages(world: CloudWorld): Promise<WorkloadMessages> {
  const text = await (await fetch(`http://127.0.0.1:${world.cloud.httpPort}/metrics`)).text()
  const out: WorkloadMessages = { resync: 0, update: 0, delete: 0, superseded: 0, refused: 0 }
  for (const m of text.matchAll(/^tern_cloud_workload_messages_total\{kind="(\w+)"\} (\d+)/gm)) out[m[1] as keyof WorkloadMessages] = Number(m[2])
  return out
}

async function memoryOf(pid: number, edgeDir: string): Promise<Memory> {
  return { rssMiB: rssMiB(pid), anonMiB: anonMiB(pid), levelDbMiB: round((await dirBytes(join(edgeDir, 'data'), 'edged')) / 2 ** 20, 1) }
}

async function dirBytes(dir: string, skip?: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === skip) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += await dirBytes(path)
    else if (entry.isFile()) total += (await stat(path)).size
  }
  return total
}

const selector = { labelSelector: { [MANAGED_BY]: MANAGED_BY_EDGED } }

async function runningTotal(runtime: ContainerRuntime): Promise<number> {
  return (await runtime.listContainers({ ...selector, state: 'CONTAINER_RUNNING' })).length
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`edged-extremes bench: timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}
