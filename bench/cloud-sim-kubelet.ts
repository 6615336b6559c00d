/**
 * What a simulated edge node's kubelet side sends for the cloud workloads bench (cloud-sim.ts runs
 * one per node on the node's session), as tern's edge does it:
 *
 * - **Node status**: the report node-status.ts builds (from fixed measurements of a small gateway),
 *   sent at every connect (NodeReporter.attach) and then every `statusSeconds`, the first one at a
 *   random point of that period (nodes that connected together do not report together);
 * - **pods**: the workload resync and each pod `update`/`delete` are acknowledged at once (the
 *   edge acknowledges after its LevelDB write), and every pod it has not reported yet is reported
 *   Running (`<ns>/podstatus/<name>`, the status edged builds for a running pod of its containers);
 * - both go through the report queue's rules (report-queue.ts): one message per key in flight, the
 *   key dropped once answered with `response` or a final refusal, retried after `resendMs` on
 *   another error, kept for the next session when the link closes.
 *
 * Nothing else is sent: no pod events (edged would record Scheduled/Pulled/Created/Started ones,
 * which go to their own budget, `events.qps`) and no status changes after Running.
 */
import type { NodeStatusConfig } from '../schemas/config.js'
import type { CloudPod } from '../schemas/workloads.js'
import type { NodeWorkloadSet } from '../cloud-sync/messages.js'
import { message, NODE_STATUS_ROUTE, nodeStatusResource, Operations, parseWorkloadResource, response, Sources, WORKLOAD_RESYNC_RESOURCE, type Envelope } from '../cloud-sync/messages.js'
import { nodeStatusReport, type NodeMeasurements } from '../cloud-sync/edge/node-status.js'
import { podReportResource, POD_REPORT_ROUTE, type PodStatusReport } from '../cloud-sync/pod-messages.js'
import type { Session } from '../cloud-sync/session.js'

/** The error codes a re-send cannot change (report-queue.ts's FINAL). */
const FINAL = new Set(['CLOUD_NOT_OWNER', 'CLOUD_MESSAGE_INVALID', 'CLOUD_STATUS_WRITE_FAILED'])

const STATUS_CONFIG: NodeStatusConfig = { updateSeconds: 10, reportSeconds: 300, maxPods: 110, memoryAvailableMiB: 100, diskAvailablePercent: 10, inodesFreePercent: 5, pidsAvailablePercent: 5 }

export interface KubeletCounters {
  nodeStatusSent: number
  nodeStatusAcked: number
  /** pods reported Running and acknowledged */
  podsRunning: number
  podReportsSent: number
  /** error answers, by code */
  refused: Record<string, number>
}

interface Report {
  resource: string
  source: string
  group: string
  content: unknown
}

/** One simulated node's kubelet side. */
export class SimKubelet {
  readonly #node: string
  readonly #index: number
  readonly #statusMs: number
  readonly #resendMs: number
  readonly #c: KubeletCounters
  /** key → the report not yet answered */
  readonly #queue = new Map<string, Report>()
  readonly #flying = new Set<string>()
  /** pod resource → uid of the pod held */
  readonly #pods = new Map<string, string>()
  /** pod uids reported Running and acknowledged */
  readonly #reported = new Set<string>()
  #session: Session | undefined
  #ready = false
  #nextPodIP = 0
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(options: { node: string; index: number; statusSeconds: number; resendMs: number; counters: KubeletCounters }) {
    this.#node = options.node
    this.#index = options.index
    this.#statusMs = options.statusSeconds * 1000
    this.#resendMs = options.resendMs
    this.#c = options.counters
  }

  /** The Node status was acknowledged on the current session. */
  get ready(): boolean {
    return this.#ready && this.#session?.open === true
  }

  get podsHeld(): number {
    return this.#pods.size
  }

  attach(session: Session): void {
    this.#session = session
    this.#ready = false
    session.onClose(() => {
      if (this.#session === session) this.#session = undefined
    })
    this.#putStatus()
    for (const key of this.#queue.keys()) this.#send(key)
    if (this.#timer === undefined) this.#timer = setTimeout(() => this.#tick(), Math.random() * this.#statusMs)
  }

  /** Handles a workload message (acknowledged); false for any other message. */
  downstream(session: Session, m: Envelope): boolean {
    if (m.route.operation === Operations.resync && m.route.resource === WORKLOAD_RESYNC_RESOURCE) {
      const set = m.content as NodeWorkloadSet
      this.#pods.clear()
      for (const pod of set.pods) this.#pods.set(podKey(pod), pod.metadata.uid ?? '')
      session.send(response(m, Sources.edge))
      for (const pod of set.pods) this.#runs(pod)
      return true
    }
    const target = parseWorkloadResource(m.route.resource)
    if (target === undefined) return false
    if (target.kind === 'pod' && m.route.operation === Operations.update) {
      const pod = m.content as CloudPod
      this.#pods.set(m.route.resource, pod.metadata.uid ?? '')
      this.#runs(pod)
    } else if (target.kind === 'pod' && m.route.operation === Operations.delete) {
      this.#pods.delete(m.route.resource)
    }
    session.send(response(m, Sources.edge))
    return true
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  #tick(): void {
    if (this.#stopped) return
    if (this.#session?.open === true) this.#putStatus()
    this.#timer = setTimeout(() => this.#tick(), this.#statusMs)
  }

  #putStatus(): void {
    const report = nodeStatusReport(measurements(this.#node, this.#index), { config: STATUS_CONFIG, ternVersion: '0.1.0', runtime: { ready: true, version: 'containerd://1.6.20' } })
    this.#put('node-status', { ...NODE_STATUS_ROUTE, resource: nodeStatusResource(this.#node), content: report })
  }

  #runs(pod: CloudPod): void {
    const uid = pod.metadata.uid ?? ''
    if (this.#reported.has(uid) || pod.metadata.deletionTimestamp !== undefined) return
    const { namespace, name } = pod.metadata
    const content: PodStatusReport = { uid, status: runningStatus(pod, this.#index, this.#nextPodIP++) }
    this.#put(`podstatus/${namespace}/${name}`, { ...POD_REPORT_ROUTE, resource: podReportResource('podstatus', namespace, name), content })
  }

  #put(key: string, report: Report): void {
    this.#queue.set(key, report)
    this.#send(key)
  }

  #send(key: string): void {
    const session = this.#session
    const report = this.#queue.get(key)
    if (this.#stopped || session?.open !== true || report === undefined || this.#flying.has(key)) return
    this.#flying.add(key)
    const pod = key.startsWith('podstatus/')
    if (pod) this.#c.podReportsSent++
    else this.#c.nodeStatusSent++
    session.request(message({ source: report.source, group: report.group, operation: Operations.update, resource: report.resource }, report.content)).then(
      (answer) => {
        this.#flying.delete(key)
        const code = answer.route.operation === Operations.error ? String((answer.content as { code?: unknown } | null)?.code) : undefined
        if (code !== undefined) this.#c.refused[code] = (this.#c.refused[code] ?? 0) + 1
        if (code !== undefined && !FINAL.has(code)) {
          setTimeout(() => this.#send(key), this.#resendMs)
          return
        }
        const newer = this.#queue.get(key) !== report
        if (!newer) this.#queue.delete(key)
        if (code === undefined && pod) {
          this.#reported.add((report.content as PodStatusReport).uid)
          this.#c.podsRunning++
        }
        if (code === undefined && !pod) {
          this.#c.nodeStatusAcked++
          if (session === this.#session) this.#ready = true
        }
        if (newer) this.#send(key)
      },
      () => this.#flying.delete(key), // the link closed: sent again on the next session
    )
  }
}

function podKey(pod: CloudPod): string {
  return `${pod.metadata.namespace}/pod/${pod.metadata.name}`
}

/** A small gateway's measurements (4 cores, 4 GiB, 32 GB disk), the same at every report. */
function measurements(node: string, index: number): NodeMeasurements {
  return {
    cpus: 4,
    memoryTotalBytes: 4 * 2 ** 30,
    memoryAvailableBytes: 3 * 2 ** 30,
    disk: { totalBytes: 32e9, availableBytes: 20e9, inodes: 2_000_000, inodesFree: 1_800_000 },
    pids: { max: 4_194_304, running: 180 },
    hostname: node,
    internalIP: address(index, 0),
    system: {
      machineID: node.padEnd(32, '0').slice(0, 32),
      systemUUID: '',
      bootID: '',
      kernelVersion: '6.1.0-rpi7-rpi-v8',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      operatingSystem: 'linux',
      architecture: 'arm64',
    },
  }
}

/** 10.<x>.<y>.<z>: a node's address (host 0) or its pods' (1…). */
function address(node: number, host: number): string {
  return `10.${(node >> 8) & 255}.${node & 255}.${host + 1}`
}

/** The status edged reports for a pod whose containers all run (kubelet's generateAPIPodStatus). */
function runningStatus(pod: CloudPod, node: number, nth: number): PodStatusReport['status'] {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  const containers = ((pod.spec as { containers?: Array<{ name: string; image: string }> }).containers ?? []).map((c, i) => ({
    name: c.name,
    image: c.image,
    imageID: `${c.image}@sha256:${'0'.repeat(64)}`,
    containerID: `containerd://${(pod.metadata.uid ?? '').replace(/-/g, '')}${i}`,
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: now } },
    lastState: {},
  }))
  const condition = (type: string): { type: string; status: 'True'; lastTransitionTime: string; lastProbeTime: null } => ({ type, status: 'True', lastTransitionTime: now, lastProbeTime: null })
  const podIP = `10.${128 + ((node >> 8) & 127)}.${node & 255}.${(nth % 250) + 2}`
  return {
    phase: 'Running',
    conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition),
    hostIP: address(node, 0),
    hostIPs: [{ ip: address(node, 0) }],
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: now,
    containerStatuses: containers,
    qosClass: 'BestEffort',
  }
}
