/**
 * Simulated edge nodes for the cloud bench: each is a real EdgeHub (TLS WebSocket, shared secret,
 * keepalives, re-sends) whose sessions are served by a stand-in for the edge's cloud-sync parts:
 *
 * - downstream: a `resync` is acknowledged at once and its device set becomes the node's devices;
 *   `update`/`delete` are acknowledged (the real edge acks after its LevelDB write);
 * - upstream: twin reports as the edge outbox sends them (cloud-sync/edge/outbox.ts): one report
 *   per device in flight, at most `window` devices in flight per node, values that change while a
 *   report is in flight are coalesced into the next one.
 *
 * With `kubelet`, each node also does what tern's edge sends for its Node and its pods
 * (cloud-sim-kubelet.ts): Node status reports, and pods bound to it reported Running.
 *
 * Twin updates arrive at the devices at an offered total rate (round-robin over every device), or,
 * with rate 0, every device always has a newer value (the next report leaves as soon as the last
 * one is acknowledged). Re-sends are the Session's (after `resendMs`, then at doubling intervals),
 * counted by the Session.
 */
import { randomUUID } from 'node:crypto'
import { pino } from 'pino'
import { EdgeHub } from '../cloud-sync/link/edge-hub.js'
import { message, reportResource, response, RESYNC_RESOURCE, Sources, validateTwinReport, type Envelope, type TwinReport } from '../cloud-sync/messages.js'
import type { Session } from '../cloud-sync/session.js'
import { SimKubelet, type KubeletCounters } from './cloud-sim-kubelet.js'

export interface SimOptions {
  /** `wss://127.0.0.1:<port>` */
  url: string
  /** CA certificate (PEM text) of CloudHub's certificate */
  ca?: string
  secret: string
  nodes: readonly string[]
  /** EdgeHub re-send interval, ms (edge default 5000) */
  resendMs: number
  /** edge outbox window: devices with a report in flight per node (edge default 256) */
  window: number
  /** also report Node status every `statusSeconds` and pods Running (cloud-sim-kubelet.ts) */
  kubelet?: { statusSeconds: number }
}

export interface SimCounters {
  at: number
  /** nodes whose session is open */
  connected: number
  /** nodes that acknowledged a resync on their current session */
  resynced: number
  /** devices in the resyncs acknowledged (current sessions) */
  devices: number
  sessionsOpened: number
  sessionsLost: number
  /** twin value changes at the devices (the offered load) */
  updates: number
  /** reports sent for the first time */
  sent: number
  acked: number
  /** error answers, by code */
  refused: Record<string, number>
  /** requests that ended with the link (CLOUD_LINK_CLOSED) */
  linkFailures: number
  /** re-sends made so far, from the ages of answered and pending reports */
  resends: number
  inFlight: number
  downstreamAcked: number
  /** with `kubelet`: nodes whose Node status was acknowledged on their current session, pods held, and the reports' counts */
  kubelet?: KubeletCounters & { nodesReady: number; podsHeld: number }
}

interface SimDevice {
  readonly namespace: string
  readonly name: string
  readonly node: SimNode
  /** a value newer than the last one reported */
  dirty: boolean
  flying: boolean
  value: number
}

interface SimNode {
  readonly name: string
  readonly hub: EdgeHub
  readonly kubelet: SimKubelet | undefined
  session: Session | undefined
  resynced: boolean
  devices: SimDevice[]
  flying: number
  /** dirty devices waiting for a window slot */
  ready: SimDevice[]
}

const MAX_SAMPLES = 1_000_000

export class EdgeSimulator {
  readonly #o: SimOptions
  readonly #nodes = new Map<string, SimNode>()
  readonly #all: SimDevice[] = []
  readonly #c: Omit<SimCounters, 'at' | 'connected' | 'resynced' | 'devices' | 'resends' | 'inFlight'> = {
    sessionsOpened: 0,
    sessionsLost: 0,
    updates: 0,
    sent: 0,
    acked: 0,
    refused: {},
    linkFailures: 0,
    downstreamAcked: 0,
  }
  /** re-sent frames (the Session's count) of sessions that have closed */
  #resendsDone = 0
  #cursor = 0
  #saturate = false
  #timer: NodeJS.Timeout | undefined
  /** report → answer latencies, ms, recorded while `#recording` */
  readonly #samples = new Float64Array(MAX_SAMPLES)
  #sampleCount = 0
  #recording = false
  readonly #resyncWaiters: Array<() => void> = []
  readonly #kubelet: KubeletCounters = { nodeStatusSent: 0, nodeStatusAcked: 0, podsRunning: 0, podReportsSent: 0, refused: {} }

  constructor(options: SimOptions) {
    this.#o = options
    const sample = reportContent(1, Date.now())
    const checked = validateTwinReport(sample)
    if (!checked.ok) throw new Error(`the simulator's twin report is not a TwinReport: ${JSON.stringify(checked.problems)}`)
  }

  /** Dials every node at once (a cloud restart's reconnect storm) and returns. */
  async start(): Promise<void> {
    const log = pino({ level: 'warn' }, pino.destination(2))
    for (const [index, name] of this.#o.nodes.entries()) {
      const k = this.#o.kubelet
      const kubelet = k === undefined ? undefined : new SimKubelet({ node: name, index, statusSeconds: k.statusSeconds, resendMs: this.#o.resendMs, counters: this.#kubelet })
      const hub: EdgeHub = new EdgeHub({
        url: this.#o.url,
        node: name,
        secret: this.#o.secret,
        ...(this.#o.ca === undefined ? {} : { ca: this.#o.ca }),
        resendMs: this.#o.resendMs,
        log,
        onSession: (session) => this.#attach(node, session),
      })
      const node: SimNode = { name, hub, kubelet, session: undefined, resynced: false, devices: [], flying: 0, ready: [] }
      this.#nodes.set(name, node)
    }
    await Promise.all([...this.#nodes.values()].map((n) => n.hub.start()))
  }

  /** Resolves when every node has acknowledged a resync on its current session. */
  whenResynced(): Promise<void> {
    if (this.#resyncedCount() === this.#nodes.size) return Promise.resolve()
    return new Promise((resolve) => this.#resyncWaiters.push(resolve))
  }

  /** Starts offering `rate` twin updates per second in total (0: every device always has a newer value; < 0: stop). */
  load(rate: number): void {
    this.stopLoad()
    if (rate < 0) return
    this.#saturate = rate === 0
    if (this.#saturate) {
      for (const d of this.#all) this.#touch(d)
      return
    }
    const started = performance.now()
    let offered = 0
    const tick = (): void => {
      const due = Math.floor(((performance.now() - started) * rate) / 1000) - offered
      for (let i = 0; i < due && this.#all.length > 0; i++) {
        this.#touch(this.#all[this.#cursor % this.#all.length] as SimDevice)
        this.#cursor++
      }
      offered += due
      this.#timer = setTimeout(tick, 5)
    }
    tick()
  }

  stopLoad(): void {
    this.#saturate = false
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  record(on: boolean): void {
    if (on) this.#sampleCount = 0
    this.#recording = on
  }

  samples(): Float64Array {
    return this.#samples.slice(0, this.#sampleCount)
  }

  counters(): SimCounters {
    const now = Date.now()
    let liveResends = 0
    for (const node of this.#nodes.values()) liveResends += node.session?.resends ?? 0
    let connected = 0
    let devices = 0
    let inFlight = 0
    for (const node of this.#nodes.values()) {
      if (node.session?.open === true) connected++
      if (node.resynced) devices += node.devices.length
      inFlight += node.flying
    }
    const counters: SimCounters = { at: now, ...this.#c, refused: { ...this.#c.refused }, connected, resynced: this.#resyncedCount(), devices, resends: this.#resendsDone + liveResends, inFlight }
    if (this.#o.kubelet !== undefined) {
      let nodesReady = 0
      let podsHeld = 0
      for (const node of this.#nodes.values()) {
        if (node.kubelet?.ready === true) nodesReady++
        podsHeld += node.kubelet?.podsHeld ?? 0
      }
      counters.kubelet = { ...this.#kubelet, refused: { ...this.#kubelet.refused }, nodesReady, podsHeld }
    }
    return counters
  }

  async stop(): Promise<void> {
    this.stopLoad()
    for (const node of this.#nodes.values()) node.kubelet?.stop()
    await Promise.all([...this.#nodes.values()].map((n) => n.hub.stop()))
  }

  #resyncedCount(): number {
    let n = 0
    for (const node of this.#nodes.values()) if (node.resynced && node.session?.open === true) n++
    return n
  }

  #attach(node: SimNode, session: Session): void {
    this.#c.sessionsOpened++
    node.session = session
    node.resynced = false
    session.onClose(() => {
      this.#resendsDone += session.resends
      if (node.session === session) {
        node.session = undefined
        node.resynced = false
      }
      this.#c.sessionsLost++
    })
    session.onMessage((m) => {
      if (node.kubelet?.downstream(session, m) !== true) this.#downstream(node, session, m)
    })
    node.kubelet?.attach(session)
  }

  #downstream(node: SimNode, session: Session, m: Envelope): void {
    if (m.route.operation === 'resync' && m.route.resource === RESYNC_RESOURCE) {
      const content = m.content as { devices?: Array<{ metadata: { namespace?: string; name: string } }> } | undefined
      const byName = new Map(node.devices.map((d) => [`${d.namespace}/${d.name}`, d]))
      node.devices = (content?.devices ?? []).map((d) => {
        const namespace = d.metadata.namespace ?? 'default'
        const known = byName.get(`${namespace}/${d.metadata.name}`)
        if (known !== undefined) return known
        const device: SimDevice = { namespace, name: d.metadata.name, node, dirty: false, flying: false, value: 0 }
        this.#all.push(device)
        return device
      })
      session.send(response(m, Sources.edge))
      this.#c.downstreamAcked++
      node.resynced = true
      // What was dirty before the link came back is reported now (the outbox's attach()).
      node.ready = node.devices.filter((d) => d.dirty && !d.flying)
      this.#pump(node)
      if (this.#resyncedCount() === this.#nodes.size) for (const wake of this.#resyncWaiters.splice(0)) wake()
      return
    }
    if (m.route.operation === 'update' || m.route.operation === 'delete' || m.route.operation === 'insert') {
      session.send(response(m, Sources.edge))
      this.#c.downstreamAcked++
    }
  }

  #touch(device: SimDevice): void {
    this.#c.updates++
    device.value++
    if (device.dirty) return // coalesced into the report that is waiting
    device.dirty = true
    if (device.flying) return
    device.node.ready.push(device)
    this.#pump(device.node)
  }

  #pump(node: SimNode): void {
    while (node.session?.open === true && node.resynced && node.flying < this.#o.window && node.ready.length > 0) {
      const device = node.ready.shift() as SimDevice
      if (device.flying || !device.dirty) continue
      this.#send(node, node.session, device)
    }
  }

  #send(node: SimNode, session: Session, device: SimDevice): void {
    device.flying = true
    device.dirty = this.#saturate
    node.flying++
    const sentAt = Date.now()
    const started = performance.now()
    const m = message(
      { source: Sources.edge, group: 'twin', operation: 'update', resource: reportResource('twin', device.namespace, device.name) },
      reportContent(device.value, sentAt),
    )
    this.#c.sent++
    session.request(m).then(
      (answer) => {
        if (this.#recording && this.#sampleCount < MAX_SAMPLES) this.#samples[this.#sampleCount++] = performance.now() - started
        if (answer.route.operation === 'response') this.#c.acked++
        else {
          const code = (answer.content as { code?: string } | undefined)?.code ?? 'unknown'
          this.#c.refused[code] = (this.#c.refused[code] ?? 0) + 1
        }
        this.#landed(node, device)
      },
      () => {
        this.#c.linkFailures++
        device.dirty = true // reported again on the next session
        this.#landed(node, device)
      },
    )
  }

  #landed(node: SimNode, device: SimDevice): void {
    device.flying = false
    node.flying--
    if (this.#saturate) device.dirty = true
    if (device.dirty && device.node.devices.includes(device)) node.ready.push(device)
    this.#pump(node)
  }
}

/** A twin report of one property as the edge builds it (reports.ts: current twin with versions). */
export function reportContent(value: number, now: number): TwinReport {
  return {
    event_id: randomUUID(),
    timestamp: now,
    twin: { power: { actual: { value: String(value), metadata: { timestamp: now } }, metadata: { type: 'float' }, actual_version: { cloud: 0, edge: value } } },
  }
}
