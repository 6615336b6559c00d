/**
 * Desired-value latency (DESIGN.md §8: kubectl patch → device register written, loopback, p50 ≤
 * 200 ms) with real processes: the API emulator (in this process), `tern cloud` on a TLS
 * CloudHub with the shipped defaults, `tern edge` with the Modbus mapper linked to it, Debian's
 * pymodbus as the device, and the real kubectl. Each run patches `speed`'s desired value and polls
 * the holding register over pymodbus's command channel every 2 ms until it holds the value.
 * Two clocks: from the kubectl invocation (includes kubectl's own start-up and discovery, as an
 * operator sees it) and from the PATCH arriving at the API server (what tern adds).
 */
import { strict as assert } from 'node:assert'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fanDevice, MODEL } from '../test/support/cloud.js'
import { kubectlFor } from '../test/support/kube/kubectl.js'
import { startKubeEmulator } from '../test/support/kube/server.js'
import { startPymodbus, type PymodbusPeer } from '../test/support/modbus.js'
import { makeTestPki } from '../test/support/pki.js'
import { scratchDir } from '../test/support/resources.js'
import { startTernEdge } from '../test/support/tern.js'
import { startCloud } from './cloud-world.js'
import { percentiles, round } from './phases.js'
import { startOwned } from './servers.js'

const ROOT = resolve(import.meta.dirname, '..')
const SECRET = 'cloud-bench-latency-secret-0123456789'

export interface DesiredLatencyOptions {
  runs: number
}

type Stats = { p50: number; p99: number; max: number; mean: number }

export interface DesiredLatencyResult {
  runs: number
  /** kubectl invoked → register holds the value */
  fromKubectlMs: Stats
  /** PATCH arrived at the API server → register holds the value */
  fromApiPatchMs: Stats
  /** kubectl invoked → kubectl exited */
  kubectlMs: Stats
  statusQps: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function stats(samples: number[]): Stats {
  const p = percentiles(Float64Array.from(samples))
  return { p50: round(p.p50, 1), p99: round(p.p99, 1), max: round(p.max, 1), mean: round(p.mean, 1) }
}

async function registerHolds(peer: PymodbusPeer, value: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const [got] = await peer.get(1, 'hr', 0, 1)
    const now = Date.now()
    if (got === value) return now
    if (now > deadline) throw new Error(`holding register 0 is ${got}, not ${value}, after ${timeoutMs} ms`)
    await sleep(2)
  }
}

export async function runDesiredLatency(o: DesiredLatencyOptions, log: (line: string) => void): Promise<DesiredLatencyResult> {
  const undo: Array<() => Promise<void>> = []
  try {
    const dir = await scratchDir('tern-bench-desired-')
    undo.push(() => dir.remove())
    const kube = await startKubeEmulator()
    undo.push(() => kube.stop())
    const kubectl = await kubectlFor(kube, dir.path)
    const crds = await kubectl.run(['apply', '-f', join(ROOT, 'deploy/crds')])
    assert.equal(crds.code, 0, crds.stderr)
    const pki = await makeTestPki(dir.path)
    const secretFile = join(dir.path, 'secret')
    await writeFile(secretFile, `${SECRET}\n`)
    const statusQps = 50
    const cloud = await startCloud(
      dir.path,
      { hub: { host: '127.0.0.1', port: 0, tls: { cert: pki.server.cert, key: pki.server.key } }, auth: { mode: 'shared-secret', secretFile }, kube: { kubeconfig: join(dir.path, 'kubeconfig') }, status: { qps: statusQps } },
      30_000,
    )
    undo.push(() => cloud.stop())
    const peer = await startPymodbus({ mode: 'tcp' })
    undo.push(() => peer.stop())
    await peer.set(1, 'ir', 0, [215])
    await peer.set(1, 'hr', 0, [0])
    const edgeDir = join(dir.path, 'edge')
    await mkdir(edgeDir)
    const edge = await startTernEdge(
      edgeDir,
      {
        node: { name: 'edge-1' },
        mqtt: { listeners: [{ host: '127.0.0.1', port: 0 }] },
        mappers: { enabled: ['modbus'] },
        cloud: { url: `wss://127.0.0.1:${cloud.hubPort}`, ca: pki.ca, secretFile },
        log: { level: 'info' },
      },
      [],
      (command, args) => startOwned(command, args),
    )
    undo.push(() => edge.stop())

    const applied = await kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${fanDevice('fan-1', 'edge-1', peer.port, '1000')}`)
    assert.equal(applied.code, 0, applied.stderr)
    await registerHolds(peer, 1000, 30_000)
    log(`cloud: desired latency, ${o.runs} kubectl patches (plus one warm-up)`)

    const fromKubectl: number[] = []
    const fromApi: number[] = []
    const kubectlMs: number[] = []
    for (let i = 0; i <= o.runs; i++) {
      const value = 1001 + i
      const patch = JSON.stringify([{ op: 'replace', path: '/spec/properties/0/desired/value', value: String(value) }])
      const t0 = Date.now()
      const ran = kubectl.run(['patch', 'device', 'fan-1', '--type', 'json', '-p', patch]).then((r) => ({ ...r, exitedAt: Date.now() }))
      const written = await registerHolds(peer, value, 15_000)
      const done = await ran
      assert.equal(done.code, 0, done.stderr)
      const arrived = kube.requests.find((r) => r.method === 'PATCH' && r.receivedAt >= t0 && /\/devices\/fan-1(\?|$)/.test(r.url))
      if (arrived === undefined) throw new Error('no PATCH of devices/fan-1 recorded by the API emulator')
      if (i === 0) continue // warm-up: kubectl's discovery cache is filled by the first run
      fromKubectl.push(written - t0)
      fromApi.push(written - arrived.receivedAt)
      kubectlMs.push(done.exitedAt - t0)
      await sleep(150 + (i % 7) * 20) // not in step with the mapper's 100 ms collect cycle
    }
    const result = { runs: o.runs, fromKubectlMs: stats(fromKubectl), fromApiPatchMs: stats(fromApi), kubectlMs: stats(kubectlMs), statusQps }
    log(`cloud: desired latency p50 ${result.fromKubectlMs.p50} ms from kubectl, ${result.fromApiPatchMs.p50} ms from the PATCH; p99 ${result.fromKubectlMs.p99} / ${result.fromApiPatchMs.p99} ms`)
    return result
  } finally {
    for (const fn of undo.reverse()) await fn()
  }
}
