/**
 * The last hour of each numeric property, for the web view's charts: kept in memory only, in fixed
 * buckets so the cost is known in advance. A series is 120 buckets of 30 s (the last value seen in
 * each), 1,440 bytes of typed arrays; at most `maxSeries` series exist (2,048 by default: 2.8 MiB
 * at most), and properties first seen after that are not charted. Pure data structure: the caller
 * gives the time.
 */
export const BUCKET_MS = 30_000
export const BUCKETS = 120
export const MAX_SERIES = 2048

interface Series {
  /** the bucket number (time / BUCKET_MS) each slot holds, 0 = empty */
  readonly bucket: Uint32Array
  readonly value: Float64Array
}

/** One chart point: the start of its bucket (ms since the epoch) and the last value in it. */
export type Point = readonly [t: number, value: number]

export class History {
  readonly #series = new Map<string, Series>()
  readonly #maxSeries: number

  constructor(maxSeries = MAX_SERIES) {
    this.#maxSeries = maxSeries
  }

  get size(): number {
    return this.#series.size
  }

  /** Records `value` of series `key` at `now`; false when the series is new and the bound is reached. */
  record(key: string, now: number, value: number): boolean {
    let series = this.#series.get(key)
    if (series === undefined) {
      if (this.#series.size >= this.#maxSeries) return false
      series = { bucket: new Uint32Array(BUCKETS), value: new Float64Array(BUCKETS) }
      this.#series.set(key, series)
    }
    const bucket = Math.floor(now / BUCKET_MS)
    const slot = bucket % BUCKETS
    series.bucket[slot] = bucket
    series.value[slot] = value
    return true
  }

  /** The points of the hour before `now`, oldest first. */
  points(key: string, now: number): Point[] {
    const series = this.#series.get(key)
    if (series === undefined) return []
    const newest = Math.floor(now / BUCKET_MS)
    const out: Point[] = []
    for (let bucket = newest - BUCKETS + 1; bucket <= newest; bucket++) {
      const slot = bucket % BUCKETS
      if (series.bucket[slot] === bucket) out.push([bucket * BUCKET_MS, series.value[slot] as number])
    }
    return out
  }

  /** Forgets every series whose key starts with `prefix` (a device that left the node). */
  forget(prefix: string): void {
    for (const key of this.#series.keys()) if (key.startsWith(prefix)) this.#series.delete(key)
  }
}
