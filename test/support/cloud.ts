/**
 * A cloud-sync world for end-to-end tests: the Kubernetes API emulator with tern's CRDs, `tern
 * cloud` on a TLS CloudHub, kubectl pointed at them, and `tern edge` processes linked to it, plus
 * polling helpers that read what an operator reads (`kubectl get device -o yaml`).
 */
import { strict as assert } from 'node:assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { kubectlFor, kubectlWith, type Kubectl } from './kube/kubectl.js'
import { ternCloudRules } from './kube/rbac.js'
import { startKubeEmulator, type KubeEmulator } from './kube/server.js'
import type { PymodbusPeer } from './modbus.js'
import { ask, type Connected } from './mqtt.js'
import { makeTestPki, type TestPki } from './pki.js'
import { scratchDir } from './resources.js'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js'
import { startTernCloud, startTernEdge, type Spawner, type TernCloudProcess, type TernEdgeProcess } from './tern.js'

const root = resolve(import.meta.dirname, '../..')
const SECRET = 'e2e-shared-secret-0123456789'

export { FAN_MODEL as MODEL } from './modbus.js'

export function fanDevice(name: string, node: string, modbusPort: number, desired: string): string {
  return `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${name} }
spec:
  nodeName: ${node}
  deviceModelRef: { name: fan-model }
  protocol: { protocolName: modbus, configData: { ip: 127.0.0.1, port: ${modbusPort}, slaveID: 1, timeout: 300 } }
  properties:
    - name: speed
      desired: { value: "${desired}" }
      collectCycle: 100
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 0, dataType: uint16 } }
    - name: temperature
      collectCycle: 100
      visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 0, limit: 1, scale: 0.1 } }
`
}

export interface StatusTwin {
  propertyName: string
  reported?: { value: string; metadata?: Record<string, string> }
  observedDesired?: { value: string; metadata?: Record<string, string> }
}

export interface CloudWorld {
  dir: string
  /** the emulator, when the world does not use a real cluster */
  kube?: KubeEmulator
  /** with `apiProxy`: the TCP proxy tern cloud reaches the emulator through */
  apiProxy?: TcpProxy
  kubectl: Kubectl
  pki: TestPki
  /** the running `tern cloud` (replaced by restartCloud) */
  cloud: TernCloudProcess
  /** stops `tern cloud` and starts it again on the same CloudHub port */
  restartCloud: () => Promise<void>
  secretFile: string
  undo: Array<() => Promise<void>>
}

/**
 * tern's CRDs, `tern cloud` on a TLS CloudHub, and kubectl pointed at both. The cluster is the API
 * emulator (HTTPS, kubectl as admin, tern cloud with only the RBAC rules of deploy/cloud), or the
 * real cluster of `kubeconfig`.
 */
export async function startCloudWorld(
  undo: Array<() => Promise<void>>,
  options: {
    serverIps?: readonly string[]
    qps?: number
    kubeconfig?: string
    nodes?: Record<string, number>
    streams?: Record<string, unknown>
    apiProxy?: boolean
    hub?: Record<string, unknown>
    /** tern cloud's `kube.*` settings besides the kubeconfig */
    kube?: Record<string, unknown>
    /** the emulator's bookmark interval (its default: 10 s) */
    bookmarkIntervalMs?: number
  } = {},
): Promise<CloudWorld> {
  const dir = await scratchDir()
  undo.push(() => dir.remove())
  const pki = await makeTestPki(dir.path, { serverIps: options.serverIps ?? [] })
  let kube: KubeEmulator | undefined
  let apiProxy: TcpProxy | undefined
  let kubectl: Kubectl
  let cloudKubeconfig: string
  if (options.kubeconfig === undefined) {
    // with streams: the emulator reaches "kubelets" (tern cloud's stream endpoint) with the test CA's client certificate
    const kubeletClient = options.streams === undefined ? {} : { kubeletClient: { ...pki.client, ca: pki.ca } }
    const bookmarks = options.bookmarkIntervalMs === undefined ? {} : { bookmarkIntervalMs: options.bookmarkIntervalMs }
    const emulator = await startKubeEmulator({ token: 'admin', roles: { 'tern-cloud': await ternCloudRules() }, tls: { ...pki.server, ca: pki.ca }, ...kubeletClient, ...bookmarks })
    undo.push(() => emulator.stop())
    kube = emulator
    kubectl = await kubectlFor(emulator, dir.path)
    cloudKubeconfig = await emulator.writeKubeconfig(join(dir.path, 'cloud-kubeconfig'), 'default', 'tern-cloud')
    if (options.apiProxy === true) {
      const proxy = await startTcpProxy(emulator.port)
      undo.push(() => proxy.stop())
      apiProxy = proxy
      await writeFile(cloudKubeconfig, (await readFile(cloudKubeconfig, 'utf8')).replace(`:${emulator.port}`, `:${proxy.port}`))
    }
  } else {
    // a real cluster: everything in a namespace of its own, removed afterwards
    const namespace = `tern-e2e-${process.pid}-${Date.now() % 100_000}`
    kubectl = kubectlWith(options.kubeconfig, dir.path, { namespace })
    cloudKubeconfig = options.kubeconfig
    const created = await kubectl.run(['create', 'namespace', namespace])
    assert.equal(created.code, 0, created.stderr)
    undo.push(async () => void (await kubectl.run(['delete', 'namespace', namespace, '--wait=false'])))
  }
  const crds = await kubectl.run(['apply', '-f', join(root, 'deploy/crds')])
  assert.equal(crds.code, 0, crds.stderr)
  const secretFile = join(dir.path, 'secret')
  await writeFile(secretFile, `${SECRET}\n`)
  const cloudConfig = {
    hub: { host: '127.0.0.1', port: 0, tls: { cert: pki.server.cert, key: pki.server.key }, keepaliveTimeoutMs: 3000, resendMs: 500, ...options.hub },
    auth: { mode: 'shared-secret', secretFile },
    kube: { ...options.kube, kubeconfig: cloudKubeconfig },
    status: { qps: options.qps ?? 200, burst: 50 },
    ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
    // the stream endpoint on the hub's certificate, trusting the test CA's client certificates
    ...(options.streams === undefined ? {} : { streams: { host: '127.0.0.1', port: 0, clientCA: pki.ca, advertiseAddress: '127.0.0.1', ...options.streams } }),
    log: { level: 'debug' },
  }
  const cloud = await startTernCloud(dir.path, cloudConfig)
  undo.push(() => world.cloud.stop())
  const world: CloudWorld = {
    dir: dir.path,
    ...(kube === undefined ? {} : { kube }),
    ...(apiProxy === undefined ? {} : { apiProxy }),
    kubectl,
    pki,
    cloud,
    secretFile,
    undo,
    restartCloud: async () => {
      await world.cloud.stop()
      const streams = world.cloud.streamsPort === undefined ? {} : { streams: { ...(cloudConfig as { streams?: object }).streams, port: world.cloud.streamsPort } }
      world.cloud = await startTernCloud(dir.path, { ...cloudConfig, hub: { ...cloudConfig.hub, port: world.cloud.hubPort }, ...streams })
    },
  }
  return world
}

/** `tern edge` with the Modbus mapper, linked to `hubUrl`; the same `dir` restarts the same node (its LevelDB). */
export async function startCloudEdge(
  world: CloudWorld,
  node: string,
  hubUrl: string,
  options: { spawn?: Spawner; dir?: string; nodeStatus?: Record<string, unknown>; edged?: Record<string, unknown>; cloud?: Record<string, unknown> } = {},
): Promise<TernEdgeProcess> {
  let dir = options.dir
  if (dir === undefined) {
    const scratch = await scratchDir()
    world.undo.push(() => scratch.remove())
    dir = scratch.path
  }
  const edge = await startTernEdge(
    dir,
    {
      node: { name: node, ...(options.nodeStatus === undefined ? {} : { status: options.nodeStatus }) },
      mqtt: { listeners: [{ port: 0 }] },
      mappers: { enabled: ['modbus'], heartbeatMs: 0, backoff: { initialMs: 100, maxMs: 800 } },
      cloud: { url: hubUrl, ca: world.pki.ca, secretFile: world.secretFile, heartbeatMs: 500, keepaliveTimeoutMs: 2000, resendMs: 500, backoff: { initialMs: 100, maxMs: 1000 }, ...options.cloud },
      ...(options.edged === undefined ? {} : { edged: options.edged }),
      log: { level: 'debug' },
    },
    [],
    options.spawn,
  )
  world.undo.push(() => edge.stop())
  return edge
}

export async function deviceStatus(kubectl: Kubectl, name: string): Promise<{ twins: StatusTwin[]; state?: string; spec: unknown }> {
  const got = await kubectl.run(['get', 'device', name, '-o', 'yaml'])
  assert.equal(got.code, 0, got.stderr)
  const doc = parse(got.stdout) as { spec: unknown; status?: { twins?: StatusTwin[]; state?: string } }
  return { twins: doc.status?.twins ?? [], ...(doc.status?.state === undefined ? {} : { state: doc.status.state }), spec: doc.spec }
}

/** Polls `kubectl get device -o yaml` until `test` holds on its status. */
export async function statusUntil(kubectl: Kubectl, name: string, test: (twins: Map<string, StatusTwin>, state: string | undefined) => boolean, what: string, timeoutMs = 20_000): Promise<Map<string, StatusTwin>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    const status = await deviceStatus(kubectl, name)
    const twins = new Map(status.twins.map((t) => [t.propertyName, t]))
    last = status
    if (test(twins, status.state)) return twins
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last)}`)
}

export async function registerUntil(peer: PymodbusPeer, value: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: number[] = []
  while (Date.now() < deadline) {
    last = await peer.get(1, 'hr', 0, 1)
    if (last[0] === value) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`holding register 0 is ${JSON.stringify(last)}, not ${value}`)
}

/** Asks the edge's twin for the node's members until `test` holds on their names; fails after `timeoutMs`. */
export async function memberUntil(app: Connected, node: string, test: (names: string[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let names: string[] = []
  while (Date.now() < deadline) {
    const answer = await ask(app, `$hw/events/node/${node}/membership/get`)
    names = (JSON.parse(answer.payload) as { devices: Array<{ name: string }> }).devices.map((d) => d.name)
    if (test(names)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}; members: ${JSON.stringify(names)}`)
}

/** Polls `probe` until `test` holds on what it gives, for at most `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, test: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  while (Date.now() < deadline) {
    last = await probe()
    if (last !== undefined && test(last)) return last
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`)
}
