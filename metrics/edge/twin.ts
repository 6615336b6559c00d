/**
 * The device twin's metrics: requests by topic and result code and their latency (from the request
 * reaching the twin to its result published, the store write included), the store's batch write
 * latency, and devices by state. The twin tells the observer of each request; a histogram child
 * per label set is kept, so an observation costs no label hashing.
 */
import type { DeviceTwin, TwinObserver, TwinRequestTopic } from '../../twin/device-twin.js'
import { Counter, gaugedBy, Histogram, LATENCY_BUCKETS, type Registry } from '../prom.js'

/** The states a device may have (DESIGN §4.6); each gets a sample, 0 included, so a panel shows them all. */
const STATES = ['online', 'offline', 'ok', 'unknown', 'unhealthy'] as const

export interface TwinMetrics {
  readonly observer: TwinObserver
  /** for the twin store's `onWrite` */
  readonly storeWrite: (ms: number) => void
  /** the twin's devices by state, once it runs */
  devices(twin: DeviceTwin): void
}

export function twinMetrics(registry: Registry): TwinMetrics {
  const requests = new Counter({ name: 'tern_twin_requests_total', help: 'Twin requests answered, by request topic (twin/update, twin/get, state/update, membership/get) and result code (200, 400, 404, 500)', labelNames: ['topic', 'code'], registers: [registry] })
  const latency = new Histogram({
    name: 'tern_twin_request_duration_seconds',
    help: 'Twin requests from arrival at the twin to their result published (queueing behind the same device and the store write included), by request topic',
    labelNames: ['topic'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })
  const writes = new Histogram({ name: 'tern_twin_store_write_duration_seconds', help: 'Batch writes of the twin store to the node LevelDB (one batch holds the changes of many requests)', buckets: LATENCY_BUCKETS, registers: [registry] })
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
  const children = new Map<string, { count: ReturnType<typeof requests.labels>; time: ReturnType<typeof latency.labels> }>()
  const child = (topic: TwinRequestTopic, code: number): { count: ReturnType<typeof requests.labels>; time: ReturnType<typeof latency.labels> } => {
    const key = `${topic} ${code}`
    let c = children.get(key)
    if (c === undefined) children.set(key, (c = { count: requests.labels(topic, String(code)), time: latency.labels(topic) }))
    return c
  }
  const writeTime = writes.labels()
  return {
    observer: {
      answered(topic, code, startedMs) {
        const c = child(topic, code)
        c.count.inc()
        c.time.observe((performance.now() - startedMs) / 1000)
      },
    },
    storeWrite: (ms) => writeTime.observe(ms / 1000),
    devices,
  }
}
