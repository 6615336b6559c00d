/**
 * kubectl exec output against input through the stream tunnel (part of bench/streams.ts): the same
 * file out of the container (`exec POD -- cat FILE`, kubectl's stdout into a file) and into it
 * (`exec -i POD -- wc -c`, kubectl's stdin from that file), in turn, `runs` times each, with the
 * CPU time tern edge and tern cloud spent on each transfer. Into `wc -c`, not `cat > /dev/null`:
 * containerd 1.6 closes an exec's stdin as soon as its stdout has no writer left
 * (containerd/containerd#13934), so `sh -c 'cat > F'` takes the first ~192 KiB and exits.
 */
import { openSync, closeSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { StreamsWorld } from '../test/support/streams-world.js'
import { round } from './phases.js'
import { cpuSeconds } from './servers.js'

interface Transfer {
  seconds: number
  edgeCpuSeconds: number
  cloudCpuSeconds: number
}

export interface ExecBothWays {
  bytes: number
  runs: number
  outMBps: number[]
  inMBps: number[]
  /** best out / best in */
  ratio: number
  /** CPU seconds per 100 MB, median of the runs */
  cpuPer100MB: { out: { edge: number; cloud: number }; in: { edge: number; cloud: number } }
}

export async function execBothWays(s: StreamsWorld, pod: string, file: string, bytes: number, runs: number, scratch: string): Promise<ExecBothWays> {
  const { world, edge } = s
  const local = join(scratch, 'exec-bytes')
  const timed = async (args: string[], fds: { stdin?: number; stdout?: number }): Promise<Transfer & { output: string }> => {
    const cpu0 = { edge: cpuSeconds(edge.pid), cloud: cpuSeconds(world.cloud.pid) }
    const started = performance.now()
    const child = world.kubectl.spawn(args, fds)
    const { code } = await child.exited()
    const seconds = (performance.now() - started) / 1000
    if (code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${String(code)}: ${child.output().slice(-300)}`)
    return { seconds, edgeCpuSeconds: cpuSeconds(edge.pid) - cpu0.edge, cloudCpuSeconds: cpuSeconds(world.cloud.pid) - cpu0.cloud, output: child.output() }
  }
  const out: Transfer[] = []
  const into: Transfer[] = []
  for (let i = 0; i < runs; i++) {
    const fd = openSync(local, 'w')
    const o = await timed(['exec', pod, '--', 'cat', file], { stdout: fd }).finally(() => closeSync(fd))
    const got = statSync(local).size
    if (got !== bytes) throw new Error(`kubectl exec ${pod} -- cat ${file} gave ${got} of ${bytes} bytes`)
    out.push(o)
    const from = openSync(local, 'r')
    const n = await timed(['exec', '-i', pod, '--', 'wc', '-c'], { stdin: from }).finally(() => closeSync(from))
    if (n.output.trim() !== String(bytes)) throw new Error(`kubectl exec -i ${pod} -- wc -c counted ${n.output.trim()} of ${bytes} bytes`)
    into.push(n)
  }
  const rate = (t: Transfer): number => round(bytes / t.seconds / 1e6, 2)
  const per100MB = (ts: Transfer[], key: 'edgeCpuSeconds' | 'cloudCpuSeconds'): number => {
    const sorted = ts.map((t) => (t[key] * 1e8) / bytes).sort((a, b) => a - b)
    return round(sorted[Math.floor(sorted.length / 2)] ?? NaN, 3)
  }
  return {
    bytes,
    runs,
    outMBps: out.map(rate),
    inMBps: into.map(rate),
    ratio: round(Math.max(...out.map(rate)) / Math.max(...into.map(rate)), 3),
    cpuPer100MB: { out: { edge: per100MB(out, 'edgeCpuSeconds'), cloud: per100MB(out, 'cloudCpuSeconds') }, in: { edge: per100MB(into, 'edgeCpuSeconds'), cloud: per100MB(into, 'cloudCpuSeconds') } },
  }
}
