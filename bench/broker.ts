/**
 * DESIGN.md §8: the embedded broker against Mosquitto 2.0, same load generator, same run; target
 * ≥ 0.8 × Mosquitto's msg/s at QoS 0 and QoS 1.
 *
 * Both brokers run as their own processes for the whole run; each case (fan-in / fan-out × QoS)
 * measures throughput on both, then latency on both at one rate: `rateFraction` of the lower of
 * the two throughputs. The broker that goes first alternates from case to case, so a slow drift in
 * machine load does not always favour the same one. Prints one JSON line per case and broker,
 * then a summary line; writes everything to bench/results/broker-latest.json.
 */
import { cpus, loadavg } from 'node:os'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { generatorCeiling, type Ceiling } from './calibrate.js'
import { latencyPhase, round, throughputPhase, type LatencyResult, type PhaseLoad, type ThroughputResult } from './phases.js'
import type { Scenario } from './load.js'
import { mosquittoVersion, startMosquitto, startTern, type BrokerName, type BrokerProcess } from './servers.js'
import { slowConsumerCase, type SlowConsumerResult } from './slow-consumer.js'
import { scratchDir } from '../test/support/resources.js'

export interface BrokerBenchOptions {
  /** Seconds of measured throughput per case and broker (after `warmup`). */
  duration: number
  /**
   * Seconds of unmeasured load first. Long enough for tern's heap policy to size its young
   * generation to the load (allowed after 3 s at ≥ 75 % busy, cli/heap.ts): the measured part is
   * the sustained rate. The warm-up's own rate is reported beside it (`warmupMsgPerSec`).
   */
  warmup: number
  /** Seconds of recorded latency per case and broker (after 1 s unrecorded). */
  latencyDuration: number
  /** Publishers in fan-in, subscribers in fan-out. */
  clients: number
  payloadBytes: number
  window: number
  inflight: number
  batch: number
  rateFraction: number
  brokers: BrokerName[]
  cases: Array<{ scenario: Scenario; qos: 0 | 1 }>
  /** Deliveries/s of the slow-consumer case (fan-in QoS 1; bench/slow-consumer.ts); 0 = skip it. */
  slowConsumerRate: number
  /** Measure the generator's own ceiling against a null broker first. */
  calibrate: boolean
  /** Directory for a V8 CPU profile of the tern process, if wanted. */
  cpuProfDir?: string
  /**
   * mosquitto.conf lines beyond listener, logging and `persistence false`. Default:
   * `max_inflight_messages 0`, see DEFAULTS.
   */
  mosquittoConf: string[]
  out: string
}

export const DEFAULTS: BrokerBenchOptions = {
  duration: 8,
  warmup: 5,
  latencyDuration: 5,
  clients: 20,
  payloadBytes: 64,
  window: 1000,
  inflight: 32,
  batch: 32,
  rateFraction: 0.5,
  brokers: ['tern', 'mosquitto'],
  cases: [
    { scenario: 'fan-in', qos: 0 },
    { scenario: 'fan-in', qos: 1 },
    { scenario: 'fan-out', qos: 0 },
    { scenario: 'fan-out', qos: 1 },
  ],
  slowConsumerRate: 5000,
  calibrate: true,
  // No limit on unacknowledged QoS 1 messages per client, as in aedes. At Mosquitto's default of
  // 20, QoS 1 to one subscriber is bound by round trips rather than CPU, and 2.0.11 holds the
  // messages queued behind that limit until new traffic arrives, which stalls a closed-loop load
  // (measured: the last ~window messages of every QoS 1 fan-in phase never came).
  // The per-client queue limits are tern's defaults (Mosquitto's too), written out for the
  // slow-consumer case.
  mosquittoConf: ['max_inflight_messages 0', 'max_queued_messages 1000', 'max_queued_bytes 0'],
  out: resolve(import.meta.dirname, 'results/broker-latest.json'),
}

export interface CaseResult extends Omit<ThroughputResult, 'cpu'> {
  bench: 'broker'
  broker: BrokerName
  scenario: Scenario
  qos: 0 | 1
  publishers: number
  subscribers: number
  throughputCpu: ThroughputResult['cpu']
  latencyMs: LatencyResult['latencyMs']
  latency: Omit<LatencyResult, 'latencyMs'>
}

export interface Ratio {
  scenario: Scenario
  qos: 0 | 1
  ternMsgPerSec: number
  mosquittoMsgPerSec: number
  ratio: number
  target: 0.8
  meetsTarget: boolean
  /** Mosquitto's broker CPU per message over tern's: the ratio if both were CPU-bound. */
  cpuEfficiencyRatio: number
  /** The ratio over the warm-up (tern's young generation still small, cli/heap.ts). */
  warmupRatio: number
}

/** Rough wall time of a run with these options, seconds (for the caller's watchdog). */
export function estimateSeconds(o: BrokerBenchOptions): number {
  const perBroker = o.warmup + o.duration + 1 + (1 + o.latencyDuration + 1)
  const slowConsumer = o.slowConsumerRate > 0 ? o.brokers.length * (5 + 2 * (2 + o.latencyDuration)) : 0
  return 5 + (o.calibrate ? 4 * (2 + Math.min(3, o.duration / 2)) : 0) + o.cases.length * o.brokers.length * perBroker + slowConsumer
}

export async function runBrokerBench(o: BrokerBenchOptions, log: (line: string) => void): Promise<unknown> {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    mosquitto: mosquittoVersion(),
    loadAverageAtStart: loadavg().map((x) => round(x, 2)),
  }
  const setup = {
    tern: 'tern edge (dist/), embedded broker on 127.0.0.1, LevelDB in a scratch dir, log level info',
    mosquitto: ['persistence false', ...o.mosquittoConf.filter((l) => l !== '')],
    clients: 'raw MQTT 3.1.1 over TCP from one generator process, clean sessions, keep-alive 0',
  }
  const ceilings: Ceiling[] = []
  if (o.calibrate) {
    for (const qos of [0, 1] as const) {
      log(`generator ceiling, QoS ${qos} (null broker)...`)
      ceilings.push(await generatorCeiling(phaseLoad(o, 'fan-in', qos), qos, 1000, Math.min(3000, (o.duration * 1000) / 2)))
    }
  }

  const dir = await scratchDir('tern-bench-')
  const brokers: BrokerProcess[] = []
  const results: CaseResult[] = []
  const slowConsumer: SlowConsumerResult[] = []
  try {
    for (const name of o.brokers) {
      const path = resolve(dir.path, name)
      await mkdir(path)
      brokers.push(name === 'tern' ? await startTern(path, o.cpuProfDir === undefined ? {} : { cpuProfDir: o.cpuProfDir }) : await startMosquitto(path, o.mosquittoConf))
    }
    for (const [i, c] of o.cases.entries()) {
      // Alternate who goes first, so a drift in machine load does not always favour the same one.
      const order = i % 2 === 0 ? brokers : [...brokers].reverse()
      for (const result of await runCase(o, c, order, log)) {
        results.push(result)
        console.log(JSON.stringify(result))
      }
    }
    if (o.slowConsumerRate > 0) {
      // After the other cases; the broker that went first in the last case goes second here.
      const order = o.cases.length % 2 === 0 ? brokers : [...brokers].reverse()
      for (const b of order) {
        log(`slow consumer: ${b.name}, fan-in QoS 1 at ${o.slowConsumerRate} msg/s, unloaded and with one subscriber stalled...`)
        const result = await slowConsumerCase(b, phaseLoad(o, 'fan-in', 1), o.slowConsumerRate, 1000, o.latencyDuration * 1000)
        slowConsumer.push(result)
        console.log(JSON.stringify(result))
      }
    }
  } finally {
    for (const b of brokers) await b.stop()
    await dir.remove()
  }

  const ratios = ratiosOf(results)
  const slowConsumerSummary = slowConsumer.map(({ broker, unloaded, stalled, p99Ratio, meetsTarget }) => ({ broker, unloadedP99Ms: unloaded.p99, stalledP99Ms: stalled.p99, p99Ratio, target: 2, meetsTarget }))
  const summary = { bench: 'broker', summary: true, machine, setup, generatorCeiling: ceilings, ratios, slowConsumer: slowConsumerSummary }
  console.log(JSON.stringify(summary))
  for (const r of ratios) {
    log(
      `${r.scenario.padEnd(7)} QoS ${r.qos}: tern ${r.ternMsgPerSec} msg/s, mosquitto ${r.mosquittoMsgPerSec} msg/s, ` +
        `ratio ${r.ratio} ${r.meetsTarget ? '(≥ 0.8)' : '(BELOW 0.8)'}, CPU-efficiency ratio ${r.cpuEfficiencyRatio}, warm-up ratio ${r.warmupRatio}`,
    )
  }
  for (const r of slowConsumerSummary) {
    log(`slow consumer: ${r.broker} p99 ${r.unloadedP99Ms} ms unloaded, ${r.stalledP99Ms} ms with one subscriber stalled, ratio ${r.p99Ratio} ${r.meetsTarget ? '(≤ 2)' : '(ABOVE 2)'}`)
  }
  const report = { ...summary, options: { ...o, out: undefined }, finishedAt: new Date().toISOString(), results, slowConsumerResults: slowConsumer }
  await mkdir(dirname(o.out), { recursive: true })
  await writeFile(o.out, `${JSON.stringify(report, null, 2)}\n`)
  log(`written ${o.out}`)
  return report
}

function phaseLoad(o: BrokerBenchOptions, scenario: Scenario, qos: 0 | 1): PhaseLoad {
  return { scenario, qos, clients: o.clients, payloadBytes: o.payloadBytes, window: o.window, inflight: o.inflight, batch: o.batch }
}

/** Throughput on every broker, then latency on every broker at one rate below the lower throughput. */
async function runCase(o: BrokerBenchOptions, c: BrokerBenchOptions['cases'][number], order: BrokerProcess[], log: (line: string) => void): Promise<CaseResult[]> {
  const load = phaseLoad(o, c.scenario, c.qos)
  const throughput = new Map<BrokerName, ThroughputResult>()
  for (const b of order) {
    log(`${c.scenario} QoS ${c.qos}: ${b.name} throughput...`)
    throughput.set(b.name, await throughputPhase(b.port, b.pid, load, o.warmup * 1000, o.duration * 1000))
  }
  const rate = o.rateFraction * Math.min(...[...throughput.values()].map((t) => t.msgPerSec))
  const out: CaseResult[] = []
  for (const b of order) {
    log(`${c.scenario} QoS ${c.qos}: ${b.name} latency at ${Math.round(rate)} msg/s...`)
    const { latencyMs, ...latency } = await latencyPhase(b.port, b.pid, load, rate, 1000, o.latencyDuration * 1000)
    const { cpu, ...tp } = throughput.get(b.name) as ThroughputResult
    out.push({
      bench: 'broker',
      broker: b.name,
      scenario: c.scenario,
      qos: c.qos,
      publishers: c.scenario === 'fan-in' ? o.clients : 1,
      subscribers: c.scenario === 'fan-out' ? o.clients : 1,
      ...tp,
      throughputCpu: cpu,
      latencyMs,
      latency,
    })
  }
  return out
}

function ratiosOf(results: CaseResult[]): Ratio[] {
  const out: Ratio[] = []
  for (const t of results.filter((r) => r.broker === 'tern')) {
    const m = results.find((r) => r.broker === 'mosquitto' && r.scenario === t.scenario && r.qos === t.qos)
    if (m === undefined) continue
    const ratio = round(t.msgPerSec / m.msgPerSec, 2)
    out.push({
      scenario: t.scenario,
      qos: t.qos,
      ternMsgPerSec: t.msgPerSec,
      mosquittoMsgPerSec: m.msgPerSec,
      ratio,
      target: 0.8,
      meetsTarget: ratio >= 0.8,
      cpuEfficiencyRatio: round(m.brokerCpuUsPerMsg / t.brokerCpuUsPerMsg, 2),
      warmupRatio: round(t.warmupMsgPerSec / m.warmupMsgPerSec, 2),
    })
  }
  return out
}
