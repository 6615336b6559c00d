/**
 * What container log rotation costs (`npm run bench -- --only log-rotation`): a container on a
 * private containerd writes about `mbPerSecond` of log lines (base64 text) while edged's LogRotator
 * (edged/logs/rotate.ts) runs in this process with the kubelet's defaults (10 Mi, 5 files, every
 * 10 s); the CPU time this process spends (rotation rounds, streamed gzip in libuv's threads) over
 * `seconds`, against the same container and time with no rotator. Also reported: the bytes written,
 * the rotations, and the most bytes the log held on disk.
 */
import { loadavg } from 'node:os'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { connectGrpcRuntime } from '../edged/cri/grpc-runtime.js'
import { LogRotator } from '../edged/logs/rotate.js'
import { startContainerd } from '../test/support/containerd.js'
import { startTestPod } from '../test/support/cri-pod.js'
import { scratchDir } from '../test/support/resources.js'
import { round } from './phases.js'

export interface LogRotationBenchOptions {
  /** log written per second by the container, MB */
  mbPerSecond: number
  /** measured seconds, with and without the rotator each */
  seconds: number
}

export const LOG_ROTATION_DEFAULTS: LogRotationBenchOptions = { mbPerSecond: 5, seconds: 60 }

export function logRotationEstimateSeconds(o: LogRotationBenchOptions): number {
  return 60 + 2 * o.seconds
}

/** Lines of base64 of random bytes (76 characters; gzip leaves about 3/4 of it, a pessimistic log), `mbPerSecond` a second in tenths of a second. */
const writer = (mbPerSecond: number): string =>
  `head -c ${Math.round(mbPerSecond * 75_000)} /dev/urandom | base64 > /tmp/chunk; while true; do cat /tmp/chunk; sleep 0.1; done`

export async function runLogRotationBench(o: LogRotationBenchOptions, log: (line: string) => void): Promise<Record<string, unknown>> {
  const containerd = await startContainerd()
  const runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 60_000 })
  const logs = await scratchDir('tern-bench-logrot-')
  try {
    const measure = async (rotate: boolean): Promise<Record<string, number>> => {
      const pod = await startTestPod(runtime, { name: `writer-${rotate ? 'rot' : 'plain'}`, uid: `uid-${rotate ? 'rot' : 'plain'}`, logDirectory: join(logs.path, rotate ? 'rot' : 'plain') })
      const dir = join(pod.logDirectory, 'app')
      const rotator = new LogRotator({ runtime, maxBytes: 10 * 1024 * 1024, maxFiles: 5, intervalMs: 10_000, workers: 1, log: pino({ level: 'warn' }) })
      try {
        await pod.run('app', writer(o.mbPerSecond))
        let diskMax = 0
        const rotated = new Set<string>()
        const load0 = loadavg()[0] ?? 0
        if (rotate) rotator.start()
        const cpu0 = process.cpuUsage()
        const t0 = performance.now()
        while (performance.now() - t0 < o.seconds * 1000) {
          await new Promise((r) => setTimeout(r, 500))
          const names = await readdir(dir)
          for (const n of names) if (n !== '0.log') rotated.add(n.replace(/\.gz$/, ''))
          const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, n)).catch(() => undefined))?.size ?? 0))
          diskMax = Math.max(diskMax, sizes.reduce((a, b) => a + b, 0))
        }
        const cpu = process.cpuUsage(cpu0)
        const elapsed = (performance.now() - t0) / 1000
        await rotator.stop()
        // what the container wrote: the current file and every rotated one before compression
        const written = rotate ? undefined : diskMax
        return {
          cpuMsPerSecond: round((cpu.user + cpu.system) / 1000 / elapsed, 1),
          rotations: rotated.size,
          diskMaxMB: round(diskMax / 1e6, 1),
          ...(written === undefined ? {} : { writtenMBPerSecond: round(written / 1e6 / elapsed, 2) }),
          load: round(load0, 1),
        }
      } finally {
        await rotator.stop()
        await pod.remove()
      }
    }
    log(`log-rotation: ${o.seconds} s without rotation, then ${o.seconds} s with`)
    const without = await measure(false)
    const withRotation = await measure(true)
    const result = { mbPerSecond: o.mbPerSecond, seconds: o.seconds, without, with: withRotation, rotationCpuMsPerSecond: round((withRotation.cpuMsPerSecond ?? 0) - (without.cpuMsPerSecond ?? 0), 1) }
    console.log(JSON.stringify({ bench: 'log-rotation', ...result }))
    return result
  } finally {
    runtime.close()
    await containerd.stop()
    await logs.remove()
  }
}
