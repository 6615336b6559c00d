/**
 * kubectl exec output against input through the stream tunnel (part of bench/streams.ts): a file of
 * random bytes out of the container (`exec POD -- cat FILE`, kubectl's stdout into a file) and the
 * same bytes into it (`exec -i POD -- sha256sum`, kubectl's stdin from that file), in turn, `runs`
 * times each, with the CPU time tern edge and tern cloud spent on each transfer. Every transfer is
 * checked whole: the file received has the container file's size and SHA-256, and sha256sum in the
 * container prints that digest for what it read. Into a command that writes its result at the end,
 * not `cat > /dev/null`: containerd 1.6 closes an exec's stdin as soon as its stdout has no writer
 * left (containerd/containerd#13934), so `sh -c 'cat > F'` takes the first ~192 KiB and exits 0.
 * sha256sum rather than `wc -c`: busybox's wc costs more CPU in the container than its sha256sum.
 */
import { createHash } from 'node:crypto'
import { createReadStream, openSync, closeSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { StreamsWorld } from '../test/support/streams-world.js'
import { round } from './phases.js'
import { cpuSeconds } from './servers.js'

interface Transfer {
  seconds: number
  edgeCpuSeconds: number
  cloudCpuSeconds: number
}

interface PerProcess {
  edge: number
  cloud: number
}

export interface ExecBothWays {
  bytes: number
  runs: number
  outMBps: number[]
  inMBps: number[]
  /** best out / best in */
  ratio: number
  /** CPU milliseconds per MB (10^6 bytes) moved, median of the runs, background work included */
  cpuMsPerMB: { out: PerProcess; in: PerProcess }
  /** CPU milliseconds per second with no stream open (node status, leases, edged's sync), over IDLE_MS */
  idleCpuMsPerSecond: PerProcess
}

const IDLE_MS = 5000

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** `file` in `pod` holds `bytes` bytes; `scratch` takes the copy that comes out and goes back in. */
export async function execBothWays(s: StreamsWorld, pod: string, file: string, bytes: number, runs: number, scratch: string): Promise<ExecBothWays> {
  const { world, edge } = s
  const cpu = (): PerProcess => ({ edge: cpuSeconds(edge.pid), cloud: cpuSeconds(world.cloud.pid) })
  const summed = await world.kubectl.run(['exec', pod, '--', 'sha256sum', file])
  const digest = /^[0-9a-f]{64}/.exec(summed.stdout)?.[0]
  if (summed.code !== 0 || digest === undefined) throw new Error(`kubectl exec ${pod} -- sha256sum ${file}: ${summed.stdout}${summed.stderr}`)

  const idle0 = cpu()
  await sleep(IDLE_MS)
  const idle1 = cpu()
  const idleCpuMsPerSecond = { edge: round(((idle1.edge - idle0.edge) * 1e6) / IDLE_MS, 1), cloud: round(((idle1.cloud - idle0.cloud) * 1e6) / IDLE_MS, 1) }

  const local = join(scratch, 'exec-bytes')
  const timed = async (args: string[], fds: { stdin?: number; stdout?: number }): Promise<Transfer & { output: string }> => {
    const cpu0 = cpu()
    const started = performance.now()
    const child = world.kubectl.spawn(args, fds)
    const { code } = await child.exited()
    const seconds = (performance.now() - started) / 1000
    const cpu1 = cpu()
    if (code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${String(code)}: ${child.output().slice(-300)}`)
    return { seconds, edgeCpuSeconds: cpu1.edge - cpu0.edge, cloudCpuSeconds: cpu1.cloud - cpu0.cloud, output: child.output() }
  }
  const out: Transfer[] = []
  const into: Transfer[] = []
  for (let i = 0; i < runs; i++) {
    const fd = openSync(local, 'w')
    const o = await timed(['exec', pod, '--', 'cat', file], { stdout: fd }).finally(() => closeSync(fd))
    const got = statSync(local).size
    if (got !== bytes || (await sha256File(local)) !== digest) throw new Error(`kubectl exec ${pod} -- cat ${file} gave ${got} of ${bytes} bytes${got === bytes ? ', not the same bytes' : ''}`)
    out.push(o)
    const from = openSync(local, 'r')
    const n = await timed(['exec', '-i', pod, '--', 'sha256sum'], { stdin: from }).finally(() => closeSync(from))
    if (n.output.trim() !== `${digest}  -`) throw new Error(`kubectl exec -i ${pod} -- sha256sum of ${bytes} bytes printed ${n.output.trim()}, not ${digest}: the bytes did not all arrive`)
    into.push(n)
  }
  const rate = (t: Transfer): number => round(bytes / t.seconds / 1e6, 2)
  const msPerMB = (ts: Transfer[], key: 'edgeCpuSeconds' | 'cloudCpuSeconds'): number => {
    const sorted = ts.map((t) => (t[key] * 1e9) / bytes).sort((a, b) => a - b)
    return round(sorted[Math.floor(sorted.length / 2)] ?? NaN, 2)
  }
  return {
    bytes,
    runs,
    outMBps: out.map(rate),
    inMBps: into.map(rate),
    ratio: round(Math.max(...out.map(rate)) / Math.max(...into.map(rate)), 3),
    cpuMsPerMB: { out: { edge: msPerMB(out, 'edgeCpuSeconds'), cloud: msPerMB(out, 'cloudCpuSeconds') }, in: { edge: msPerMB(into, 'edgeCpuSeconds'), cloud: msPerMB(into, 'cloudCpuSeconds') } },
    idleCpuMsPerSecond,
  }
}
