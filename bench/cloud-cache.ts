/**
 * What `tern cloud` holds for Secrets no edge pod uses: the API emulator with `secrets` Secrets of
 * `secretKiB` KiB each (random data, as Helm release Secrets: gzipped, base64), no edge node
 * connected, one `tern cloud` started on it. Measured: its highest RSS (the kernel's high-water
 * mark: while it starts, the Secrets are listed, a page at a time; a build from before paging
 * parsed them all at once), then, `settleSeconds` after it is ready, its RSS and its live heap
 * (after a full GC, through the inspector, live-heap.ts). Each of the `rounds` is a fresh `tern
 * cloud` on the same emulator. A/B: TERN_BENCH_BIN names another built tern.js (cloud-world.ts).
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { NAMESPACES, SECRETS } from '../test/support/kube/registry.js'
import { startKubeEmulator } from '../test/support/kube/server.js'
import { scratchDir } from '../test/support/resources.js'
import { installCrds, sleep, startCloud, type CloudProcess } from './cloud-world.js'
import { INSPECT_FLAG, liveHeapMiB } from './live-heap.js'
import { round } from './phases.js'
import { peakRssMiB, rssMiB } from './servers.js'

export interface CloudCacheOptions {
  secrets: number
  secretKiB: number
  /** seconds after "cloud ready" before the settled readings */
  settleSeconds: number
  /** tern cloud starts, one after the other */
  rounds: number
}

export const CLOUD_CACHE_DEFAULTS: CloudCacheOptions = { secrets: 2000, secretKiB: 100, settleSeconds: 20, rounds: 2 }

export function cloudCacheEstimateSeconds(o: CloudCacheOptions): number {
  // tern cloud holding every Secret whole took 121 s to list 2,000 of 100 KiB on a loaded 2-core VM
  return 30 + (o.secrets * o.secretKiB) / 20_000 + o.rounds * (o.settleSeconds + 30 + (o.secrets * o.secretKiB) / 1000)
}

export interface CloudCacheRound {
  /** spawn → "cloud ready" (every informer listed) */
  readyMs: number
  rssPeakMiB: number
  rssSettledMiB: number
  liveHeapMiB: number
  /** RSS right after that full GC */
  rssAfterGcMiB: number
  loadAverage: number
}

export interface CloudCacheResult {
  bench: 'cloud-cache'
  secrets: number
  secretKiB: number
  /** the tern.js measured (TERN_BENCH_BIN), or this tree's build */
  bin: string
  rounds: CloudCacheRound[]
}

const NAMESPACE_COUNT = 20

export async function runCloudCacheBench(o: CloudCacheOptions, log: (line: string) => void): Promise<CloudCacheResult> {
  const dir = await scratchDir('tern-bench-cloud-cache-')
  const kube = await startKubeEmulator()
  try {
    installCrds(kube.api)
    for (let n = 0; n < NAMESPACE_COUNT; n++) kube.api.create(NAMESPACES, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `release-${n}` } })
    for (let k = 0; k < o.secrets; k++) {
      const namespace = `release-${k % NAMESPACE_COUNT}`
      const data = { release: randomBytes(o.secretKiB * 1024).toString('base64') }
      kube.api.create(SECRETS, namespace, { apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1', metadata: { name: `sh.helm.release.v1.app-${k}.v1`, namespace, labels: { owner: 'helm' } }, data })
    }
    log(`cloud-cache: ${o.secrets} Secrets of ${o.secretKiB} KiB in the emulator`)
    const secretFile = join(dir.path, 'secret')
    await writeFile(secretFile, 'cloud-bench-shared-secret-0123456789\n')
    const kubeconfig = await kube.writeKubeconfig(join(dir.path, 'kubeconfig'))
    const config = { hub: { host: '127.0.0.1', port: 0 }, auth: { mode: 'shared-secret', secretFile }, kube: { kubeconfig }, log: { level: 'info' } }
    const rounds: CloudCacheRound[] = []
    for (let r = 0; r < o.rounds; r++) rounds.push(await measure(dir.path, config, o, log))
    const result: CloudCacheResult = { bench: 'cloud-cache', secrets: o.secrets, secretKiB: o.secretKiB, bin: process.env.TERN_BENCH_BIN ?? 'dist/cli/tern.js', rounds }
    process.stdout.write(`${JSON.stringify(result)}\n`)
    return result
  } finally {
    await kube.stop()
    await dir.remove()
  }
}

async function measure(dir: string, config: Record<string, unknown>, o: CloudCacheOptions, log: (line: string) => void): Promise<CloudCacheRound> {
  let cloud: CloudProcess | undefined
  try {
    cloud = await startCloud(dir, config, 300_000, [INSPECT_FLAG])
    await sleep(o.settleSeconds * 1000)
    const rssSettledMiB = rssMiB(cloud.pid)
    const live = await liveHeapMiB(cloud.child.output())
    const reading: CloudCacheRound = { readyMs: Math.round(cloud.readyMs), rssPeakMiB: peakRssMiB(cloud.pid), rssSettledMiB, liveHeapMiB: live, rssAfterGcMiB: rssMiB(cloud.pid), loadAverage: round(loadavg()[0] ?? NaN, 2) }
    log(`cloud-cache: ready in ${reading.readyMs} ms; RSS highest ${reading.rssPeakMiB} MiB, settled ${rssSettledMiB} MiB; live heap ${live} MiB; RSS after that GC ${reading.rssAfterGcMiB} MiB; load ${reading.loadAverage}`)
    return reading
  } finally {
    await cloud?.stop()
  }
}
