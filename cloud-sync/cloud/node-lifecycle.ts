/**
 * The Nodes of edge nodes (DESIGN.md §7: "the Node object and its Lease are kept by tern cloud from
 * what the edge reports"), doing for them what a kubelet and the node lifecycle controller do:
 *
 * - The first status report of a session creates the node's `Node` when it has none (labels
 *   node-role.kubernetes.io/edge, kubernetes.io/hostname, kubernetes.io/arch, kubernetes.io/os)
 *   or sets those labels on the existing one; a report is written with one strategic merge patch
 *   of `nodes/<name>/status` and acknowledged after it, at most one write per node every
 *   `minWriteIntervalMs` (reports coming faster are coalesced: the newest is written and answers
 *   the ones it replaced). A later report finding the Node
 *   gone does not create it again (deleting the Node revokes the node). A report about another
 *   node is refused with CLOUD_NOT_OWNER (logged), a malformed one with CLOUD_MESSAGE_INVALID, a
 *   status the API server refuses (400/422) with CLOUD_STATUS_WRITE_FAILED; other failures answer
 *   CLOUD_KUBE_UNAVAILABLE and the edge retries.
 * - While a node's session is open and it was heard from within the lease duration, its Lease
 *   `kube-node-lease/<node>` is renewed every `leaseRenewMs` (holder = the node, owned by its Node);
 *   a renewal that gets no answer calls `onHeartbeatFailure`.
 * - Every `monitorPeriodMs`, a node not heard from for `gracePeriodMs` — and whose Lease no
 *   replica renewed within that time — gets Ready and the pressure conditions Unknown
 *   (NodeStatusUnknown), so `kubectl get nodes` shows NotReady. At start every Node labelled
 *   node-role.kubernetes.io/edge is watched this way from the start time (a node that was connected
 *   before a restart of tern cloud is not left Ready for ever).
 */
import type { Logger } from 'pino'
import { realClock, type Clock, type TimerHandle } from '../../mappers/runtime/clock.js'
import type { ErrorCode } from '../../schemas/errors.js'
import { errorResponse, parseNodeStatusResource, response, Sources, validateNodeStatusReport, type Envelope, type NodeStatusReport } from '../messages.js'
import { RefusalLog } from '../refusal-log.js'
import type { Session } from '../session.js'
import { KubeRequestError } from './kube-api.js'
import type { NodeApi } from './node-api.js'
import { EDGE_ROLE_LABEL, labelPatch, leaseBody, newNode, nodeLabels, renewTimeOf, resourceVersionOf, statusPatch, unknownPatch, viewOf, type KubeletEndpoint, type NodeView } from './node-object.js'

export interface NodeLifecycleOptions {
  api: NodeApi
  log: Logger
  clock?: Clock
  leaseDurationSeconds?: number
  leaseRenewMs?: number
  gracePeriodMs?: number
  monitorPeriodMs?: number
  /** the stream endpoint the Nodes point the API server at (daemonEndpoints), once it listens */
  kubeletEndpoint?: () => KubeletEndpoint | undefined
  /**
   * the least time between two status writes of one node (default 1 s): reports that come faster
   * are coalesced, the newest written, so a node cannot make the cloud PATCH its Node at the rate it
   * sends (a kubelet writes every 10 s)
   */
  minWriteIntervalMs?: number
  /**
   * called when a Lease renewal got no answer (timed out or the connection failed), as the
   * kubelet's OnHeartbeatFailure: the composition root closes the API connections there
   */
  onHeartbeatFailure?: (err: KubeRequestError) => void
}

interface NodeState {
  session: Session | undefined
  /** the Node as last read or written this session (undefined: read it first) */
  view: NodeView | undefined
  /** the Node was created or found this session: a 404 now means it was deleted */
  ensured: boolean
  lastHeard: number
  unknown: boolean
  lease: { resourceVersion: string | undefined } | undefined
  renewing: boolean
  renewal: TimerHandle | undefined
  /** reports of this node are written one at a time */
  chain: Promise<void>
  /** msg_ids of the reports waiting in `chain` or being written */
  taken: Set<string>
  /** msg_id of the report written last */
  written: string | undefined
  /** the newest report waiting to be written, and the older ones it replaced (answered with it) */
  waiting: ReportBatch | undefined
  /** when this node's status was last written (clock ms) */
  writtenAt: number
}

interface ReportBatch {
  session: Session
  message: Envelope
  report: NodeStatusReport
  replaced: Envelope[]
}

export interface NodeLifecycleMetrics {
  reports: number
  /** reports replaced by a newer one of the same node before they were written */
  coalesced: number
  refused: number
  statusPatches: number
  leaseWrites: number
  markedUnknown: number
}

export class NodeLifecycle {
  readonly #o: Required<Omit<NodeLifecycleOptions, 'clock' | 'kubeletEndpoint' | 'onHeartbeatFailure'>> & Pick<NodeLifecycleOptions, 'kubeletEndpoint' | 'onHeartbeatFailure'> & { clock: Clock }
  readonly #nodes = new Map<string, NodeState>()
  readonly #metrics: NodeLifecycleMetrics = { reports: 0, coalesced: 0, refused: 0, statusPatches: 0, leaseWrites: 0, markedUnknown: 0 }
  /** refusals, logged once per node, code and episode */
  readonly #refusals: RefusalLog
  #monitor: TimerHandle | undefined
  #running = false

  constructor(options: NodeLifecycleOptions) {
    this.#o = { leaseDurationSeconds: 40, leaseRenewMs: 10_000, gracePeriodMs: 40_000, monitorPeriodMs: 5000, minWriteIntervalMs: 1000, ...options, clock: options.clock ?? realClock }
    this.#refusals = new RefusalLog(options.log, () => this.#o.clock.now())
  }

  metrics(): NodeLifecycleMetrics {
    return { ...this.#metrics }
  }

  /** Starts the monitor; edge Nodes that exist already are watched from now on. */
  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    try {
      for (const node of await this.#o.api.listNodes(EDGE_ROLE_LABEL)) {
        const name = (node as { metadata?: { name?: unknown } }).metadata?.name
        if (typeof name === 'string' && !this.#nodes.has(name)) this.#state(name).view = viewOf(node)
      }
    } catch (err) {
      this.#o.log.warn({ code: 'CLOUD_KUBE_UNAVAILABLE', err: (err as Error).message }, 'cannot list edge Nodes; only nodes that connect are monitored')
    }
    this.#schedule()
  }

  stop(): Promise<void> {
    this.#running = false
    if (this.#monitor !== undefined) this.#o.clock.clearTimeout(this.#monitor)
    for (const state of this.#nodes.values()) this.#stopRenewing(state)
    return Promise.all([...this.#nodes.values()].map((s) => s.chain)).then(() => undefined)
  }

  attach(session: Session): void {
    if (!this.#running) return
    const state = this.#state(session.node)
    state.session = session
    state.view = undefined
    state.ensured = false
    state.lease = undefined
    state.lastHeard = this.#o.clock.now()
    session.onMessage((message) => {
      if (parseNodeStatusResource(message.route.resource) !== undefined) this.#receive(session, message)
    })
    session.onClose(() => {
      if (state.session !== session) return
      state.lastHeard = Math.max(state.lastHeard, session.lastReceivedAt)
      state.session = undefined
      this.#stopRenewing(state)
    })
  }

  #state(node: string): NodeState {
    let state = this.#nodes.get(node)
    if (state === undefined) {
      state = { session: undefined, view: undefined, ensured: false, lastHeard: this.#o.clock.now(), unknown: false, lease: undefined, renewing: false, renewal: undefined, chain: Promise.resolve(), taken: new Set(), written: undefined, waiting: undefined, writtenAt: -Infinity }
      this.#nodes.set(node, state)
    }
    return state
  }

  #receive(session: Session, message: Envelope): void {
    this.#metrics.reports++
    const named = parseNodeStatusResource(message.route.resource) ?? ''
    const log = this.#o.log.child({ node: session.node })
    if (named !== session.node) {
      this.#refusals.warn(session.node, 'CLOUD_NOT_OWNER', { node: session.node, reported: named }, 'status report about another node; refused')
      return this.#refuse(session, message, 'CLOUD_NOT_OWNER', `node ${session.node} cannot report the status of node ${named}`)
    }
    const checked = validateNodeStatusReport(message.content)
    if (message.route.operation !== 'update' || !checked.ok) {
      const reason = checked.ok ? `operation ${message.route.operation} is not update` : checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')
      this.#refusals.warn(session.node, 'CLOUD_MESSAGE_INVALID', { node: session.node, reason }, 'invalid node status report; refused')
      return this.#refuse(session, message, 'CLOUD_MESSAGE_INVALID', reason)
    }
    const state = this.#state(session.node)
    // The edge's Session re-sends a report the cloud has not answered yet (after resendMs, then
    // doubling): a copy is answered with the original, never written again, or a slow API server
    // would get one more PATCH per copy and grow slower still.
    const id = message.header.msg_id
    if (state.taken.has(id)) return
    if (state.written === id) return session.send(response(message, Sources.cloud))
    state.taken.add(id)
    if (state.waiting !== undefined) {
      // only the newest status matters: it replaces the one waiting, and both get its answer
      state.waiting.replaced.push(state.waiting.message)
      Object.assign(state.waiting, { session, message, report: checked.value })
      this.#metrics.coalesced++
      return
    }
    state.waiting = { session, message, report: checked.value, replaced: [] }
    state.chain = state.chain
      .then(() => this.#paced(state))
      .then(async () => {
        const batch = state.waiting as ReportBatch
        state.waiting = undefined
        try {
          await this.#write(batch.session, state, batch)
        } finally {
          for (const m of [batch.message, ...batch.replaced]) state.taken.delete(m.header.msg_id)
        }
      })
      .catch((err: unknown) => log.error({ err }, 'node status write failed'))
  }

  /** Resolves when the node's status may be written again (`minWriteIntervalMs` after the last write). */
  #paced(state: NodeState): Promise<void> {
    const wait = state.writtenAt + this.#o.minWriteIntervalMs - this.#o.clock.now()
    if (wait <= 0) return Promise.resolve()
    return new Promise((resolve) => this.#o.clock.setTimeout(resolve, wait))
  }

  async #write(session: Session, state: NodeState, batch: ReportBatch): Promise<void> {
    const { message, report } = batch
    if (!this.#running || state.session !== session) return // unanswered: the edge re-sends on its next session
    const node = session.node
    const log = this.#o.log.child({ node })
    try {
      if (!state.ensured) {
        await this.#ensureNode(node, state, report)
        state.ensured = true
      }
      state.writtenAt = this.#o.clock.now()
      const written = await this.#o.api.patchNodeStatus(node, statusPatch(report, state.view, this.#o.clock.now(), this.#o.kubeletEndpoint?.()))
      this.#metrics.statusPatches++
      state.view = viewOf(written)
      state.written = message.header.msg_id
      state.lastHeard = this.#o.clock.now()
      state.unknown = false
      for (const m of [...batch.replaced, message]) session.send(response(m, Sources.cloud))
      this.#startRenewing(node, state)
    } catch (err) {
      const status = err instanceof KubeRequestError ? err.status : undefined
      if (status === 404) {
        log.warn({ code: 'CLOUD_NOT_OWNER' }, 'the Node was deleted; not created again for this session')
        return this.#refuseAll(session, batch, 'CLOUD_NOT_OWNER', `the Node ${node} does not exist`)
      }
      if (status === 400 || status === 422) {
        log.warn({ code: 'CLOUD_STATUS_WRITE_FAILED', status, err: (err as Error).message }, 'the API server refused the node status; dropped')
        return this.#refuseAll(session, batch, 'CLOUD_STATUS_WRITE_FAILED', (err as Error).message)
      }
      log.warn({ code: 'CLOUD_KUBE_UNAVAILABLE', status, err: (err as Error).message }, 'cannot write the node status; the edge retries')
      return this.#refuseAll(session, batch, 'CLOUD_KUBE_UNAVAILABLE', (err as Error).message)
    }
  }

  /** Creates the Node when absent, else sets tern's labels on it; leaves its view in `state`. */
  async #ensureNode(node: string, state: NodeState, report: NodeStatusReport): Promise<void> {
    const wanted = nodeLabels(node, report)
    let current = await this.#o.api.getNode(node)
    if (current === undefined) {
      try {
        current = await this.#o.api.createNode(newNode(node, wanted))
        this.#o.log.info({ node }, 'created the Node')
      } catch (err) {
        if (!(err instanceof KubeRequestError && err.status === 409)) throw err
        current = await this.#o.api.getNode(node)
      }
    }
    const patch = labelPatch(viewOf(current).labels, wanted)
    if (patch !== undefined) current = await this.#o.api.patchNode(node, patch)
    state.view = viewOf(current)
  }

  #refuseAll(session: Session, batch: ReportBatch, code: ErrorCode, reason: string): void {
    for (const m of [...batch.replaced, batch.message]) this.#refuse(session, m, code, reason)
  }

  #refuse(session: Session, message: Envelope, code: ErrorCode, reason: string): void {
    this.#metrics.refused++
    session.send(errorResponse(message, Sources.cloud, { code, reason }))
  }

  #startRenewing(node: string, state: NodeState): void {
    if (state.renewing || !this.#running) return
    state.renewing = true
    const round = async (): Promise<void> => {
      const session = state.session
      if (!this.#running || session === undefined) return
      // a node that fell silent (its session not closed yet) is not vouched for
      if (this.#o.clock.now() - Math.max(state.lastHeard, session.lastReceivedAt) <= this.#o.leaseDurationSeconds * 1000) await this.#renewLease(node, state)
    }
    const next = (): void => {
      if (state.renewing) state.renewal = this.#o.clock.setTimeout(() => void round().finally(next), this.#o.leaseRenewMs)
    }
    void round().finally(next)
  }

  #stopRenewing(state: NodeState): void {
    state.renewing = false
    if (state.renewal !== undefined) this.#o.clock.clearTimeout(state.renewal)
    state.renewal = undefined
  }

  async #renewLease(node: string, state: NodeState): Promise<void> {
    const { api, leaseDurationSeconds } = this.#o
    try {
      if (state.lease === undefined) {
        const existing = await api.getLease(node)
        if (existing === undefined) {
          state.lease = { resourceVersion: resourceVersionOf(await api.createLease(leaseBody(node, state.view?.uid, leaseDurationSeconds, this.#o.clock.now()))) }
          this.#metrics.leaseWrites++
          return
        }
        state.lease = { resourceVersion: resourceVersionOf(existing) }
      }
      const renewed = await api.replaceLease(node, leaseBody(node, state.view?.uid, leaseDurationSeconds, this.#o.clock.now(), state.lease.resourceVersion))
      this.#metrics.leaseWrites++
      state.lease = { resourceVersion: resourceVersionOf(renewed) }
    } catch (err) {
      state.lease = undefined // read it again next time (409: someone else wrote it; 404: deleted)
      const status = err instanceof KubeRequestError ? err.status : undefined
      if (status !== 409) this.#o.log.warn({ node, code: 'CLOUD_KUBE_UNAVAILABLE', status, err: (err as Error).message }, 'cannot renew the node Lease')
      if (err instanceof KubeRequestError && status === undefined) this.#o.onHeartbeatFailure?.(err)
    }
  }

  #schedule(): void {
    if (!this.#running) return
    this.#monitor = this.#o.clock.setTimeout(() => {
      void this.#check().finally(() => this.#schedule())
    }, this.#o.monitorPeriodMs)
  }

  /** Marks the nodes silent past the grace period Unknown (unless another replica renewed their Lease). */
  async #check(): Promise<void> {
    const now = this.#o.clock.now()
    for (const [node, state] of this.#nodes) {
      if (!this.#running) return
      if (state.unknown) continue
      const heard = state.session === undefined ? state.lastHeard : Math.max(state.lastHeard, state.session.lastReceivedAt)
      if (now - heard <= this.#o.gracePeriodMs) continue
      try {
        const renewed = renewTimeOf(await this.#o.api.getLease(node))
        if (renewed !== undefined && now - renewed <= this.#o.gracePeriodMs) {
          state.lastHeard = Math.max(state.lastHeard, renewed)
          continue
        }
        const current = await this.#o.api.getNode(node)
        if (current === undefined) {
          if (state.session === undefined) this.#nodes.delete(node) // deleted: nothing to mark
          continue
        }
        const patch = unknownPatch(viewOf(current).conditions, now)
        state.unknown = true
        if (patch === undefined) continue
        await this.#o.api.patchNodeStatus(node, patch)
        this.#metrics.markedUnknown++
        this.#o.log.info({ node, silentMs: now - heard }, 'node stopped posting status: Ready=Unknown')
      } catch (err) {
        state.unknown = false
        this.#o.log.warn({ node, code: 'CLOUD_KUBE_UNAVAILABLE', err: (err as Error).message }, 'cannot mark the silent node Unknown; retrying')
      }
    }
  }
}
