/**
 * The two measurements of one scenario against one running broker: throughput (saturate, count
 * deliveries after a warm-up) and latency (a fixed publish rate, publish→receive per message).
 * Each phase opens its own connections and closes them, so phases cannot disturb each other.
 */
import { performance } from 'node:perf_hooks'
import { Load, type LoadOptions } from './load.js'
import { cpuSeconds, rssMiB } from './servers.js'

export type PhaseLoad = Omit<LoadOptions, 'port' | 'tag'>

export interface CpuUse {
  /** Cores busy on average during the measured interval (1 = one core fully used). */
  broker: number
  generator: number
}

export interface ThroughputResult {
  /** Messages received by all subscribers together, per second. */
  msgPerSec: number
  /** The same during the warm-up (tern sizes its young generation to the load only after 3 s busy, cli/heap.ts). */
  warmupMsgPerSec: number
  publishPerSec: number
  /** QoS 1: PUBACKs the publishers received, per second. */
  ackPerSec: number
  /** Deliveries that never arrived (sent × subscribers − received, after draining). */
  lost: number
  cpu: CpuUse
  /** Broker CPU time per delivered message, µs: steadier than msg/s on a busy machine. */
  brokerCpuUsPerMsg: number
  brokerRssMiB: number
}

export interface LatencyResult {
  /** Target and achieved deliveries per second. */
  targetMsgPerSec: number
  msgPerSec: number
  samples: number
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
  /** Most messages the sender was ever behind its schedule (0 = it kept the rate exactly). */
  senderLagMsgs: number
  lost: number
  cpu: CpuUse
}

export interface Snapshot {
  at: number
  received: number
  sent: number
  acked: number
  generatorCpu: number
  brokerCpu: number
}

let phaseCounter = 0
const nextTag = (): string => (++phaseCounter).toString(36).padStart(3, '0')

function snapshot(load: Load, brokerPid: number): Snapshot {
  const cpu = process.cpuUsage()
  return { at: performance.now(), ...load.counters, generatorCpu: (cpu.user + cpu.system) / 1e6, brokerCpu: cpuSeconds(brokerPid) }
}

export function cpuBetween(a: Snapshot, b: Snapshot): CpuUse {
  const secs = (b.at - a.at) / 1000
  return { broker: round((b.brokerCpu - a.brokerCpu) / secs, 2), generator: round((b.generatorCpu - a.generatorCpu) / secs, 2) }
}

/** Resolves after `warmupMs`+`durationMs`, with snapshots taken at both ends of the measured part. */
export function measure(load: Load, pid: number, warmupMs: number, durationMs: number): { done: Promise<[Snapshot, Snapshot]>; stop: Promise<void> } {
  let resolveStop: () => void = () => undefined
  const stop = new Promise<void>((resolve) => (resolveStop = resolve))
  const done = new Promise<[Snapshot, Snapshot]>((resolve) => {
    setTimeout(() => {
      const a = snapshot(load, pid)
      setTimeout(() => {
        resolve([a, snapshot(load, pid)])
        resolveStop()
      }, durationMs)
    }, warmupMs)
  })
  return { done, stop }
}

export async function throughputPhase(port: number, pid: number, opts: PhaseLoad, warmupMs: number, durationMs: number): Promise<ThroughputResult> {
  const load = await Load.open({ ...opts, port, tag: nextTag() })
  try {
    const start = snapshot(load, pid)
    const { done, stop } = measure(load, pid, warmupMs, durationMs)
    await load.saturate(stop)
    const [a, b] = await done
    const brokerRss = rssMiB(pid)
    await load.drain()
    const secs = (b.at - a.at) / 1000
    return {
      msgPerSec: Math.round((b.received - a.received) / secs),
      warmupMsgPerSec: Math.round((a.received - start.received) / ((a.at - start.at) / 1000)),
      publishPerSec: Math.round((b.sent - a.sent) / secs),
      ackPerSec: Math.round((b.acked - a.acked) / secs),
      lost: Math.max(0, load.counters.sent * load.fanout - load.counters.received),
      cpu: cpuBetween(a, b),
      brokerCpuUsPerMsg: round(((b.brokerCpu - a.brokerCpu) * 1e6) / Math.max(1, b.received - a.received), 2),
      brokerRssMiB: brokerRss,
    }
  } finally {
    await load.close()
  }
}

/** `msgPerSec` counts deliveries (publishes × subscribers), like the throughput. */
export async function latencyPhase(
  port: number,
  pid: number,
  opts: PhaseLoad,
  msgPerSec: number,
  warmupMs: number,
  durationMs: number,
): Promise<LatencyResult> {
  const load = await Load.open({ ...opts, port, tag: nextTag() })
  try {
    const start = performance.now()
    load.recordLatency(start + warmupMs, start + warmupMs + durationMs, Math.ceil((msgPerSec * (durationMs + 1000)) / 1000) + 10_000)
    const { done, stop } = measure(load, pid, warmupMs, durationMs)
    const lag = await load.paced(msgPerSec / load.fanout, stop)
    const [a, b] = await done
    await load.drain()
    const { samples, overflow } = load.latencySamples()
    if (overflow > 0) throw new Error(`latency sample buffer overflowed by ${overflow}`)
    return {
      targetMsgPerSec: Math.round(msgPerSec),
      msgPerSec: Math.round((b.received - a.received) / ((b.at - a.at) / 1000)),
      samples: samples.length,
      latencyMs: percentiles(samples),
      senderLagMsgs: lag,
      lost: Math.max(0, load.counters.sent * load.fanout - load.counters.received),
      cpu: cpuBetween(a, b),
    }
  } finally {
    await load.close()
  }
}

export function percentiles(samples: Float64Array): LatencyResult['latencyMs'] {
  const sorted = Float64Array.from(samples).sort()
  const n = sorted.length
  const at = (q: number): number => (n === 0 ? NaN : round(sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] as number, 3))
  let sum = 0
  for (const v of sorted) sum += v
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1), mean: n === 0 ? NaN : round(sum / n, 3) }
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
