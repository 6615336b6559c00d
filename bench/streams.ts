/**
 * kubectl logs/exec through the stream tunnel (`npm run bench -- --only streams`), with the real
 * processes of test/streams/kubectl-streams.test.ts (test/support/streams-world.ts): the API
 * emulator, `tern cloud`, `tern edge` beside a private containerd, kubectl 1.32, and the pods
 * applied to the node through the cluster. Measured: `kubectl exec POD -- true` wall time
 * against `kubectl get pod POD` (the same kubectl start and API round trip, no stream); `kubectl
 * logs` of a large log and `kubectl exec -- cat` of a large file through the tunnel, against the
 * edge's own reading of the same CRI log file (cloud-sync/streams/log-stream.ts, no tunnel); random
 * bytes out of `kubectl exec` against the same bytes into it, checked whole, with tern's CPU
 * (bench/streams-exec.ts); a file fetched through `kubectl port-forward` against the same fetch
 * from the pod IP; and the tunnel's effect on a control message on a shared slow uplink
 * (bench/streams-link.ts). Each part is printed on stdout as a JSON line when it is done.
 */
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { findPodLogs, containerLogFile } from '../edged/logs/files.js'
import { logStream } from '../cloud-sync/streams/log-stream.js'
import { BUSYBOX_BIN } from '../test/support/containerd.js'
import { busyboxPod, eventually, SLEEP_FOREVER } from '../test/support/edged.js'
import { startChild } from '../test/support/resources.js'
import { startStreamsWorld, type StreamsWorld } from '../test/support/streams-world.js'
import { percentiles, round } from './phases.js'
import { execBothWays } from './streams-exec.js'
import { LINK_DEFAULTS, runLinkBench } from './streams-link.js'

export interface StreamsBenchOptions {
  /** `kubectl exec` and `kubectl get` repetitions */
  execRuns: number
  /** lines of 200 characters in the logged flood (and bytes/200 of the file cat reads) */
  floodLines: number
  /** throughput repetitions */
  runs: number
  /** bytes of the file fetched through kubectl port-forward and directly from the pod IP */
  forwardBytes: number
  /** bytes of random data out of kubectl exec and into it */
  execBytes: number
}

export const STREAMS_DEFAULTS: StreamsBenchOptions = { execRuns: 20, floodLines: 200_000, runs: 3, forwardBytes: 100_000_000, execBytes: 50_000_000 }

export function streamsEstimateSeconds(o: StreamsBenchOptions): number {
  return 90 + o.execRuns * 2 * 1.5 + o.runs * 3 * (o.floodLines / 50_000) + o.runs * 2 * (o.forwardBytes / 5e6) + o.runs * 2 * (o.execBytes / 5e6) + 3 * (LINK_DEFAULTS.pings * 0.2 + 3)
}

const NODE = 'edge-bench'

/** One JSON line per part on stdout, as the other benches print theirs, with the load it ended at. */
function emit(part: string, result: object): void {
  process.stdout.write(`${JSON.stringify({ bench: 'streams', part, ...result, loadAverage1m: round(loadavg()[0] ?? 0, 2) })}\n`)
}

export async function runStreamsBench(o: StreamsBenchOptions, say: (line: string) => void): Promise<Record<string, unknown>> {
  const undo: Array<() => Promise<void>> = []
  const load = [loadavg()[0]]
  try {
    const bytes = o.floodLines * 201
    // the pods come from the cluster: kubectl apply with spec.nodeName, sent down by the workload downlink
    const streams = await startStreamsWorld(undo, {
      node: NODE,
      pods: [
        busyboxPod('web', { app: SLEEP_FOREVER }),
        busyboxPod('www', { app: `mkdir -p /www && head -c ${o.forwardBytes} /dev/zero > /www/big && touch /www/ready && httpd -f -p 8080 -h /www` }),
        busyboxPod('flood', { app: `head -c ${bytes} /dev/zero > /tmp/big; head -c ${o.execBytes} /dev/urandom > /tmp/exec; yes $(head -c 200 /dev/zero | tr '\\0' x) | head -n ${o.floodLines}; ${SLEEP_FOREVER}` }),
      ],
      // the flood's log is read whole: not rotated at edged's 10 MiB
      edged: { containerLogMaxSize: '1Gi' },
      readyMs: 300_000,
    })
    const { world, rootDir, containerd } = streams
    await eventually(async () => {
      const r = await world.kubectl.run(['exec', `flood-${NODE}`, '--', 'sh', '-c', 'test -n "$(pidof yes)" || echo done'])
      return r.code === 0 && r.stdout.includes('done')
    }, 300_000, 'the flood written')
    say('streams: pods running, flood written')

    const wall = async (args: string[]): Promise<number> => {
      const started = performance.now()
      const r = await world.kubectl.run(args)
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`)
      return performance.now() - started
    }
    const execMs = new Float64Array(o.execRuns)
    const getMs = new Float64Array(o.execRuns)
    for (let i = 0; i < o.execRuns; i++) {
      getMs[i] = await wall(['get', 'pod', `web-${NODE}`])
      execMs[i] = await wall(['exec', `web-${NODE}`, '--', 'true'])
    }
    const exec = { runs: o.execRuns, kubectlExecMs: percentiles(execMs), kubectlGetMs: percentiles(getMs) }
    emit('exec', exec)
    say(`streams: kubectl exec p50 ${exec.kubectlExecMs.p50} ms, kubectl get p50 ${exec.kubectlGetMs.p50} ms`)

    /** bytes/s of a kubectl command's stdout, run to its end */
    const through = async (args: string[], expected: number): Promise<number> => {
      const started = performance.now()
      const child = world.kubectl.spawn(args)
      const { code } = await child.exited()
      const seconds = (performance.now() - started) / 1000
      const got = Buffer.byteLength(child.output())
      if (code !== 0 || got < expected) throw new Error(`kubectl ${args.join(' ')} exited ${String(code)} with ${got} of ${expected} bytes`)
      return got / seconds
    }
    const files = await findPodLogs(rootDir, 'default', `flood-${NODE}`)
    const { attempt } = await containerLogFile(files.podDir, 'app', false)
    const direct = async (): Promise<number> => {
      const started = performance.now()
      let got = 0
      for await (const chunk of logStream({ containerDir: join(files.podDir, 'app'), attempt, follow: false, timestamps: false, running: () => Promise.resolve(true), signal: new AbortController().signal })) got += chunk.length
      return got / ((performance.now() - started) / 1000)
    }
    const logsRate: number[] = []
    const catRate: number[] = []
    const directRate: number[] = []
    for (let i = 0; i < o.runs; i++) {
      directRate.push(await direct())
      logsRate.push(await through(['logs', `flood-${NODE}`], bytes))
      catRate.push(await through(['exec', `flood-${NODE}`, '--', 'cat', '/tmp/big'], bytes))
    }
    const mbps = (rates: number[]): number => round(Math.max(...rates) / 1e6, 2)
    const throughput = { bytes, runs: o.runs, best: { kubectlLogsMBps: mbps(logsRate), kubectlExecCatMBps: mbps(catRate), directLogReadMBps: mbps(directRate) } }
    emit('throughput', throughput)
    say(`streams: logs ${mbps(logsRate)} MB/s, cat ${mbps(catRate)} MB/s, direct read ${mbps(directRate)} MB/s`)
    load.push(loadavg()[0])
    const both = await execBothWays(streams, `flood-${NODE}`, '/tmp/exec', o.execBytes, o.runs, world.dir)
    emit('exec-both-ways', both)
    const { out, in: into } = both.cpuMsPerMB
    say(`streams: exec out ${both.outMBps.join(', ')} MB/s, in ${both.inMBps.join(', ')} MB/s (ratio ${both.ratio}); CPU ms/MB out edge ${out.edge} cloud ${out.cloud}, in edge ${into.edge} cloud ${into.cloud}`)
    load.push(loadavg()[0])
    const forward = await forwardThroughput(world, containerd.pid, o)
    emit('port-forward', forward)
    say(`streams: port-forward ${forward.best.throughTernMBps} MB/s, direct to the pod IP ${forward.best.directMBps} MB/s (ratio ${forward.best.ratio})`)
    load.push(loadavg()[0])
    const link = { options: LINK_DEFAULTS, cases: await runLinkBench(LINK_DEFAULTS, say) }
    emit('link', link)
    load.push(loadavg()[0])
    return { exec, throughput, execBothWays: both, portForward: forward, link, loadAverage1m: load.map((l) => round(l ?? 0, 2)) }
  } finally {
    for (const fn of undo.splice(0).reverse()) await fn().catch(() => undefined)
  }
}

/**
 * One file fetched over HTTP from the pod's httpd by the same client (busybox wget), through
 * `kubectl port-forward` (kubectl → API emulator → tern cloud → tunnel → tern edge → containerd's
 * port forwarder → the pod) and directly from the pod IP inside the node's network namespace, in
 * turn, `runs` times each.
 */
async function forwardThroughput(world: StreamsWorld['world'], netnsPid: number, o: StreamsBenchOptions): Promise<Record<string, unknown> & { best: { throughTernMBps: number; directMBps: number; ratio: number } }> {
  const pod = `www-${NODE}`
  await eventually(async () => (await world.kubectl.run(['exec', pod, '--', 'test', '-e', '/www/ready'])).code === 0, 300_000, 'the file to fetch written')
  const ip = (await world.kubectl.run(['get', 'pod', pod, '-o', 'jsonpath={.status.podIP}'])).stdout.trim()
  const forward = world.kubectl.spawn(['port-forward', `pod/${pod}`, ':8080'])
  try {
    const port = Number(await eventually(() => Promise.resolve(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(forward.output())?.[1]), 60_000, 'port-forward listening'))
    const fetch = async (command: string, args: string[]): Promise<number> => {
      const started = performance.now()
      const child = startChild(command, args)
      const { code } = await child.exited()
      if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${String(code)}: ${child.output()}`)
      return o.forwardBytes / ((performance.now() - started) / 1000)
    }
    const wget = (url: string): string[] => ['wget', '-q', '-O', '/dev/null', url]
    const tern: number[] = []
    const direct: number[] = []
    for (let i = 0; i < o.runs; i++) {
      tern.push(await fetch(BUSYBOX_BIN, wget(`http://127.0.0.1:${port}/big`)))
      direct.push(await fetch('nsenter', [`--net=/proc/${netnsPid}/ns/net`, '--', BUSYBOX_BIN, ...wget(`http://${ip}:8080/big`)]))
    }
    const best = (rates: number[]): number => round(Math.max(...rates) / 1e6, 2)
    const ratios = tern.map((t, i) => t / (direct[i] ?? Infinity))
    return {
      bytes: o.forwardBytes,
      runs: o.runs,
      throughTernMBps: tern.map((r) => round(r / 1e6, 2)),
      directMBps: direct.map((r) => round(r / 1e6, 2)),
      pairedRatios: ratios.map((r) => round(r, 3)),
      best: { throughTernMBps: best(tern), directMBps: best(direct), ratio: round(Math.max(...tern) / Math.max(...direct), 3) },
    }
  } finally {
    await forward.stop(5_000)
  }
}
