/**
 * How a long-running node's V8 heap is sized (`tern edge`, `tern mapper`). Node flags of the
 * user's own (on the command line or in NODE_OPTIONS) take precedence over each part.
 *
 * Young generation: V8 doubles its semi-spaces (up to 2 × 16 MiB on 64-bit) whenever enough of it
 * survives scavenges, and gives the space back only when allocation all but stops. Loading the
 * node (modules, 1,000 device manifests parsed and stored) grows it to the maximum, and so does a
 * mapper's steady polling (1,000 Modbus devices, 2,000 requests/s), for as long as it polls. A
 * bigger young generation pays only under heavy traffic: capped at 2 × 2 MiB, the broker loses
 * 30–40 % of its peak rate. So growth is held while the node loads and, once it runs, until its
 * event loop has been at least 75 % busy for 3 s running; a quieter second holds it again. On a
 * 2-core Xeon VM whose speed varied, a mapper polling 1,000 devices kept the loop 30–70 % busy,
 * and 50–80 % for the first seconds after start-up while the devices connect; a gateway busier
 * than that gets V8's own sizing, as before.
 *
 * Old generation: once loaded, it may grow 20 % past what survived the last full GC before the
 * next one starts (`--heap-growing-percent`); V8 otherwise picks up to 4× on a machine with GiBs
 * of RAM. During start-up it grows anyway, and a full GC at every 20 % cost an edge node starting
 * 1,000 Modbus devices ~100 ms.
 *
 * Memory first: V8's `--optimize-for-size`, set and cleared at run time, once the event loop has
 * been less than 50 % busy for 5 s running, until the first busier second. V8 then raises the old
 * generation's limit 2 MiB past what survived rather than 8 MiB (the minimum step for a heap that
 * is not short of memory): a mapper promoting ~3.6 MB/s always runs up to the limit, so the step
 * is what it holds. Kept on under load it cost the twin ~40 % of its throughput; off at the first
 * busy second, the twin's throughput and its latency at half load (50–70 % busy) are as before.
 *
 * With the Modbus mapper polling 1,000 devices the node held 89–92 MiB with all three, 94–96 with
 * the first two, ~127 MiB with the old-generation limit alone, and swung between 130 and 220 MiB
 * with none (README, Benchmarks).
 */
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_PERCENT = 20
/** the young generation may grow once the event loop has been at least this busy for BUSY_CHECKS checks running */
export const BUSY_UTILIZATION = 0.75
export const BUSY_CHECKS = 3
/** V8 sizes the heap for memory once the event loop has been less busy than this for QUIET_CHECKS checks running */
export const QUIET_UTILIZATION = 0.5
export const QUIET_CHECKS = 5
const CHECK_MS = 1000
/** V8's default `--semi-space-growth-factor` */
const V8_GROWTH_FACTOR = 2

/** Holds the young generation at its size while the node loads; call before loading. */
export function holdYoungGeneration(): void {
  if (!userSets(/semi[-_]space/)) setFlagsFromString('--semi-space-growth-factor=1')
}

/**
 * Once the node has loaded: the old-generation limit, and the governor (an unref'd timer, for the
 * process's life) of young-generation growth and of V8's memory-first sizing.
 */
export function startHeapPolicy(): void {
  if (!userSets(/heap[-_]growing[-_]percent/)) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  const young = !userSets(/semi[-_]space/)
  const size = !userSets(/optimize[-_]for[-_]size/)
  if (!young && !size) return
  governHeap({
    utilization: loopUtilization(),
    setYoungGrowth: (grow) => {
      if (young) setFlagsFromString(`--semi-space-growth-factor=${grow ? V8_GROWTH_FACTOR : 1}`)
    },
    setMemoryFirst: (on) => {
      if (size) setFlagsFromString(on ? '--optimize-for-size' : '--no-optimize-for-size')
    },
    everyMs: CHECK_MS,
  })
}

export interface HeapGovernor {
  /** the event loop's utilization since the last call, 0..1 */
  utilization(): number
  setYoungGrowth(grow: boolean): void
  setMemoryFirst(on: boolean): void
  everyMs: number
}

/**
 * Checks every `everyMs`. Young generation: held from the start, grows after BUSY_CHECKS checks
 * running at BUSY_UTILIZATION or more, held again after a check below. Memory first: on after
 * QUIET_CHECKS checks running below QUIET_UTILIZATION, off at the first check at or above it.
 */
export function governHeap(g: HeapGovernor): () => void {
  let growing = false
  let memoryFirst = false
  let busy = 0
  let quiet = 0
  g.setYoungGrowth(false)
  const check = (): void => {
    const u = g.utilization()
    busy = u >= BUSY_UTILIZATION ? busy + 1 : 0
    quiet = u < QUIET_UTILIZATION ? quiet + 1 : 0
    const grow = busy >= BUSY_CHECKS
    if (grow !== growing) g.setYoungGrowth((growing = grow))
    const small = quiet >= QUIET_CHECKS
    if (small !== memoryFirst) g.setMemoryFirst((memoryFirst = small))
  }
  const timer = setInterval(check, g.everyMs)
  timer.unref()
  return () => clearInterval(timer)
}

function loopUtilization(): () => number {
  let last = performance.eventLoopUtilization()
  return () => {
    const now = performance.eventLoopUtilization()
    const { utilization } = performance.eventLoopUtilization(now, last)
    last = now
    return utilization
  }
}

function userSets(flag: RegExp): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((f) => flag.test(f))
}
