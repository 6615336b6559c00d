/**
 * The edge's cloud link, composed: EdgeHub dials CloudHub; each session is handed to EdgeSync
 * (downstream: the cloud's device set → the twin's membership), to WorkloadSync (downstream: the
 * node's pods, ConfigMaps and Secrets → the store edged's cloud source reads), to the Outbox (upstream: twin
 * and state changes → Device status) and to the report queue the NodeReporter fills (the node's
 * own status → its Node, and edged's pod statuses and events → Pods and Events). Two phases, because the outbox marks are a hook of the twin
 * and must be loaded before it: construct and `prepare()` before `twin.start()`, then `start(twin)`.
 */
import type { Logger } from 'pino'
import type { AnyLevel } from '../../twin/store.js'
import { LevelStore } from '../../twin/store.js'
import type { DeviceTwin } from '../../twin/device-twin.js'
import type { TwinSpaces } from '../../twin/stored-device.js'
import type { DeviceTopicLayout } from '../../schemas/topics.js'
import type { Bus } from '../../broker/bus.js'
import type { CloudLinkConfig, NodeStatusConfig } from '../../schemas/config.js'
import type { CertificateInfo, Renewer } from '../identity/renewer.js'
import { EdgeHub } from '../link/edge-hub.js'
import { EdgeTunnel, type EdgeTunnelOptions } from '../streams/edge-tunnel.js'
import type { CloudObjectSpaces } from './cloud-objects.js'
import { EdgeSync } from './edge-sync.js'
import { LinkStatus } from './link-status.js'
import { nodeProbe } from './node-probe.js'
import { NodeReporter } from './node-reporter.js'
import type { RuntimeState } from './node-status.js'
import { PodReports } from './pod-reports.js'
import { EdgeNodeSpec, type NodeSpecSpaces } from './node-spec.js'
import { NodeAdmission } from '../../edged/admission.js'
import { ReportQueue, type ReportSpaces } from './report-queue.js'
import { Outbox } from './outbox.js'
import { WorkloadSync } from './workload-sync.js'
import { NODE_STATUS_ROUTE, Operations } from '../messages.js'
import { OutboxMarks } from './outbox-marks.js'

export interface EdgeCloudOptions {
  db: AnyLevel
  /** the twin's store, opened with the `outbox` space */
  store: LevelStore<TwinSpaces>
  link: CloudLinkConfig
  /** the node's certificate and key (PEM, from `link.cert` / `link.key`), renewed over the link */
  identity?: { cert: string; key: string }
  /** without `identity` (development): the shared secret */
  secret?: string
  /** PEM of `link.ca`, read by the caller */
  ca?: Buffer
  nodeName: string
  nodeStatus: NodeStatusConfig
  /** edged.nodeIP: the Node's InternalIP when set */
  nodeIP?: string
  /** the node's data directory: its filesystem is the node's disk in the status */
  dataDir: string
  ternVersion: string
  /** the container runtime's state for the node status, once edged runs */
  runtime?: () => RuntimeState | undefined
  layout: DeviceTopicLayout
  fsync: boolean
  /** the node's bus, where the link's state is published (retained) */
  bus: Pick<Bus, 'publish'>
  log: Logger
}

export class EdgeCloud {
  /** the twin's `changes` hook */
  readonly marks: OutboxMarks
  /** edged's admission, fed the Node spec and labels the cloud sends and the allocatable the node reports */
  readonly admission: NodeAdmission
  readonly #o: EdgeCloudOptions
  #sync: EdgeSync | undefined
  #workloads: WorkloadSync | undefined
  #outbox: Outbox | undefined
  #hub: EdgeHub | undefined
  #reports: ReportQueue | undefined
  #reporter: NodeReporter | undefined
  #renewer: Renewer | undefined
  #pods: PodReports | undefined
  #tunnel: EdgeTunnel | undefined
  #internalIP: string | undefined
  readonly #linked: Array<() => void> = []

  constructor(options: EdgeCloudOptions) {
    this.#o = options
    this.marks = new OutboxMarks({ store: options.store, log: options.log })
    this.admission = new NodeAdmission({ name: options.nodeName, maxPods: options.nodeStatus.maxPods })
  }

  /** Loads the outbox marks; before `twin.start()`. */
  async prepare(): Promise<void> {
    await this.marks.start()
  }

  /** Restores the last device set the cloud sent (offline autonomy), then starts dialling. */
  async start(twin: DeviceTwin): Promise<void> {
    const { db, link, log } = this.#o
    this.#sync = new EdgeSync({
      store: new LevelStore<CloudObjectSpaces>(db, ['meta'], { prefix: 'cloud-', sync: this.#o.fsync }),
      nodeName: this.#o.nodeName,
      layout: this.#o.layout,
      log,
      onChange: (devices) => twin.setMembers(devices),
    })
    const held = await this.#sync.start()
    if (held !== undefined) await twin.setMembers(held)
    const workloads = new WorkloadSync({ db, nodeName: this.#o.nodeName, fsync: this.#o.fsync, log })
    this.#workloads = workloads
    await workloads.start()
    this.#outbox = new Outbox({ marks: this.marks, twin, log, retryMs: link.resendMs })
    this.#outbox.start()
    const reports = new ReportQueue({ store: new LevelStore<ReportSpaces>(db, ['reports'], { prefix: 'cloud-', sync: this.#o.fsync }), log, retryMs: link.resendMs })
    this.#reports = reports
    await reports.start()
    this.#pods = new PodReports({ queue: reports, node: this.#o.nodeName, log })
    const nodeSpec = new EdgeNodeSpec({ store: new LevelStore<NodeSpecSpaces>(db, ['nodespec'], { prefix: 'cloud-', sync: this.#o.fsync }), node: this.#o.nodeName, admission: this.admission, log })
    await nodeSpec.start()
    const statusLog = log.child({ part: 'node-status' })
    const reporter = new NodeReporter({
      node: this.#o.nodeName,
      config: this.#o.nodeStatus,
      ternVersion: this.#o.ternVersion,
      queue: reports,
      measure: nodeProbe({ dataDir: this.#o.dataDir, ...(this.#o.nodeIP === undefined ? {} : { nodeIP: this.#o.nodeIP }), log: statusLog }),
      ...(this.#o.runtime === undefined ? {} : { runtime: this.#o.runtime }),
      onReport: (report) => {
        // admission weighs pods against the allocatable the Node shows (kubectl describe node)
        this.admission.allocatable = report.allocatable
        this.#internalIP = report.addresses.find((a) => a.type === 'InternalIP')?.address
      },
      log: statusLog,
    })
    this.#reporter = reporter
    reporter.start()
    // measured before edged admits its first pod
    await reporter.measured()
    const sync = this.#sync
    const outbox = this.#outbox
    const status = new LinkStatus({ bus: this.#o.bus, node: this.#o.nodeName, log })
    this.#hub = new EdgeHub({
      url: link.url,
      node: this.#o.nodeName,
      ...(this.#o.identity === undefined ? {} : { identity: this.#o.identity }),
      ...(this.#o.secret === undefined ? {} : { secret: this.#o.secret }),
      ...(this.#o.ca === undefined ? {} : { ca: this.#o.ca }),
      heartbeatMs: link.heartbeatMs,
      keepaliveTimeoutMs: link.keepaliveTimeoutMs,
      resendMs: link.resendMs,
      backoff: link.backoff,
      log,
      onSession: (session) => {
        sync.attach(session)
        workloads.attach(session)
        nodeSpec.attach(session)
        outbox.attach(session)
        reports.attach(session)
        reporter.attach(session)
        status.linked(true)
        session.onClose(() => status.linked(false))
        this.#tunnel?.attach(session)
        for (const listener of this.#linked) {
          try {
            listener()
          } catch (err) {
            log.error({ err }, 'a listener of the cloud link threw')
          }
        }
      },
    })
    this.#renewer = await this.#makeRenewer(this.#hub, (info) => status.certificate(info))
    if (this.#renewer === undefined) status.publish()
    else status.certificate(this.#renewer.info)
    await this.#hub.start()
    this.#renewer?.start()
  }

  /** With a node certificate: its renewer (loaded only then). */
  async #makeRenewer(hub: EdgeHub, onRenewed: (info: CertificateInfo) => void): Promise<Renewer | undefined> {
    const { identity, ca, link } = this.#o
    if (identity === undefined || ca === undefined || link.cert === undefined || link.key === undefined) return undefined
    const [{ Renewer }, { X509Certificate }] = await Promise.all([import('../identity/renewer.js'), import('node:crypto')])
    const files = { cert: link.cert, key: link.key }
    return new Renewer({ hub, node: this.#o.nodeName, files, ca: new X509Certificate(ca), renewAt: link.renewAt, log: this.#o.log, onRenewed }, new X509Certificate(identity.cert))
  }

  /** The InternalIP of the node's last measured status (undefined: it has none): pods' hostIP, as the kubelet takes it from its Node. */
  get internalIP(): string | undefined {
    return this.#internalIP
  }

  /** The cloud's pods, ConfigMaps and Secrets for this node, once started (edged's cloud source). */
  get workloads(): WorkloadSync | undefined {
    return this.#workloads
  }

  /**
   * Edged finished terminating a pod: when the cloud is deleting it, its final delete goes up
   * through the report queue (persisted, re-sent until the cloud answers).
   */
  /** The node's state changed outside the reporter's measurement (the container runtime's): the Node shows it now, not at the next update. */
  nodeStatusChanged(): void {
    this.#reporter?.remeasure()
  }

  podTerminated(pod: { namespace: string; name: string; uid: string }): void {
    const final = this.#workloads?.finalDelete(pod)
    const reports = this.#reports
    if (final === undefined || reports === undefined) return
    reports.put(`pod-delete/${final.resource}`, { ...NODE_STATUS_ROUTE, operation: Operations.delete, ...final }).catch((err: unknown) => this.#o.log.error({ err, pod: final.resource }, 'cannot queue the final delete of a pod'))
  }

  /** `listener` runs on every new session with the cloud, after the reports waiting were handed to it. */
  onLinked(listener: () => void): void {
    this.#linked.push(listener)
  }

  /** Edged's status and event hooks: pods from the API server reported to the cloud (after `start`). */
  get pods(): PodReports | undefined {
    return this.#pods
  }

  /**
   * Serves kubectl logs/exec/port-forward from now on: a stream tunnel beside every session
   * (cloud-sync/streams/edge-tunnel.ts), the first one at once when a session is open.
   */
  serveStreams(serve: EdgeTunnelOptions['serve']): void {
    const hub = this.#hub
    if (hub === undefined || this.#tunnel !== undefined) throw new Error('EdgeCloud.serveStreams() needs a started EdgeCloud, once')
    const { link, secret, ca, nodeName, log } = this.#o
    this.#tunnel = new EdgeTunnel({
      url: link.url,
      node: nodeName,
      projectId: hub.projectId,
      credentials: () => ({ ...(hub.identity === undefined ? {} : { identity: hub.identity }), ...(secret === undefined ? {} : { secret }) }),
      ...(ca === undefined ? {} : { ca }),
      serve,
      log,
    })
    const session = hub.session
    if (session !== undefined) this.#tunnel.attach(session)
  }

  /** The node certificate in use (undefined in shared-secret mode). */
  get certificate(): CertificateInfo | undefined {
    return this.#renewer?.info
  }

  get connected(): boolean {
    return this.#hub?.connected === true
  }

  /** What waits for the cloud: twin and state changes (outbox marks) and node and pod reports not yet acknowledged. */
  get outbox(): { changes: number; reports: number } {
    return { changes: this.marks.size, reports: this.#reports?.size ?? 0 }
  }

  async stop(): Promise<void> {
    this.#tunnel?.stop()
    this.#renewer?.stop()
    await this.#reporter?.stop()
    await this.#hub?.stop()
    await this.#reports?.stop()
    await this.#outbox?.stop()
    await this.#workloads?.stop()
    await this.#sync?.stop()
  }
}
