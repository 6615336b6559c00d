/**
 * The cloud side of the cloud bench: the Kubernetes API emulator (in this process, so devices are
 * created through its API object, fast, and every request it served can be counted), tern's CRDs
 * installed from deploy/crds/, a populated fleet of Devices, and `tern cloud` (built, from dist/)
 * as a process the bench owns.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parse, stringify } from 'yaml'
import type { Api } from '../test/support/kube/api.js'
import { CRDS, NAMESPACES, type ResourceType } from '../test/support/kube/registry.js'
import type { KubeEmulator } from '../test/support/kube/server.js'
import type { Child } from '../test/support/resources.js'
import { TERN_BIN } from '../test/support/tern.js'
import { rssMiB, startOwned, ternNodeFlags } from './servers.js'

const ROOT = resolve(import.meta.dirname, '..')

export interface DeviceTypes {
  devices: ResourceType
  models: ResourceType
}

/** Creates the CRDs of deploy/crds/ through the API (as `kubectl apply -f deploy/crds` would). */
export function installCrds(api: Api): DeviceTypes {
  const dir = join(ROOT, 'deploy/crds')
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) api.create(CRDS, '', parse(readFileSync(join(dir, file), 'utf8')))
  const devices = api.findType('devices.kubeedge.io', 'v1beta1', 'devices')
  const models = api.findType('devices.kubeedge.io', 'v1beta1', 'devicemodels')
  if (devices === undefined || models === undefined) throw new Error('the CRDs in deploy/crds did not register devices and devicemodels v1beta1')
  return { devices, models }
}

export interface Fleet {
  nodes: number
  devicesPerNode: number
  namespaces: number
}

export const nodeName = (n: number): string => `edge-${String(n).padStart(5, '0')}`

/**
 * `namespaces` namespaces with one DeviceModel `meter` each, and `nodes × devicesPerNode` Modbus
 * Devices of three properties; a node's devices are spread over the namespaces.
 */
export function populate(api: Api, types: DeviceTypes, fleet: Fleet): void {
  const namespaces = Array.from({ length: fleet.namespaces }, (_, k) => `fleet-${k}`)
  for (const ns of namespaces) {
    api.create(NAMESPACES, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    api.create(types.models, ns, {
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'DeviceModel',
      metadata: { name: 'meter', namespace: ns },
      spec: {
        protocol: 'modbus',
        properties: [
          { name: 'energy', type: 'INT', accessMode: 'ReadOnly' },
          { name: 'power', type: 'FLOAT', accessMode: 'ReadOnly', unit: 'W' },
          { name: 'relay', type: 'BOOLEAN', accessMode: 'ReadWrite' },
        ],
      },
    })
  }
  const visitor = (register: string, offset: number, dataType?: string): Record<string, unknown> => ({
    protocolName: 'modbus',
    configData: { register, offset, ...(dataType === undefined ? {} : { dataType }) },
  })
  for (let n = 0; n < fleet.nodes; n++) {
    const node = nodeName(n)
    for (let j = 0; j < fleet.devicesPerNode; j++) {
      const ns = namespaces[(n * fleet.devicesPerNode + j) % namespaces.length] as string
      api.create(types.devices, ns, {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'Device',
        metadata: { name: `meter-${n}-${j}`, namespace: ns },
        spec: {
          deviceModelRef: { name: 'meter' },
          nodeName: node,
          protocol: { protocolName: 'modbus', configData: { ip: '127.0.0.1', port: 502, slaveID: (j % 247) + 1, timeout: 500 } },
          properties: [
            { name: 'energy', collectCycle: 10_000, visitors: visitor('InputRegister', 0, 'int32') },
            { name: 'power', collectCycle: 1000, visitors: visitor('InputRegister', 2, 'float32') },
            { name: 'relay', desired: { value: 'false' }, visitors: visitor('CoilRegister', 0) },
          ],
        },
      })
    }
  }
}

export interface CloudProcess {
  child: Child
  pid: number
  hubPort: number
  /** spawn → the "cloud ready" line, ms */
  readyMs: number
  stop(): Promise<void>
}

/**
 * Writes `config` as YAML into `dir` and starts `tern cloud` on it (a child the bench owns), with
 * `nodeFlags` (e.g. the inspector's) after those of the environment.
 * Environment: TERN_NODE_FLAGS (node flags), TERN_BENCH_BIN (another built tern.js, for A/B runs),
 * TERN_BENCH_CPU_PROF (a directory for a CPU profile of the cloud process).
 */
export async function startCloud(dir: string, config: Record<string, unknown>, timeoutMs: number, nodeFlags: readonly string[] = []): Promise<CloudProcess> {
  const path = join(dir, 'cloud.yaml')
  // the metrics listener on a port of the OS's choosing (its default, 9464, may be taken by another tern)
  await writeFile(path, stringify({ http: { listen: '127.0.0.1:0' }, ...config }))
  const started = performance.now()
  const child = startOwned(process.execPath, [...ternNodeFlags(process.env.TERN_BENCH_CPU_PROF), ...nodeFlags, process.env.TERN_BENCH_BIN ?? TERN_BIN, 'cloud', '--config', path])
  let line: string
  try {
    line = await child.waitForLine((l) => l.includes('"msg":"cloud ready"'), timeoutMs)
  } catch (err) {
    await child.stop()
    throw err
  }
  const readyMs = performance.now() - started
  const ready = JSON.parse(line) as { hub?: { port?: number } }
  const hubPort = ready.hub?.port
  if (typeof hubPort !== 'number') throw new Error(`"cloud ready" without hub.port: ${line}`)
  return { child, pid: child.pid, hubPort, readyMs, stop: () => child.stop(10_000) }
}

/** Requests the emulator received in [from, to) (Date.now() times) for which `test` holds. */
export function countRequests(kube: KubeEmulator, from: number, to: number, test: (method: string, url: string, status: number) => boolean): number {
  let n = 0
  for (const r of kube.requests) if (r.receivedAt >= from && r.receivedAt < to && test(r.method, r.url, r.status)) n++
  return n
}

export const isStatusPatch = (method: string, url: string): boolean => method === 'PATCH' && /\/devices\/[^/?]+\/status(\?|$)/.test(url)

/** The soft limit on open files of this process (children inherit it); Infinity when unlimited. */
export function openFilesLimit(): number {
  const line = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]
  return line === undefined || line === 'unlimited' ? Infinity : Number(line)
}

/** The cloud's log records at warn level or above, counted by message and code. */
export function warnings(output: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const record = JSON.parse(line) as { level?: number; msg?: string; code?: string }
      if ((record.level ?? 0) < 40) continue
      const key = `${record.code ?? ''} ${record.msg ?? ''}`.trim()
      counts[key] = (counts[key] ?? 0) + 1
    } catch {
      // not a log record
    }
  }
  return counts
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** `work`, or a rejection naming `what` after `ms`. */
export async function within<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${Math.round(ms / 1000)} s`)), ms)
  })
  try {
    return await Promise.race([work, expired])
  } finally {
    clearTimeout(timer)
  }
}

/** Samples the cloud's RSS every 500 ms; `peak()` since the last `reset()`. */
export function sampleRss(cloud: CloudProcess): { reset(): void; peak(): number; stop(): void } {
  let peak = 0
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(cloud.pid))
    } catch {
      // the process is gone; the run reports the failure
    }
  }, 500)
  return {
    reset: () => (peak = 0),
    peak: () => peak,
    stop: () => clearInterval(timer),
  }
}
