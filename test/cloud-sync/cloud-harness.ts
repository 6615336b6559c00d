/**
 * The cloud controllers against the Kubernetes API emulator (real HTTP, real client-node), with
 * the repo's CRDs installed, and test-played edge nodes on in-memory wires. Everything made here
 * is undone by `close()`.
 */
import { pino, type Logger } from 'pino'
import { deviceCrd, deviceModelCrd } from '../../scripts/crds.js'
import { CloudController, type CloudControllerOptions } from '../../cloud-sync/cloud/controller.js'
import { ClientNodeKubeApi, loadKubeConfig, type KubeApi } from '../../cloud-sync/cloud/kube-api.js'
import { message, Operations, reportResource, response, Sources, type Envelope, type StateReport, type TwinReport } from '../../cloud-sync/messages.js'
import { Session, wirePair } from '../../cloud-sync/session.js'
import { call, type HttpResult } from '../support/kube/http.js'
import { typeId, type ResourceType } from '../support/kube/registry.js'
import { startKubeEmulator, type KubeEmulator, type KubeEmulatorOptions } from '../support/kube/server.js'
import { scratchDir } from '../support/resources.js'

export const DEVICES = (ns = 'default'): string => `/apis/devices.kubeedge.io/v1beta1/namespaces/${ns}/devices`
export const MODELS = (ns = 'default'): string => `/apis/devices.kubeedge.io/v1beta1/namespaces/${ns}/devicemodels`

type Obj = Record<string, unknown>

export function model(name: string, properties: string[] = ['speed', 'running'], namespace = 'default'): Obj {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name, namespace },
    spec: { protocol: 'modbus', properties: properties.map((p) => ({ name: p, type: p === 'running' ? 'BOOLEAN' : 'INT', accessMode: 'ReadWrite' })) },
  }
}

export function device(name: string, node: string | undefined, modelName = 'fan', options: { namespace?: string; properties?: Obj[] } = {}): Obj {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: options.namespace ?? 'default' },
    spec: {
      deviceModelRef: { name: modelName },
      ...(node === undefined ? {} : { nodeName: node }),
      protocol: { protocolName: 'modbus', configData: { ip: '127.0.0.1', port: 502 } },
      properties: options.properties ?? [{ name: 'speed' }, { name: 'running', desired: { value: 'true' } }],
    },
  }
}

/** A test-played edge node: records what the cloud sends, acknowledges it unless told not to. */
export class Edge {
  readonly received: Envelope[] = []
  readonly session: Session
  readonly cloudSide: Session
  autoAck = true
  readonly #waiters = new Set<() => void>()

  constructor(readonly node: string, log: Logger, resendMs = 60_000) {
    const [cloudWire, edgeWire] = wirePair()
    this.cloudSide = new Session(cloudWire, { node, source: Sources.hub, log, resendMs: 60_000 })
    this.session = new Session(edgeWire, { node, source: Sources.edge, log, resendMs })
    this.session.onMessage((m) => {
      this.received.push(m)
      if (this.autoAck) this.session.send(response(m, Sources.edge))
      for (const wake of this.#waiters) wake()
    })
  }

  ack(m: Envelope): void {
    this.session.send(response(m, Sources.edge))
  }

  /** Messages after `from`, as `operation resource` strings (a compact thing to assert). */
  ops(from = 0): string[] {
    return this.received.slice(from).map((m) => `${m.route.operation} ${m.route.resource}`)
  }

  async waitFor(test: (received: Envelope[]) => boolean, timeoutMs = 5000): Promise<void> {
    if (test(this.received)) return
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!test(this.received)) return
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`edge ${this.node}: condition not met; received ${JSON.stringify(this.ops())}`))
      }, timeoutMs)
      this.#waiters.add(check)
    })
  }

  /** Waits until `count` messages arrived in all. */
  async waitForCount(count: number, timeoutMs?: number): Promise<void> {
    await this.waitFor((r) => r.length >= count, timeoutMs)
  }

  twin(namespace: string, name: string, twin: TwinReport['twin'], timestamp = 1_767_225_600_000): Promise<Envelope> {
    return this.session.request(message({ source: Sources.edge, group: 'twin', operation: Operations.update, resource: reportResource('twin', namespace, name) }, { event_id: 'e', timestamp, twin }))
  }

  state(namespace: string, name: string, report: StateReport): Promise<Envelope> {
    return this.session.request(message({ source: Sources.edge, group: 'twin', operation: Operations.update, resource: reportResource('state', namespace, name) }, report))
  }

  close(): void {
    this.cloudSide.close()
  }
}

export interface Harness {
  kube: KubeEmulator
  cloud: CloudController
  api: KubeApi
  log: Logger
  logs: Obj[]
  kubeconfig: string
  /** the Device resource type in the emulator (for direct writes that bypass HTTP) */
  devicesType: ResourceType
  http(method: string, path: string, body?: unknown, contentType?: string): Promise<HttpResult>
  /** creates, checking for 201 */
  create(path: string, body: Obj): Promise<Obj>
  mergePatch(path: string, body: Obj): Promise<Obj>
  /** attaches a test-played edge; `resendMs` is how often it re-sends unanswered reports */
  edge(node: string, resendMs?: number): Edge
  /** Puts an object straight into the emulator's store, past validation (what an old CRD version left in etcd). */
  writeRaw(type: 'devices' | 'devicemodels', object: Obj): void
  close(): Promise<void>
}

export interface HarnessOptions {
  emulator?: KubeEmulatorOptions
  cloud?: Partial<CloudControllerOptions>
  /** more controller options, made from the emulator's kubeconfig file (e.g. a workload API) */
  cloudFromKubeconfig?: (kubeconfig: string) => Partial<CloudControllerOptions>
  /** wraps the real client-node API (fault injection) */
  wrapApi?: (api: KubeApi, kube: KubeEmulator) => KubeApi
  /** install the CRDs before starting (default true) */
  crds?: boolean
  /** start the controller (default true) */
  start?: boolean
}

export async function installCrds(kube: KubeEmulator): Promise<void> {
  for (const crd of [deviceCrd, deviceModelCrd]) {
    const res = await call(kube, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)
    if (res.status !== 201) throw new Error(`CRD not created: ${res.status} ${JSON.stringify(res.body)}`)
  }
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const kube = await startKubeEmulator(options.emulator)
  const dir = await scratchDir('tern-cloud-')
  const kubeconfig = await kube.writeKubeconfig(`${dir.path}/kubeconfig`)
  if (options.crds !== false) await installCrds(kube)
  const logs: Obj[] = []
  const log = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        logs.push(JSON.parse(line) as Obj)
        if (process.env.TERN_TEST_LOG !== undefined) process.stderr.write(line)
      },
    },
  )
  const real = new ClientNodeKubeApi(loadKubeConfig(kubeconfig), { watchTimeoutSeconds: 60 })
  const api = options.wrapApi?.(real, kube) ?? real
  const cloud = new CloudController({ api, log, informerBackoff: { initialMs: 50, maxMs: 500 }, retry: { initialMs: 50, maxMs: 500 }, syncTimeoutMs: options.crds === false ? 0 : 5000, ...options.cloud, ...options.cloudFromKubeconfig?.(kubeconfig) })
  const edges: Edge[] = []
  const http = (method: string, path: string, body?: unknown, contentType?: string): Promise<HttpResult> => call(kube, method, path, body, contentType)
  const harness: Harness = {
    kube,
    cloud,
    api,
    log,
    logs,
    kubeconfig,
    get devicesType() {
      const t = kube.api.findType('devices.kubeedge.io', 'v1beta1', 'devices')
      if (t === undefined) throw new Error('the Device CRD is not installed')
      return t
    },
    http,
    create: async (path, body) => {
      const res = await http('POST', path, body)
      if (res.status !== 201) throw new Error(`create ${path}: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body
    },
    mergePatch: async (path, body) => {
      const res = await http('PATCH', path, body, 'application/merge-patch+json')
      if (res.status !== 200) throw new Error(`patch ${path}: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body
    },
    edge: (node, resendMs) => {
      const edge = new Edge(node, log, resendMs)
      edges.push(edge)
      cloud.attach(edge.cloudSide)
      return edge
    },
    writeRaw: (plural, object) => {
      const type = kube.api.findType('devices.kubeedge.io', 'v1beta1', plural)
      if (type === undefined) throw new Error(`${plural} not installed`)
      kube.api.store.write('ADDED', typeId(type), { apiVersion: 'devices.kubeedge.io/v1beta1', ...object } as never)
    },
    close: async () => {
      for (const e of edges) e.close()
      await cloud.stop()
      await kube.stop()
      await dir.remove()
    },
  }
  if (options.start !== false) await cloud.start()
  return harness
}

/** Polls `test` until it holds (for API-server state the test cannot subscribe to). */
export async function eventually(test: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
