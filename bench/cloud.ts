/**
 * Cloud side at scale (DESIGN.md §8: 1,000 edge nodes × 100 devices on one `tern cloud`) and the
 * desired-value latency kubectl patch → device register (target p50 ≤ 200 ms).
 *
 * Scale: the API emulator (in this process) holds `nodes × devices` Devices; `tern cloud` lists and
 * watches them; a simulator process (cloud-edges.ts) dials one EdgeHub per node over TLS, as
 * deployed, and acknowledges each node's resync. Then, for `duration` s after `warmup` s, the
 * simulated edges report twin values as the edge outbox does (one report per device in flight;
 * newer values coalesce into the next report) at an offered total rate. Measured: report acks/s,
 * status PATCHes/s at the emulator (after the cloud's per-device coalescing, capped by
 * `status.qps`, which each result states), re-sends, tern cloud's RSS and CPU, errors.
 * One scale run per `status.qps` value given, each with a fresh `tern cloud` and fresh sessions.
 *
 * Desired latency: real processes (cloud-latency.ts).
 */
import { performance } from 'node:perf_hooks'
import { readFile, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { startKubeEmulator, type KubeEmulator } from '../test/support/kube/server.js'
import { makeTestPki, type TestPki } from '../test/support/pki.js'
import { scratchDir } from '../test/support/resources.js'
import { runDesiredLatency, type DesiredLatencyResult } from './cloud-latency.js'
import { forkEdgeSimulator } from './cloud-edges.js'
import type { SimCounters } from './cloud-sim.js'
import { countRequests, installCrds, isStatusPatch, nodeName, openFilesLimit, populate, sampleRss, sleep, startCloud, warnings, within, type CloudProcess } from './cloud-world.js'
import { round, type LatencyResult } from './phases.js'
import { cpuSeconds, rssMiB } from './servers.js'

export interface CloudBenchOptions {
  nodes: number
  /** devices per node */
  devices: number
  namespaces: number
  /** offered twin updates per second over all devices; 0 = every device always has a newer value */
  rate: number
  warmup: number
  duration: number
  /** tern cloud `status.qps` values, one scale run each */
  qps: number[]
  burst: number
  /** the simulated edges' re-send interval (edge `cloud.resendMs`) */
  resendMs: number
  /** CloudHub over TLS (as deployed) or plain ws */
  tls: boolean
  /** kubectl patch → register repetitions (0: skip the latency part) */
  latencyRuns: number
  /** skip the scale part */
  skipScale: boolean
}

export const CLOUD_DEFAULTS: CloudBenchOptions = {
  nodes: 1000,
  devices: 100,
  namespaces: 10,
  rate: 20_000,
  warmup: 5,
  duration: 30,
  qps: [50],
  burst: 100,
  resendMs: 5000,
  tls: true,
  latencyRuns: 30,
  skipScale: false,
}

const SECRET = 'cloud-bench-shared-secret-0123456789'

export function cloudEstimateSeconds(o: CloudBenchOptions): number {
  const devices = o.nodes * o.devices
  const scale = o.skipScale ? 0 : devices / 10_000 + o.qps.length * (devices / 2000 + o.nodes / 20 + o.warmup + o.duration + 20)
  return scale + (o.latencyRuns > 0 ? 30 + o.latencyRuns * 1.5 : 0)
}

export interface ScaleRun {
  qps: number
  burst: number
  /** 1-minute load average before the run and after it (other work on the machine skews the figures) */
  loadAverage: { before: number; after: number }
  cloudReadyMs: number
  connect: { allResyncedMs: number; nodes: number; devices: number; sessionsOpened: number; sessionsLost: number; cloudRssMiB: number; cloudCpuSeconds: number }
  sustained: {
    /** offered twin updates/s (0: saturating, every device always dirty) */
    offeredPerSec: number
    seconds: number
    updatesPerSec: number
    reportsSentPerSec: number
    acksPerSec: number
    statusPatchesPerSec: number
    /** statusPatchesPerSec / status.qps: 1 = the write budget, not tern cloud, limited the patches */
    statusBudgetUsed: number
    /** status PATCHes/s the emulator answered with an error */
    statusPatchErrorsPerSec: number
    /** twin updates at the edges per status PATCH (edge outbox + cloud coalescing together) */
    updatesPerPatch: number
    /** reports acknowledged per status PATCH (cloud coalescing alone) */
    acksPerPatch: number
    resendsPerSec: number
    reportToAnswerMs: LatencyResult['latencyMs'] & { samples: number }
    refused: Record<string, number>
    linkFailures: number
    sessionsLost: number
    reportsInFlightAtEnd: number
    /** emulator: this process (the API emulator, and the bench's own small share) */
    cpuCores: { cloud: number; simulator: number; emulator: number }
    cloudRssMiB: { end: number; peak: number }
    /** status PATCHes in each whole 5 s of the measured interval (stalls show here) */
    statusPatchesPer5s: number[]
  }
  /** tern cloud's warn/error log records during the run, by code and message */
  cloudWarnings: Record<string, number>
}

export interface CloudBenchResult {
  bench: 'cloud'
  scale?: { nodes: number; devicesPerNode: number; devices: number; namespaces: number; transport: 'wss' | 'ws'; populateSeconds: number; runs: ScaleRun[] }
  desiredLatency?: DesiredLatencyResult
}

export async function runCloudBench(o: CloudBenchOptions, log: (line: string) => void): Promise<CloudBenchResult> {
  const result: CloudBenchResult = { bench: 'cloud' }
  if (!o.skipScale) result.scale = await runScale(o, log)
  if (o.latencyRuns > 0) {
    result.desiredLatency = await runDesiredLatency({ runs: o.latencyRuns }, log)
    process.stdout.write(`${JSON.stringify({ bench: 'cloud', part: 'desired-latency', ...result.desiredLatency })}\n`)
  }
  return result
}

async function runScale(o: CloudBenchOptions, log: (line: string) => void): Promise<NonNullable<CloudBenchResult['scale']>> {
  // Each session is a socket in tern cloud and one in the simulator; children inherit this limit.
  const files = openFilesLimit()
  if (files < o.nodes + 256) throw new Error(`open files limit ${files} is too low for ${o.nodes} sessions: raise it (ulimit -n ${o.nodes + 1024}) and run again`)
  const dir = await scratchDir('tern-bench-cloud-')
  const kube = await startKubeEmulator({ historySize: 10_000 })
  try {
    const types = installCrds(kube.api)
    const devices = o.nodes * o.devices
    log(`cloud: creating ${devices} devices on ${o.nodes} nodes in ${o.namespaces} namespaces`)
    const t0 = performance.now()
    populate(kube.api, types, { nodes: o.nodes, devicesPerNode: o.devices, namespaces: o.namespaces })
    const populateSeconds = round((performance.now() - t0) / 1000, 1)
    log(`cloud: ${devices} devices created in ${populateSeconds} s`)
    const kubeconfig = await kube.writeKubeconfig(join(dir.path, 'kubeconfig'))
    const secretFile = join(dir.path, 'secret')
    await writeFile(secretFile, `${SECRET}\n`)
    const pki = o.tls ? await makeTestPki(dir.path) : undefined
    const runs: ScaleRun[] = []
    for (const qps of o.qps) {
      const run = await scaleRun(o, qps, { dir: dir.path, kube, kubeconfig, secretFile, pki }, log)
      process.stdout.write(`${JSON.stringify({ bench: 'cloud', part: 'scale', nodes: o.nodes, devicesPerNode: o.devices, transport: o.tls ? 'wss' : 'ws', ...run })}\n`)
      runs.push(run)
    }
    return { nodes: o.nodes, devicesPerNode: o.devices, devices, namespaces: o.namespaces, transport: o.tls ? 'wss' : 'ws', populateSeconds, runs }
  } finally {
    await kube.stop()
    await dir.remove()
  }
}

interface World {
  dir: string
  kube: KubeEmulator
  kubeconfig: string
  secretFile: string
  pki: TestPki | undefined
}

async function scaleRun(o: CloudBenchOptions, qps: number, w: World, log: (line: string) => void): Promise<ScaleRun> {
  const devices = o.nodes * o.devices
  const loadBefore = round(loadavg()[0] ?? NaN, 2)
  log(`cloud: starting tern cloud (status.qps ${qps}, burst ${o.burst}) on ${devices} devices`)
  const cloud = await startCloud(
    w.dir,
    {
      hub: { host: '127.0.0.1', port: 0, ...(w.pki === undefined ? {} : { tls: { cert: w.pki.server.cert, key: w.pki.server.key } }), sessionLimit: Math.max(1000, o.nodes) },
      auth: { mode: 'shared-secret', secretFile: w.secretFile },
      kube: { kubeconfig: w.kubeconfig },
      status: { qps, burst: o.burst },
      log: { level: 'info' },
    },
    60_000 + devices,
  )
  const sim = forkEdgeSimulator()
  const rss = sampleRss(cloud)
  try {
    log(`cloud: ready in ${Math.round(cloud.readyMs)} ms (RSS ${rssMiB(cloud.pid)} MiB); connecting ${o.nodes} simulated edge nodes`)
    const c0 = performance.now()
    await sim.start({
      url: `${w.pki === undefined ? 'ws' : 'wss'}://127.0.0.1:${cloud.hubPort}`,
      ...(w.pki === undefined ? {} : { ca: await readFile(w.pki.ca, 'utf8') }),
      secret: SECRET,
      nodes: Array.from({ length: o.nodes }, (_, n) => nodeName(n)),
      resendMs: o.resendMs,
      window: 256,
    })
    await within('every node resynced', 120_000 + devices, sim.resynced())
    const allResyncedMs = performance.now() - c0
    const connected = await sim.counters()
    if (connected.devices !== devices) throw new Error(`the resyncs carried ${connected.devices} devices, not ${devices}`)
    const connect = {
      allResyncedMs: Math.round(allResyncedMs),
      nodes: connected.resynced,
      devices: connected.devices,
      sessionsOpened: connected.sessionsOpened,
      sessionsLost: connected.sessionsLost,
      cloudRssMiB: rssMiB(cloud.pid),
      cloudCpuSeconds: round(cpuSeconds(cloud.pid), 1),
    }
    log(`cloud: ${o.nodes} nodes resynced (${devices} devices) in ${connect.allResyncedMs} ms; cloud RSS ${connect.cloudRssMiB} MiB`)

    log(`cloud: twin updates at ${o.rate === 0 ? 'saturation' : `${o.rate}/s`} for ${o.duration} s after ${o.warmup} s`)
    await sim.load(o.rate)
    await sleep(o.warmup * 1000)
    const a = snapshot(cloud, sim.pid, await sim.counters())
    rss.reset()
    await sim.record(true)
    await sleep(o.duration * 1000)
    const b = snapshot(cloud, sim.pid, await sim.counters())
    await sim.record(false)
    await sim.load(-1)
    const latency = await sim.latency()
    const sustained = summarize(o, qps, w.kube, a, b, latency, { end: rssMiB(cloud.pid), peak: rss.peak() })
    log(
      `cloud: ${sustained.updatesPerSec} updates/s → ${sustained.reportsSentPerSec} reports/s, ${sustained.acksPerSec} acks/s, ` +
        `${sustained.statusPatchesPerSec} status PATCH/s (qps ${qps}), ${sustained.resendsPerSec} re-sends/s; cloud ${sustained.cpuCores.cloud} cores, RSS ${sustained.cloudRssMiB.peak} MiB peak`,
    )
    return { qps, burst: o.burst, loadAverage: { before: loadBefore, after: round(loadavg()[0] ?? NaN, 2) }, cloudReadyMs: Math.round(cloud.readyMs), connect, sustained, cloudWarnings: warnings(cloud.child.output()) }
  } finally {
    rss.stop()
    await sim.stop()
    await cloud.stop()
  }
}

interface Snap {
  counters: SimCounters
  at: number
  cloudCpu: number
  simCpu: number
  ownCpu: number
}

function snapshot(cloud: CloudProcess, simPid: number, counters: SimCounters): Snap {
  const own = process.cpuUsage()
  return { counters, at: performance.now(), cloudCpu: cpuSeconds(cloud.pid), simCpu: cpuSeconds(simPid), ownCpu: (own.user + own.system) / 1e6 }
}

function summarize(o: CloudBenchOptions, qps: number, kube: KubeEmulator, a: Snap, b: Snap, latency: ScaleRun['sustained']['reportToAnswerMs'], cloudRssMiB: { end: number; peak: number }): ScaleRun['sustained'] {
  const secs = (b.at - a.at) / 1000
  const per = (x: number): number => Math.round(x / secs)
  const d = (k: 'updates' | 'sent' | 'acked' | 'resends' | 'linkFailures' | 'sessionsLost'): number => b.counters[k] - a.counters[k]
  const patches = countRequests(kube, a.counters.at, b.counters.at, (m, u, s) => isStatusPatch(m, u) && s < 300)
  const patchErrors = countRequests(kube, a.counters.at, b.counters.at, (m, u, s) => isStatusPatch(m, u) && s >= 300)
  const refused: Record<string, number> = {}
  for (const [code, n] of Object.entries(b.counters.refused)) if (n - (a.counters.refused[code] ?? 0) > 0) refused[code] = n - (a.counters.refused[code] ?? 0)
  return {
    offeredPerSec: o.rate,
    seconds: round(secs, 1),
    updatesPerSec: per(d('updates')),
    reportsSentPerSec: per(d('sent')),
    acksPerSec: per(d('acked')),
    statusPatchesPerSec: round(patches / secs, 1),
    statusBudgetUsed: round(patches / secs / qps, 2),
    statusPatchErrorsPerSec: round(patchErrors / secs, 1),
    updatesPerPatch: patches === 0 ? NaN : round(d('updates') / patches, 2),
    acksPerPatch: patches === 0 ? NaN : round(d('acked') / patches, 2),
    resendsPerSec: per(d('resends')),
    reportToAnswerMs: latency,
    refused,
    linkFailures: d('linkFailures'),
    sessionsLost: d('sessionsLost'),
    reportsInFlightAtEnd: b.counters.inFlight,
    cpuCores: { cloud: round((b.cloudCpu - a.cloudCpu) / secs, 2), simulator: round((b.simCpu - a.simCpu) / secs, 2), emulator: round((b.ownCpu - a.ownCpu) / secs, 2) },
    cloudRssMiB,
    statusPatchesPer5s: Array.from({ length: Math.max(1, Math.floor(secs / 5)) }, (_, i) => {
      const from = a.counters.at + i * 5000
      return countRequests(kube, from, from + 5000, (m, u, s) => isStatusPatch(m, u) && s < 300)
    }),
  }
}
