/**
 * prom-client, as much of it as tern uses: the registry and the three metric types, imported
 * module by module (types/prom-client-lib.d.ts says why), and helpers for metrics whose values a
 * part already counts: they are read when Prometheus scrapes, so the part's hot path pays nothing.
 */
import Counter from 'prom-client/lib/counter.js'
import Gauge from 'prom-client/lib/gauge.js'
import Histogram from 'prom-client/lib/histogram.js'
import Registry from 'prom-client/lib/registry.js'

export { Counter, Gauge, Histogram, Registry }

/** Request latencies, seconds: 0.5 ms (a twin request on a quiet node) to 10 s (a stuck store or API server). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

type Labels<L extends string> = Partial<Record<L, string | number>>
/** One sample: its labels and value. */
export type Sample<L extends string> = readonly [Labels<L>, number]

interface Declared<L extends string> {
  name: string
  help: string
  labelNames?: readonly L[]
  /** the samples now; an empty iterable when the part is not running */
  read: () => Iterable<Sample<L>>
}

/** A counter whose samples are a part's own running totals. */
export function countedBy<L extends string>(registry: Registry, m: Declared<L>): Counter<L> {
  return new Counter<L>({
    name: m.name,
    help: m.help,
    labelNames: m.labelNames ?? [],
    registers: [registry],
    collect() {
      this.reset()
      for (const [labels, value] of m.read()) this.inc(labels, value)
    },
  })
}

/** A gauge whose samples are read from a part. */
export function gaugedBy<L extends string>(registry: Registry, m: Declared<L>): Gauge<L> {
  return new Gauge<L>({
    name: m.name,
    help: m.help,
    labelNames: m.labelNames ?? [],
    registers: [registry],
    collect() {
      this.reset()
      for (const [labels, value] of m.read()) this.set(labels, value)
    },
  })
}
