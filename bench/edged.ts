/**
 * Edged against a private containerd (`npm run bench -- --only edged`): how long a static pod
 * manifest takes from written to all its containers running, one pod at a time (and the same pod
 * made through the CRI directly, with the same configs edged generates: the runtime's floor, as the
 * other benches compare with their peer); with `scalePods` pods on the node, how long until they
 * are all running after they are written at once, after `kill -9` and restart of `tern edge`
 * (adoption: the same containers, nothing started again) and after `kill -9` and restart of
 * containerd; and the memory edged adds to `tern edge` with those pods running. Runs the built
 * `tern edge` (dist/) as a user would; the containerd is test/support/containerd.ts's, in its own
 * mount and network namespaces, with the busybox image imported from an OCI archive.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { connectGrpcRuntime } from '../edged/cri/grpc-runtime.js'
import type { ContainerRuntime } from '../edged/cri/runtime.js'
import { MANAGED_BY, MANAGED_BY_EDGED, POD_NAME } from '../edged/labels.js'
import { startContainerd, type Containerd } from '../test/support/containerd.js'
import { busyboxPod, readSnapshot, writeManifest } from '../test/support/edged.js'
import { freePort, scratchDir, type Child } from '../test/support/resources.js'
import { TERN_BIN } from '../test/support/tern.js'
import { CriFloor } from './cri-floor.js'
import { percentiles, round } from './phases.js'
import { anonMiB, rssMiB, startOwned } from './servers.js'

export interface EdgedBenchOptions {
  /** pods written one at a time, each timed from written to running */
  pods: number
  /** pods on the node for the convergence and memory parts */
  scalePods: number
  /** containers per pod */
  containers: number
}

export const EDGED_DEFAULTS: EdgedBenchOptions = { pods: 20, scalePods: 50, containers: 2 }

/** Rough, for a busy 2-core machine: ~1.5 s per pod started, stopped or adopted, several times over. */
export function edgedEstimateSeconds(o: EdgedBenchOptions): number {
  return 60 + o.pods * 2 * 1.5 + o.scalePods * 4 * 1.5
}

type Stats = ReturnType<typeof percentiles>

export interface EdgedBenchResult {
  options: EdgedBenchOptions
  loadAverage: { before: number; after: number }
  /** manifest written → every container of the pod running, ms */
  manifestToRunningMs: Stats
  /** the same pod through the CRI alone (RunPodSandbox, CreateContainer, StartContainer), ms */
  criFloorMs: Stats
  /** p50 of edged over p50 of the floor */
  p50Ratio: number
  /** `scalePods` manifests written at once → all their containers running, ms */
  allAtOnceMs: number
  /** `tern edge` restarted after kill -9 → the snapshot shows every pod running with the same containers, ms */
  adoptAfterKill9Ms: number
  /** containers started again by the restarted tern edge (0: adopted, nothing duplicated) */
  containersStartedAgain: number
  /** containerd killed and started again → its socket answers, ms */
  containerdBootMs: number
  /** containerd started again → tern edge found it ready and every container still runs, ms */
  edgedBackAfterContainerdMs: number
  /** how long containerd was down (edged retries with back-off: 1 s doubling) */
  containerdDownMs: number
  memory: {
    /** tern edge without an `edged:` section, settled */
    withoutEdged: { rssMiB: number; anonMiB: number }
    /** tern edge with the `edged:` section and no pods yet, settled */
    noPods: { rssMiB: number; anonMiB: number }
    /** tern edge running `scalePods` pods, settled */
    withPods: { rssMiB: number; anonMiB: number }
    addedRssMiB: number
    addedAnonMiB: number
  }
}

/** V8's memory reducer settles the heap of an idle process within this. */
const SETTLE_MS = 10_000
const POLL_MS = 20

export async function runEdgedBench(o: EdgedBenchOptions, log: (line: string) => void): Promise<EdgedBenchResult> {
  const before = loadavg()[0] ?? 0
  const scratch = await scratchDir('tern-bench-edged-')
  const containerd = await startContainerd()
  const runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 120_000 })
  const nodes: Child[] = []
  try {
    const manifests = join(scratch.path, 'manifests')
    await mkdir(manifests, { recursive: true })
    const edgeDir = join(scratch.path, 'edge')
    let node = await startEdge(edgeDir, edgeConfig(containerd, manifests))
    nodes.push(node)
    await sleep(SETTLE_MS)
    const noPods = { rssMiB: rssMiB(node.pid), anonMiB: anonMiB(node.pid) }
    // one floor pod, then one edged pod, and so on: both see the same load on a shared machine
    const floor = new CriFloor(runtime, NODE, join(scratch.path, 'floor'))
    const floorSamples: number[] = []
    const samples: number[] = []
    for (let i = 0; i < o.pods; i++) {
      floorSamples.push(await floor.run(`floor${i}`, benchPod(`floor${i}`, o.containers)))
      const name = `lat${i}`
      const started = performance.now()
      await writeManifest(manifests, `${name}.yaml`, benchPod(name, o.containers))
      await until(async () => (await runningOf(runtime, `${name}-${NODE}`)) === o.containers, 120_000, `${name} running`)
      samples.push(performance.now() - started)
    }
    await floor.remove()
    const floorMs = percentiles(Float64Array.from(floorSamples))
    const latency = percentiles(Float64Array.from(samples))
    log(`edged: manifest → running p50 ${latency.p50} ms p99 ${latency.p99} ms; CRI floor p50 ${floorMs.p50} ms p99 ${floorMs.p99} ms; over ${o.pods} pods`)
    for (const f of await readdir(manifests)) await rm(join(manifests, f))
    await until(async () => (await managedContainers(runtime)) === 0, 300_000, 'the latency pods removed')

    let t = performance.now()
    for (let i = 0; i < o.scalePods; i++) await writeManifest(manifests, `s${i}.yaml`, benchPod(`s${i}`, o.containers))
    await until(async () => (await runningTotal(runtime)) === o.scalePods * o.containers, 600_000, `${o.scalePods} pods running`)
    const allAtOnceMs = performance.now() - t
    log(`edged: ${o.scalePods} pods written at once → all running in ${round(allAtOnceMs, 0)} ms`)
    const ids = await runningIds(runtime)

    await sleep(SETTLE_MS)
    const withPods = { rssMiB: rssMiB(node.pid), anonMiB: anonMiB(node.pid) }

    await node.kill9()
    t = performance.now()
    node = await startEdge(edgeDir, edgeConfig(containerd, manifests))
    nodes.push(node)
    const snapshotDir = join(edgeDir, 'data', 'edged')
    await until(async () => {
      const snap = await readSnapshot(snapshotDir)
      const running = (snap?.pods ?? []).flatMap((p) => p.status.containerStatuses.filter((c) => c.state.running !== undefined).map((c) => (c.containerID ?? '').replace('containerd://', '')))
      return running.length === ids.size && running.every((id) => ids.has(id))
    }, 300_000, 'the snapshot showing every pod adopted')
    const adoptAfterKill9Ms = performance.now() - t
    const containersStartedAgain = node.output().split('\n').filter((l) => l.includes('"msg":"container started"')).length
    log(`edged: adopted ${o.scalePods} pods ${round(adoptAfterKill9Ms, 0)} ms after tern edge restarted (${containersStartedAgain} containers started again)`)

    const outputBefore = node.output().split('"msg":"container runtime ready"').length
    const down = performance.now()
    await containerd.kill9()
    await node.waitForLine((l) => l.includes('EDGED_RUNTIME_UNAVAILABLE'), 120_000)
    t = performance.now()
    await containerd.restart()
    const containerdBootMs = performance.now() - t
    await until(() => Promise.resolve(node.output().split('"msg":"container runtime ready"').length > outputBefore), 300_000, 'tern edge finding containerd ready again')
    await until(async () => (await runningTotal(runtime)) === o.scalePods * o.containers, 300_000, 'every container running')
    const edgedBackAfterContainerdMs = performance.now() - t
    const containerdDownMs = t - down
    log(`edged: containerd back in ${round(containerdBootMs, 0)} ms, tern edge synced with it ${round(edgedBackAfterContainerdMs, 0)} ms after its restart`)

    const plain = await startEdge(join(scratch.path, 'plain'), {})
    nodes.push(plain)
    await sleep(SETTLE_MS)
    const withoutEdged = { rssMiB: rssMiB(plain.pid), anonMiB: anonMiB(plain.pid) }
    log(`edged: tern edge RSS ${withoutEdged.rssMiB} MiB without edged, ${noPods.rssMiB} MiB with it and no pods, ${withPods.rssMiB} MiB with ${o.scalePods} pods`)

    return {
      options: o,
      loadAverage: { before: round(before, 2), after: round(loadavg()[0] ?? 0, 2) },
      manifestToRunningMs: latency,
      criFloorMs: floorMs,
      p50Ratio: round(latency.p50 / floorMs.p50, 2),
      allAtOnceMs: round(allAtOnceMs, 0),
      adoptAfterKill9Ms: round(adoptAfterKill9Ms, 0),
      containersStartedAgain,
      containerdBootMs: round(containerdBootMs, 0),
      edgedBackAfterContainerdMs: round(edgedBackAfterContainerdMs, 0),
      containerdDownMs: round(containerdDownMs, 0),
      memory: {
        withoutEdged,
        noPods,
        withPods,
        addedRssMiB: round(withPods.rssMiB - withoutEdged.rssMiB, 1),
        addedAnonMiB: round(withPods.anonMiB - withoutEdged.anonMiB, 1),
      },
    }
  } finally {
    for (const n of nodes) await n.stop(10_000)
    runtime.close()
    await containerd.stop()
    await scratch.remove()
  }
}

const NODE = 'bench-edge'

/**
 * Containers that sleep in one long `sleep` (the shell waits on it, so SIGTERM still ends it at
 * once): the tests' loop of short sleeps, 100 containers forking 5 times a second, would itself
 * load the machine the figures are read on.
 */
const IDLE = 'sleep 2147483647 & wait'

function benchPod(name: string, containers: number): Record<string, unknown> {
  return busyboxPod(name, Object.fromEntries(Array.from({ length: containers }, (_, i) => [`c${i}`, IDLE])))
}

function edgeConfig(containerd: Containerd, manifests: string): Record<string, unknown> {
  return { edged: { runtimeEndpoint: containerd.endpoint, podManifestsDir: manifests } }
}

/** `tern edge` (built) on ports from the OS (broker and metrics), log level info as shipped; resolves when it is ready. */
async function startEdge(dir: string, extra: Record<string, unknown>): Promise<Child> {
  await mkdir(dir, { recursive: true })
  const config = join(dir, 'tern.yaml')
  const port = await freePort()
  await writeFile(config, stringify({ dataDir: join(dir, 'data'), node: { name: NODE }, mqtt: { listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port }] }, http: { listen: '127.0.0.1:0' }, ...extra }))
  const child = startOwned(process.execPath, [TERN_BIN, 'edge', '--config', config])
  try {
    await child.waitForLine((l) => l.includes('"msg":"edge node ready"'), 60_000)
  } catch (err) {
    await child.stop()
    throw err
  }
  return child
}

const selector = { labelSelector: { [MANAGED_BY]: MANAGED_BY_EDGED } }

async function runningOf(runtime: ContainerRuntime, podName: string): Promise<number> {
  return (await runtime.listContainers({ labelSelector: { [POD_NAME]: podName }, state: 'CONTAINER_RUNNING' })).length
}

async function runningTotal(runtime: ContainerRuntime): Promise<number> {
  return (await runtime.listContainers({ ...selector, state: 'CONTAINER_RUNNING' })).length
}

async function runningIds(runtime: ContainerRuntime): Promise<Set<string>> {
  return new Set((await runtime.listContainers({ ...selector, state: 'CONTAINER_RUNNING' })).map((c) => c.id))
}

async function managedContainers(runtime: ContainerRuntime): Promise<number> {
  return (await runtime.listContainers(selector)).length + (await runtime.listPodSandbox(selector)).length
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`edged bench: timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(POLL_MS)
  }
}
