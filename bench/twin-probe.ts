/**
 * The twin's round trip as an app on the gateway sees it, sampled while something else loads the
 * edge: one MQTT client publishes a `twin/update` (QoS 1, a new `actual` each time, so every one is
 * written to LevelDB) and times it to its `twin/update/result`, one at a time, every `intervalMs`.
 * `take()` returns the samples since the last take, so a bench reads one figure per phase, with
 * this process's event loop delay meanwhile: the probe's own share of a slow round trip.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import mqtt, { type MqttClient } from 'mqtt'
import { percentiles, round } from './phases.js'

export interface TwinProbeOptions {
  url: string
  /** the device (flat layout, namespace default) and a property without a desired value in its spec */
  device: string
  property: string
  intervalMs: number
  /** an answer later than this counts as a lost sample */
  timeoutMs?: number
}

export interface TwinProbeStats {
  samples: number
  /** requests not answered within timeoutMs, or answered with an error */
  failed: number
  latencyMs: ReturnType<typeof percentiles>
  /** how late this process's event loop ran its timers meanwhile (perf_hooks monitorEventLoopDelay), ms */
  probeLoopDelayMs: { p99: number; max: number }
}

const LOOP_DELAY_RESOLUTION_MS = 10

export class TwinProbe {
  readonly #o: Required<TwinProbeOptions>
  readonly #client: MqttClient
  #samples: number[] = []
  #failed = 0
  #running = true
  #loop: Promise<void> = Promise.resolve()
  readonly #waiting = new Map<string, (ok: boolean) => void>()
  readonly #loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS })
  #seq = 0

  private constructor(options: TwinProbeOptions, client: MqttClient) {
    this.#o = { timeoutMs: 5_000, ...options }
    this.#client = client
    client.on('message', (_topic, payload) => {
      const body = JSON.parse(payload.toString()) as { event_id?: string; code?: number }
      const done = this.#waiting.get(body.event_id ?? '')
      if (done !== undefined) done(body.code === undefined || body.code === 200)
    })
  }

  /** Connects and waits until the device answers a request (its twin exists at the edge). */
  static async start(options: TwinProbeOptions, readyTimeoutMs = 120_000): Promise<TwinProbe> {
    const client = await mqtt.connectAsync(options.url, { clientId: `twin-probe-${process.pid}`, reconnectPeriod: 0 })
    await client.subscribeAsync(`$hw/events/device/${options.device}/twin/update/result`, { qos: 1 })
    const probe = new TwinProbe(options, client)
    const deadline = performance.now() + readyTimeoutMs
    while ((await probe.#once()) === undefined) {
      if (performance.now() > deadline) throw new Error(`twin probe: ${options.device} never answered`)
      await sleep(200)
    }
    probe.#loopDelay.enable()
    probe.#loop = probe.#run()
    return probe
  }

  take(): TwinProbeStats {
    const samples = this.#samples
    const failed = this.#failed
    this.#samples = []
    this.#failed = 0
    // the histogram holds the intervals between its timer's runs: the delay is what exceeds the resolution
    const late = (ns: number): number => round(Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS), 2)
    const probeLoopDelayMs = { p99: late(this.#loopDelay.percentile(99)), max: late(this.#loopDelay.max) }
    this.#loopDelay.reset()
    return { samples: samples.length, failed, latencyMs: percentiles(Float64Array.from(samples.length === 0 ? [0] : samples)), probeLoopDelayMs }
  }

  async stop(): Promise<void> {
    this.#running = false
    this.#loopDelay.disable()
    await this.#loop
    await this.#client.endAsync()
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const started = performance.now()
      const ms = await this.#once()
      if (ms === undefined) this.#failed++
      else this.#samples.push(ms)
      await sleep(Math.max(0, this.#o.intervalMs - (performance.now() - started)))
    }
  }

  /** One request: its round trip in ms, or undefined when it failed or timed out. */
  async #once(): Promise<number | undefined> {
    const id = `probe-${++this.#seq}`
    const body = { event_id: id, timestamp: Date.now(), twin: { [this.#o.property]: { actual: { value: String(this.#seq) } } } }
    const started = performance.now()
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.#o.timeoutMs)
      this.#waiting.set(id, (answer) => {
        clearTimeout(timer)
        resolve(answer)
      })
      this.#client.publish(`$hw/events/device/${this.#o.device}/twin/update`, JSON.stringify(body), { qos: 1 })
    })
    this.#waiting.delete(id)
    return ok ? performance.now() - started : undefined
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
