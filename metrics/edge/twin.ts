/**
 * The device twin's metrics: requests by topic and result code and their latency (from the request
 * reaching the twin to its result published, the store write included), the store's batch write
 * latency, and devices by state. The twin tells the observer of each request, on its hot path: an
 * answer is counted in plain numbers (a count per code and a {@link Tally} per topic), read when
 * scraped, so a request costs no label lookup and no allocation.
 */
import type { DeviceTwin, TwinObserver, TwinRequestTopic } from '../../twin/device-twin.js'
import { countedBy, gaugedBy, histogramBy, LATENCY_BUCKETS, Tally, type Registry, type Sample } from '../prom.js'

/** The states a device may have (DESIGN §4.6); each gets a sample, 0 included, so a panel shows them all. */
const STATES = ['online', 'offline', 'ok', 'unknown', 'unhealthy'] as const

export interface TwinMetrics {
  readonly observer: TwinObserver
  /** for the twin store's `onWrite` */
  readonly storeWrite: (ms: number) => void
  /** the twin's devices by state, once it runs */
  devices(twin: DeviceTwin): void
}

/** One request topic's answers: how many per result code, and their latency. */
interface TopicAnswers {
  readonly codes: Map<number, number>
  readonly latency: Tally
}

export function twinMetrics(registry: Registry): TwinMetrics {
  // A topic appears once a request of it was answered, as prom-client's labelled series do.
  const answers = new Map<TwinRequestTopic, TopicAnswers>()
  const writes = new Tally(LATENCY_BUCKETS)
  countedBy(registry, {
    name: 'tern_twin_requests_total',
    help: 'Twin requests answered, by request topic (twin/update, twin/get, state/update, membership/get) and result code (200, 400, 404, 500)',
    labelNames: ['topic', 'code'],
    read: () => {
      const out: Array<Sample<'topic' | 'code'>> = []
      for (const [topic, a] of answers) for (const [code, n] of a.codes) out.push([{ topic, code: String(code) }, n])
      return out
    },
  })
  histogramBy(registry, {
    name: 'tern_twin_request_duration_seconds',
    help: 'Twin requests from arrival at the twin to their result published (queueing behind the same device and the store write included), by request topic',
    labelNames: ['topic'],
    buckets: LATENCY_BUCKETS,
    read: () => [...answers].map(([topic, a]) => [{ topic }, a.latency] as const),
  })
  histogramBy(registry, {
    name: 'tern_twin_store_write_duration_seconds',
    help: 'Batch writes of the twin store to the node LevelDB (one batch holds the changes of many requests)',
    buckets: LATENCY_BUCKETS,
    read: () => [[{}, writes]],
  })
  const devices = (t: DeviceTwin): void => void gaugedBy(registry, {
    name: 'tern_devices',
    help: "The node's devices by state (online, offline, ok, unknown, unhealthy)",
    labelNames: ['state'],
    read: () => {
      const counts = new Map<string, number>(STATES.map((s) => [s, 0]))
      for (const d of t.devices.values()) {
        const state = d.state.toLowerCase()
        counts.set(state, (counts.get(state) ?? 0) + 1)
      }
      return [...counts].map(([state, n]) => [{ state }, n] as const)
    },
  })
  return {
    observer: {
      answered(topic, code, startedMs) {
        let a = answers.get(topic)
        if (a === undefined) answers.set(topic, (a = { codes: new Map(), latency: new Tally(LATENCY_BUCKETS) }))
        a.codes.set(code, (a.codes.get(code) ?? 0) + 1)
        a.latency.observe((performance.now() - startedMs) / 1000)
      },
    },
    storeWrite: (ms) => writes.observe(ms / 1000),
    devices,
  }
}
