/**
 * What the metrics listener costs the twin's hot path (docs/observability.md): `tern edge` with N
 * devices, the twin bench's load (QoS 1 `twin/update`, each device's next update after its result)
 * measured in alternating runs with `http` on (scraped every 5 s, as a busy Prometheus would) and
 * `http: false`, the order swapped every round so drift in the machine's load hits both alike.
 * Prints each run and the median throughput of each side; cost = 1 - on / off. On a loaded machine
 * throughput follows the load, so the tern process's CPU time per update is reported too: the cost
 * the metrics add to each update, whatever else runs. Where other work's load drifts within the
 * bench, the two runs of a round (one right after the other) see closer loads than the medians of all
 * rounds do: the median over rounds of each round's own cost is reported beside them (`paired`).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { stringify } from 'yaml'
import { freePort, scratchDir } from '../test/support/resources.js'
import { cpuSeconds } from './servers.js'
import { driver, manifests, startNode } from './twin.js'

export interface MetricsCostOptions {
  devices: number
  /** rounds of one run with metrics and one without */
  rounds: number
  warmup: number
  duration: number
}

export const METRICS_COST_DEFAULTS: MetricsCostOptions = { devices: 1000, rounds: 5, warmup: 3, duration: 10 }

export function metricsCostEstimateSeconds(o: MetricsCostOptions): number {
  return o.rounds * 2 * (o.warmup + o.duration + 5)
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function oneRun(dir: string, devices: number, http: boolean, o: MetricsCostOptions): Promise<{ throughput: number; cpuMicrosPerUpdate: number; scrapes: number }> {
  const port = await freePort()
  const config = { node: { name: 'bench' }, dataDir: join(dir, http ? 'data-on' : 'data-off'), twin: { manifestsDir: join(dir, 'devices') }, mqtt: { listeners: [{ port }] }, http: http ? { listen: '127.0.0.1:0' } : false }
  await writeFile(join(dir, 'tern.yaml'), stringify(config))
  const node = await startNode(dir, undefined)
  const session = await driver(port, devices)
  let scrapes = 0
  let scraping: NodeJS.Timeout | undefined
  try {
    if (http) {
      const httpPort = node.httpPort
      scraping = setInterval(() => {
        void fetch(`http://127.0.0.1:${httpPort}/metrics`).then(async (res) => {
          await res.text()
          if (res.ok) scrapes++
        })
      }, 5000)
    }
    const d = session.driver
    d.run(undefined)
    await sleep(o.warmup * 1000)
    const r0 = d.results()
    const c0 = cpuSeconds(node.pid)
    const t0 = performance.now()
    await sleep(o.duration * 1000)
    const updates = d.results() - r0
    const throughput = updates / ((performance.now() - t0) / 1000)
    const cpuMicrosPerUpdate = ((cpuSeconds(node.pid) - c0) * 1e6) / Math.max(1, updates)
    d.stop()
    return { throughput: Math.round(throughput), cpuMicrosPerUpdate: Math.round(cpuMicrosPerUpdate * 10) / 10, scrapes }
  } finally {
    clearInterval(scraping)
    await session.close()
    await node.stop()
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

const percent = (x: number): number => Math.round(x * 1000) / 10

export async function runMetricsCostBench(o: MetricsCostOptions, log: (line: string) => void): Promise<unknown> {
  const loadBefore = loadavg()[0] ?? 0
  const dir = await scratchDir('tern-bench-metrics-')
  try {
    await mkdir(join(dir.path, 'devices'))
    await writeFile(join(dir.path, 'devices', 'meters.yaml'), manifests(o.devices))
    const on: number[] = []
    const off: number[] = []
    const cpuOn: number[] = []
    const cpuOff: number[] = []
    const runs: Array<{ round: number; metrics: boolean; throughput: number; scrapes: number }> = []
    for (let round = 1; round <= o.rounds; round++) {
      for (const metrics of round % 2 === 1 ? [true, false] : [false, true]) {
        const r = await oneRun(dir.path, o.devices, metrics, o)
        ;(metrics ? on : off).push(r.throughput)
        ;(metrics ? cpuOn : cpuOff).push(r.cpuMicrosPerUpdate)
        runs.push({ round, metrics, ...r })
        log(`metrics: round ${round} ${metrics ? 'on ' : 'off'} ${r.throughput} updates/s, ${r.cpuMicrosPerUpdate} µs CPU per update${metrics ? ` (${r.scrapes} scrapes)` : ''}`)
      }
    }
    const rounds = on.map((_, i) => i)
    const paired = {
      costPercent: percent(median(rounds.map((i) => 1 - (on[i] ?? 0) / (off[i] ?? 1)))),
      cpuCostPercent: percent(median(rounds.map((i) => (cpuOn[i] ?? 0) / (cpuOff[i] ?? 1) - 1))),
    }
    const loadAverage = { before: Math.round(loadBefore * 100) / 100, after: Math.round((loadavg()[0] ?? 0) * 100) / 100 }
    const result = { devices: o.devices, rounds: o.rounds, duration: o.duration, medianOn: median(on), medianOff: median(off), costPercent: percent(1 - median(on) / median(off)), medianCpuMicrosOn: Math.round(median(cpuOn) * 10) / 10, medianCpuMicrosOff: Math.round(median(cpuOff) * 10) / 10, cpuCostPercent: percent(median(cpuOn) / median(cpuOff) - 1), paired, loadAverage, runs }
    process.stdout.write(`${JSON.stringify({ bench: 'metrics', ...result, runs: undefined })}\n`)
    return result
  } finally {
    await dir.remove()
  }
}
