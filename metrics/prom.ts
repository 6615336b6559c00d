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

/**
 * Observations of one histogram series kept as plain numbers, for a hot path: `observe` is a
 * bucket search and three additions, no label hashing and no allocation (prom-client's
 * `Histogram.observe`, even through a `labels()` child, hashes the labels and builds objects on
 * every call). Read when scraped through {@link histogramBy}.
 */
export class Tally {
  /** observations per bucket, not cumulative; the last one counts those above every bound */
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] ?? Infinity)) i++
    this.counts[i] = (this.counts[i] ?? 0) + 1
    this.sum += value
    this.count++
  }
}

/** prom-client's record of one histogram series (lib/histogram.js createBaseValues), which its export reads. */
interface HistogramSeries {
  labels: Labels<string>
  bucketValues: Record<number, number>
  sum: number
  count: number
}

/**
 * A histogram whose series are a part's {@link Tally}s, read when scraped: the series are written
 * into prom-client's own record of them, so the exposition (cumulative buckets, +Inf, _sum,
 * _count) is prom-client's. Each tally's bounds must be `buckets`.
 */
export function histogramBy<L extends string>(registry: Registry, m: { name: string; help: string; labelNames?: readonly L[]; buckets: readonly number[]; read: () => Iterable<readonly [Labels<L>, Tally]> }): Histogram<L> {
  return new Histogram<L>({
    name: m.name,
    help: m.help,
    labelNames: m.labelNames ?? [],
    buckets: [...m.buckets],
    registers: [registry],
    collect() {
      const series: Record<string, HistogramSeries> = {}
      let n = 0
      for (const [labels, tally] of m.read()) {
        const bucketValues: Record<number, number> = {}
        m.buckets.forEach((bound, i) => (bucketValues[bound] = tally.counts[i] ?? 0))
        series[String(n++)] = { labels, bucketValues, sum: tally.sum, count: tally.count }
      }
      ;(this as unknown as { hashMap: Record<string, HistogramSeries> }).hashMap = series
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
