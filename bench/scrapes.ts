/**
 * What a pile of scrapes of `tern edge`'s /metrics costs the clients of its broker: the built tern
 * edge with N devices (twin.ts's node), an MQTT client on its bus that publishes a QoS 0 message to
 * a topic it subscribes to every `probeMs` and times each round trip, and `bursts` times `scrapes`
 * GET /metrics sent at once, each on its own connection, by a process of their own (as many
 * Prometheus servers, dashboards or a careless script would). Reported: the round trip before the
 * bursts (quiet) and while a burst is being answered (p50/p99/max; the max is the longest the broker
 * kept the probe waiting, i.e. held its event loop), how long a burst took to be answered, and tern's
 * CPU time per burst. A/B: TERN_BENCH_BIN names another built tern.js (twin.ts startNode).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import mqtt from 'mqtt'
import { stringify } from 'yaml'
import { freePort, scratchDir } from '../test/support/resources.js'
import { percentiles } from './phases.js'
import { cpuSeconds, startOwned } from './servers.js'
import { manifests, startNode } from './twin.js'

export interface ScrapesOptions {
  devices: number
  /** GET /metrics sent at once */
  scrapes: number
  bursts: number
  /** the probe's interval, ms */
  probeMs: number
  /** seconds of probing before the bursts */
  quiet: number
}

export const SCRAPES_DEFAULTS: ScrapesOptions = { devices: 1000, scrapes: 128, bursts: 10, probeMs: 5, quiet: 5 }

export function scrapesEstimateSeconds(o: ScrapesOptions): number {
  return 30 + o.quiet + o.bursts * 3
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function runScrapesBench(o: ScrapesOptions, log: (line: string) => void): Promise<unknown> {
  const loadBefore = loadavg()[0] ?? 0
  const dir = await scratchDir('tern-bench-scrapes-')
  try {
    const port = await freePort()
    await mkdir(join(dir.path, 'devices'))
    await writeFile(join(dir.path, 'devices', 'meters.yaml'), manifests(o.devices))
    await writeFile(join(dir.path, 'tern.yaml'), stringify({ node: { name: 'bench' }, dataDir: join(dir.path, 'data'), twin: { manifestsDir: join(dir.path, 'devices') }, mqtt: { listeners: [{ port }] }, http: { listen: '127.0.0.1:0' } }))
    const node = await startNode(dir.path, undefined)
    const scraper = startOwned(process.execPath, ['--input-type=module', '-e', SCRAPER, String(node.httpPort), String(o.scrapes)])
    const probe = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'scrapes-probe', reconnectPeriod: 0 })
    try {
      await scraper.waitForLine((l) => l === 'ready')
      await probe.subscribeAsync('bench/probe', { qos: 0 })
      // each round trip goes to the phase its message was sent in
      const sent = new Map<number, { at: number; phase: number[] }>()
      const quiet: number[] = []
      const busy: number[] = []
      let phase = quiet
      probe.on('message', (_topic, payload) => {
        const s = sent.get(Number(payload.toString()))
        if (s === undefined) return
        s.phase.push(performance.now() - s.at)
        sent.delete(Number(payload.toString()))
      })
      let seq = 0
      const probing = setInterval(() => {
        sent.set(++seq, { at: performance.now(), phase })
        probe.publish('bench/probe', String(seq), { qos: 0 })
      }, o.probeMs)
      await sleep(o.quiet * 1000)
      const bursts: Array<{ ms: number; codes: Record<string, number>; bytes: number; distinct: number; cpuMs: number }> = []
      let answered = 0
      for (let i = 0; i < o.bursts; i++) {
        const cpu0 = cpuSeconds(node.pid)
        phase = busy
        const reply = scraper.waitForLine((l) => l.startsWith('{') && (JSON.parse(l) as { burst: number }).burst === i + 1, 60_000)
        process.kill(scraper.pid, 'SIGUSR2')
        const r = JSON.parse(await reply) as { ms: number; codes: Record<string, number>; bytes: number; distinct: number }
        phase = quiet
        const cpuMs = Math.round((cpuSeconds(node.pid) - cpu0) * 1000)
        bursts.push({ ...r, cpuMs })
        answered += r.codes['200'] ?? 0
        log(`scrapes: burst ${i + 1}: ${o.scrapes} scrapes answered in ${r.ms} ms (${JSON.stringify(r.codes)}, ${r.distinct} different answers), tern CPU ${cpuMs} ms`)
        await sleep(1000)
      }
      clearInterval(probing)
      await sleep(500)
      const result = {
        bench: 'scrapes',
        bin: process.env.TERN_BENCH_BIN ?? 'dist/cli/tern.js',
        devices: o.devices,
        scrapes: o.scrapes,
        bursts: o.bursts,
        bodyBytes: Math.round(bursts.reduce((n, b) => n + b.bytes, 0) / Math.max(1, answered)),
        probeMs: o.probeMs,
        quietRoundTripMs: percentiles(Float64Array.from(quiet)),
        burstRoundTripMs: percentiles(Float64Array.from(busy)),
        lostProbes: sent.size,
        burstAnsweredMs: percentiles(Float64Array.from(bursts.map((b) => b.ms))),
        distinctAnswersPerBurst: percentiles(Float64Array.from(bursts.map((b) => b.distinct))),
        ternCpuMsPerBurst: percentiles(Float64Array.from(bursts.map((b) => b.cpuMs))),
        loadAverage: { before: Math.round(loadBefore * 100) / 100, after: Math.round((loadavg()[0] ?? 0) * 100) / 100 },
        runs: bursts,
      }
      process.stdout.write(`${JSON.stringify({ ...result, runs: undefined })}\n`)
      return result
    } finally {
      await probe.endAsync()
      await scraper.stop(3000)
      await node.stop()
    }
  } finally {
    await dir.remove()
  }
}

/**
 * At every SIGUSR2, N GET /metrics at once, each on its own connection; prints the burst's number,
 * wall time, status counts, bytes and how many different answers came (each collection's differ:
 * the heap in use is among the samples), a floor on the collections the burst cost.
 */
const SCRAPER = `
import { createHash } from 'node:crypto'
import { request } from 'node:http'
const [port, n] = process.argv.slice(1).map(Number)
let burst = 0
process.on('SIGUSR2', async () => {
  const t0 = performance.now()
  let bytes = 0
  const bodies = new Set()
  const scrapes = Array.from({ length: n }, () => new Promise((ok) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      const hash = createHash('sha1')
      res.on('data', (chunk) => (bytes += chunk.length, hash.update(chunk)))
      res.once('end', () => (bodies.add(hash.digest('hex')), ok(res.statusCode)))
    })
    req.once('error', () => ok(0))
    req.end()
  }))
  const codes = {}
  for (const code of await Promise.all(scrapes)) codes[code] = (codes[code] ?? 0) + 1
  console.log(JSON.stringify({ burst: ++burst, ms: Math.round(performance.now() - t0), codes, bytes, distinct: bodies.size }))
})
setInterval(() => {}, 1 << 30)
console.log('ready')
`
