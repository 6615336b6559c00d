/**
 * The in-process mappers' per-device counters (the ones they also publish on the MQTT metrics
 * topic), read when scraped. A node may serve thousands of devices and each label value is a time
 * series Prometheus keeps, so at most `deviceSeries` devices get their own `device` label: the
 * first ones seen keep it while they are served (a removed device frees its place); the counts of
 * every other device are summed under `device="_other"`.
 */
import type { Mapper } from '../../mappers/runtime/mapper.js'
import { countedBy, gaugedBy, type Registry, type Sample } from '../prom.js'

export const OTHER_DEVICES = '_other'

type Labels = 'protocol' | 'device' | 'code'

export function mapperMetrics(registry: Registry, mappers: readonly Mapper[], deviceSeries: number): void {
  const labelled = new Set<string>()
  /** per protocol and label value: counter name → count, for one scrape */
  const snapshot = (): Map<string, Map<string, Record<string, number>>> => {
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
    return out
  }
  // one snapshot serves the scrape's three metrics: prom-client collects them one after another
  let taken: { at: number; value: ReturnType<typeof snapshot> } | undefined
  const current = (): ReturnType<typeof snapshot> => {
    const now = performance.now()
    if (taken === undefined || now - taken.at > 100) taken = { at: now, value: snapshot() }
    return taken.value
  }
  countedBy<Labels>(registry, {
    name: 'tern_mapper_requests_total',
    help: `Requests a mapper sent to a device, by protocol and device (at most http.deviceSeries devices by name, the rest summed as device="${OTHER_DEVICES}")`,
    labelNames: ['protocol', 'device'],
    read: () => samples(current(), (counts) => [['', counts.requests ?? 0]]),
  })
  countedBy<Labels>(registry, {
    name: 'tern_mapper_responses_total',
    help: 'Outcomes of those requests, by protocol, device and code: ok, or the error code (MODBUS_TIMEOUT, MODBUS_ILLEGAL_ADDRESS, …)',
    labelNames: ['protocol', 'device', 'code'],
    read: () => samples(current(), (counts) => Object.entries(counts).filter(([name]) => name !== 'requests')),
  })
  gaugedBy<Labels>(registry, {
    name: 'tern_mapper_devices',
    help: 'Devices a mapper keeps counters for, by protocol',
    labelNames: ['protocol'],
    read: () => mappers.map((m) => [{ protocol: m.protocol }, Object.keys(m.counters()).length] as const),
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
