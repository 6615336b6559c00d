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
 * With the Modbus mapper polling 1,000 devices the node held ~100 MiB with both, ~127 MiB with the
 * old-generation limit alone, and swung between 130 and 220 MiB with neither (README, Benchmarks).
 */
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_PERCENT = 20
/** the young generation may grow once the event loop has been at least this busy for BUSY_CHECKS checks running */
export const BUSY_UTILIZATION = 0.75
export const BUSY_CHECKS = 3
const CHECK_MS = 1000
/** V8's default `--semi-space-growth-factor` */
const V8_GROWTH_FACTOR = 2

/** Holds the young generation at its size while the node loads; call before loading. */
export function holdYoungGeneration(): void {
  if (!userSets(/semi[-_]space/)) setYoungGenerationGrowth(false)
}

/** Once the node has loaded: the old-generation limit, and young-generation growth only while busy (an unref'd timer, for the process's life). */
export function startHeapPolicy(): void {
  if (!userSets(/heap[-_]growing[-_]percent/)) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  if (!userSets(/semi[-_]space/)) governYoungGeneration({ utilization: loopUtilization(), setGrowth: setYoungGenerationGrowth, everyMs: CHECK_MS })
}

export interface YoungGenerationGovernor {
  /** the event loop's utilization since the last call, 0..1 */
  utilization(): number
  setGrowth(grow: boolean): void
  everyMs: number
}

/** Holds the young generation, then checks every `everyMs`: grows it after BUSY_CHECKS busy checks running, holds it after a quiet one. */
export function governYoungGeneration(g: YoungGenerationGovernor): () => void {
  let growing = false
  let busy = 0
  g.setGrowth(false)
  const check = (): void => {
    busy = g.utilization() >= BUSY_UTILIZATION ? busy + 1 : 0
    const grow = busy >= BUSY_CHECKS
    if (grow === growing) return
    growing = grow
    g.setGrowth(grow)
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

function setYoungGenerationGrowth(grow: boolean): void {
  setFlagsFromString(`--semi-space-growth-factor=${grow ? V8_GROWTH_FACTOR : 1}`)
}

function userSets(flag: RegExp): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((f) => flag.test(f))
}
