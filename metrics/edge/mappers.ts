/**
 * The in-process mappers' per-device counters (the ones they also publish on the MQTT metrics
 * topic), read when scraped. A node may serve thousands of devices and each label value is a time
 * series Prometheus keeps, so at most `deviceSeries` devices get their own `device` label: the
 * first ones seen keep it while they are served (a removed device frees its place); the counts of
 * every other device are summed under `device="_other"`. Each scrape reads the counters afresh,
 * once for all three metrics.
 */
import type { Mapper } from '../../mappers/runtime/mapper.js'
import { countedBy, gaugedBy, type Registry, type Sample } from '../prom.js'

export const OTHER_DEVICES = '_other'

type Labels = 'protocol' | 'device' | 'code'

/** What the metrics read of a mapper. */
export type CountingMapper = Pick<Mapper, 'protocol' | 'counters'>

/** One read of every mapper's counters: per protocol the devices it counts, and per label value (device or `_other`) counter name → count. */
interface Read {
  devices: Map<string, number>
  byLabel: Map<string, Map<string, Record<string, number>>>
}

export function mapperMetrics(registry: Registry, mappers: readonly CountingMapper[], deviceSeries: number): void {
  const labelled = new Set<string>()
  const read = (): Read => {
    const out = new Map<string, Map<string, Record<string, number>>>()
    const served = new Set<string>()
    const all = mappers.map((m) => [m.protocol, m.counters()] as const)
    for (const [protocol, devices] of all) for (const device of Object.keys(devices)) served.add(`${protocol}\u0000${device}`)
    for (const key of labelled) if (!served.has(key)) labelled.delete(key)
    for (const [protocol, devices] of all) {
      const byLabel = new Map<string, Record<string, number>>()
      out.set(protocol, byLabel)
      for (const device of Object.keys(devices).sort()) {
        const key = `${protocol}\u0000${device}`
        if (!labelled.has(key) && labelled.size < deviceSeries) labelled.add(key)
        const label = labelled.has(key) ? device : OTHER_DEVICES
        const sum = byLabel.get(label) ?? {}
        for (const [name, n] of Object.entries(devices[device] ?? {})) sum[name] = (sum[name] ?? 0) + n
        byLabel.set(label, sum)
      }
    }
    return { devices: new Map(all.map(([protocol, devices]) => [protocol, Object.keys(devices).length])), byLabel: out }
  }
  // One read serves one scrape's three metrics, so they agree with each other. prom-client's
  // Registry.metrics() calls every metric's collect() in one synchronous pass, so the read is
  // dropped once that pass is over (its microtasks run) and the next scrape, however soon, reads again.
  let taken: Read | undefined
  const current = (): Read => {
    if (taken === undefined) {
      taken = read()
      queueMicrotask(() => (taken = undefined))
    }
    return taken
  }
  countedBy<Labels>(registry, {
    name: 'tern_mapper_requests_total',
    help: `Requests a mapper sent to a device, by protocol and device (at most http.deviceSeries devices by name, the rest summed as device="${OTHER_DEVICES}")`,
    labelNames: ['protocol', 'device'],
    read: () => samples(current().byLabel, (counts) => [['', counts.requests ?? 0]]),
  })
  countedBy<Labels>(registry, {
    name: 'tern_mapper_responses_total',
    help: 'Outcomes of those requests, by protocol, device and code: ok, or the error code (MODBUS_TIMEOUT, MODBUS_ILLEGAL_ADDRESS, …)',
    labelNames: ['protocol', 'device', 'code'],
    read: () => samples(current().byLabel, (counts) => Object.entries(counts).filter(([name]) => name !== 'requests')),
  })
  gaugedBy<Labels>(registry, {
    name: 'tern_mapper_devices',
    help: 'Devices a mapper keeps counters for, by protocol',
    labelNames: ['protocol'],
    read: () => [...current().devices].map(([protocol, n]) => [{ protocol }, n] as const),
  })
}

function samples(snap: Map<string, Map<string, Record<string, number>>>, pick: (counts: Record<string, number>) => Array<[string, number]>): Array<Sample<Labels>> {
  const out: Array<Sample<Labels>> = []
  for (const [protocol, byLabel] of snap) {
    for (const [device, counts] of byLabel) {
      for (const [code, n] of pick(counts)) out.push([code === '' ? { protocol, device } : { protocol, device, code }, n])
    }
  }
  return out
}
