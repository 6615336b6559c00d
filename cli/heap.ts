/**
 * How a long-running node's V8 heap is sized (`tern edge`, `tern mapper`). Node flags of the
 * user's own (on the command line or in NODE_OPTIONS) take precedence over each part.
 *
 * Young generation: V8 doubles its semi-spaces (up to 2 × 16 MiB on 64-bit) whenever enough of it
 * survives scavenges, and gives the space back only when allocation all but stops (under ~1 MB/s)
 * or in a memory-reducing GC, which a node whose mapper polls 1,000 devices (tens of MB/s of
 * short-lived objects) never reaches: once grown, it stays. Loading the node (modules, 1,000 device
 * manifests parsed and stored) grows it to the maximum, and so does a mapper's steady polling. A
 * bigger young generation pays only under heavy traffic: capped at 2 × 2 MiB, the broker loses
 * 30–40 % of its peak rate. So growth is held while the node loads and, once it runs, until it has
 * worked at least 75 % of the time for 3 s running; a quieter second holds it again. Worked: its
 * event loop busy and the process on a CPU for that long (the lesser of the two shares). The loop
 * alone also counts the time its callbacks wait for a CPU that other processes hold: on a 2-core
 * VM at load average 20, a node polling 1,000 Modbus devices with 0.2–0.4 of a core showed a busy
 * loop, grew to 2 × 16 MiB within seconds of start-up and kept it (30 MiB more private memory).
 * On a 2-core Xeon VM whose speed varied, a mapper polling 1,000 devices kept the loop 30–70 %
 * busy, and 50–80 % for the first seconds after start-up while the devices connect; a gateway
 * busier than that gets V8's own sizing, as before.
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
/** the young generation may grow once the node has worked at least this share of the time for BUSY_CHECKS checks running */
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
  if (!userSets(/semi[-_]space/)) governYoungGeneration({ utilization: workUtilization(), setGrowth: setYoungGenerationGrowth, everyMs: CHECK_MS })
}

export interface YoungGenerationGovernor {
  /** the share of the time since the last call the node worked, 0..1 */
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

/** The share of each interval the node worked (workShare), from the event loop's utilization and the process's CPU time. */
function workUtilization(): () => number {
  let loop = performance.eventLoopUtilization()
  let cpu = process.cpuUsage()
  let at = performance.now()
  return () => {
    const nowLoop = performance.eventLoopUtilization()
    const nowCpu = process.cpuUsage()
    const now = performance.now()
    const cpuMs = (nowCpu.user - cpu.user + nowCpu.system - cpu.system) / 1000
    const share = workShare(performance.eventLoopUtilization(nowLoop, loop).utilization, cpuMs, now - at)
    loop = nowLoop
    cpu = nowCpu
    at = now
    return share
  }
}

/**
 * The share of `wallMs` the node worked: the event loop's utilization, but no more than the CPU
 * time the process got (`cpuMs`, every thread's: V8's GC helpers and libuv's pool count too, so a
 * loop that is really busy is never held back by it).
 */
export function workShare(loopUtilization: number, cpuMs: number, wallMs: number): number {
  return wallMs > 0 ? Math.min(loopUtilization, cpuMs / wallMs) : 0
}

function setYoungGenerationGrowth(grow: boolean): void {
  setFlagsFromString(`--semi-space-growth-factor=${grow ? V8_GROWTH_FACTOR : 1}`)
}

function userSets(flag: RegExp): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((f) => flag.test(f))
}
