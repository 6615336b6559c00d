/**
 * Edged, tern's small kubelet: desired pods from its sources (static pods now; the cloud next),
 * kept in the node database, driven into the container runtime through the CRI by a
 * level-triggered loop. Every sync period it lists what the runtime holds (the kubelet's relist)
 * and hands each pod's view to that pod's worker, which plans and acts (kuberuntime/), then
 * computes the pod's status. A runtime that cannot be reached is reported once
 * (EDGED_RUNTIME_UNAVAILABLE) and retried with back-off, while the rest of the node keeps serving
 * devices; when it answers again the loop adopts what it still runs.
 */
import type { Logger } from 'pino'
import type { EdgedConfig } from '../schemas/config.js'
import { TernError } from '../schemas/tern-error.js'
import type { Pod, PodStatus } from '../schemas/pod.js'
import { Alarm, realClock, type Clock } from '../mappers/runtime/clock.js'
import type { AnyLevel } from '../twin/store.js'
import { Backoff } from './backoff.js'
import { collectLogs, readLogDirs, type PodLogDir } from './logs/gc.js'
import { LogRotator } from './logs/rotate.js'
import { quantityValue } from './pod/quantity.js'
import type { ContainerRuntime } from './cri/runtime.js'
import { RuntimeObserver, type ObservedPod } from './kuberuntime/observe.js'
import type { HookRunner, Images, RuntimeConfigs, Volumes } from './kuberuntime/parts.js'
import { podGraceSeconds, podName, PodSyncer, type SyncResult } from './kuberuntime/pod-sync.js'
import type { Unhealthy } from './kuberuntime/plan.js'
import { PodAdmission, refusedPod, type NodeCheck } from './pod-admission.js'
import { PodStore, uidOf } from './pod-store.js'
import { PodWorkers } from './pod-workers.js'
import { ProbeManager } from './prober/manager.js'
import { nodeAddress, type Dial } from './pod-network.js'
import type { PodSource } from './sources/source.js'
import { apiPodsOnly, fromApi, noEvents, type EventRecorder } from './events.js'
import { podStatus, waitingSoFar } from './status.js'
import { StatusManager } from './status-manager.js'
import { Terminations } from './terminations.js'

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Oldest first by creationTimestamp (RFC 3339, compared as text); pods without one keep their order, first. */
function byCreation(pods: readonly Pod[]): Pod[] {
  const created = (p: Pod): string => (p.metadata as { creationTimestamp?: string }).creationTimestamp ?? ''
  return [...pods].sort((a, b) => (created(a) < created(b) ? -1 : created(a) > created(b) ? 1 : 0))
}

/**
 * Retry delays while the runtime cannot be reached, ms, doubling from the first to the cap: the
 * kubelet's sync loop (100 ms to 5 s). A cap of half a minute left a node waiting that long after
 * a long containerd outage ended; a failed call on a local socket costs next to nothing.
 */
const RUNTIME_RETRY_MS = { initial: 100, max: 5_000 }

/** How often logs left behind are looked for (logs/gc.ts), ms: the kubelet's container GC period. */
const LOG_COLLECTION_MS = 60_000

export interface EdgedParts {
  configs: RuntimeConfigs
  images: Images
  volumes: Volumes
  runHook?: HookRunner
  /** how probes reach the pod network (default: a TCP connect from this process) */
  dial?: Dial
}

export interface EdgedOptions {
  config: EdgedConfig & { rootDir: string }
  nodeName: string
  db: AnyLevel
  runtime: ContainerRuntime
  sources: PodSource[]
  parts: EdgedParts
  log: Logger
  clock?: Clock
  /** crash back-off (default: the kubelet's 10 s doubling to 5 min) */
  crashBackoff?: { initialMs: number; maxMs: number }
  /** Called once a pod its source dropped has nothing left in the runtime (the cloud's final delete follows). */
  onPodTerminated?: (pod: { namespace: string; name: string; uid: string }) => void
  /** every new status of a pod from the API server (source `api`), for the cloud */
  onPodStatus?: (pod: Pod, status: PodStatus) => void
  /** where events about pods from the API server go (default: nowhere) */
  recorder?: EventRecorder
  /** admission of new pods against the Node and the pods admitted before (default: every pod is admitted) */
  admission?: NodeCheck
  /** Called when the container runtime becomes reachable or stops being so (`runtimeReady` changed). */
  onRuntimeChange?: () => void
  /**
   * The Node's current InternalIP (the one its status reports, read at every update), which pods'
   * hostIP follows as the kubelet's does; undefined while the Node has none. Without it (or while
   * it is undefined): `config.nodeIP`, else the host's first non-loopback IPv4 address at start.
   */
  hostIP?: () => string | undefined
}

interface Desired {
  pod: Pod
  source: string
}

export class Edged {
  readonly #o: EdgedOptions
  readonly #clock: Clock
  readonly #log: Logger
  readonly #store: PodStore
  readonly #statuses: StatusManager
  readonly #observer: RuntimeObserver
  readonly #syncer: PodSyncer
  readonly #backoff: Backoff
  readonly #workers: PodWorkers<ObservedPod | undefined>
  readonly #alarm: Alarm
  readonly #probes: ProbeManager
  readonly #logRotator: LogRotator
  /** the hostIP without a Node's InternalIP */
  readonly #startIP: string
  readonly #events: EventRecorder
  readonly #admission: PodAdmission
  /** uid → the pod and the source it came from */
  readonly #desired = new Map<string, Desired>()
  readonly #terminations: Terminations
  /** pods whose sync may be waiting for an image: aborted when the pod is to stop (uid → controller) */
  readonly #syncAborts = new Map<string, AbortController>()
  /** pods whose status is being refreshed while their sync is under way (uid → the refreshes' chain) */
  readonly #refreshes = new Map<string, Promise<void>>()
  /** the refresh round under way, if any */
  #refreshRound: Promise<void> | undefined
  /** containers a liveness or startup probe found unhealthy: pod uid → container name → why */
  readonly #unhealthy = new Map<string, Map<string, Unhealthy>>()
  #relistSeq = 0
  /** when logs left behind were last looked for (ms, the clock's) */
  #logsCollectedAt = -Infinity
  #runtimeReady: boolean | undefined
  /** `<runtimeName>://<runtimeVersion>` once the runtime answered (the node status's containerRuntimeVersion) */
  #runtimeVersion: string | undefined
  #loop: Promise<void> | undefined
  #stopped = false

  constructor(options: EdgedOptions) {
    this.#o = options
    this.#clock = options.clock ?? realClock
    this.#log = options.log
    this.#startIP = options.config.nodeIP ?? nodeAddress()
    // read at each use: a container's env (status.hostIP) gets the address of when it is created
    const hostIP = (): string => this.hostIP
    this.#terminations = new Terminations(this.#clock)
    this.#store = new PodStore(options.db)
    const onPodStatus = options.onPodStatus
    this.#statuses = new StatusManager({
      store: this.#store,
      rootDir: options.config.rootDir,
      nodeName: options.nodeName,
      log: options.log,
      ...(onPodStatus === undefined ? {} : { onChange: (pod: Pod, status: PodStatus) => (fromApi(pod) ? onPodStatus(pod, status) : undefined) }),
    })
    this.#events = apiPodsOnly(options.recorder ?? noEvents)
    this.#admission = new PodAdmission({ node: options.admission, statuses: this.#statuses, events: this.#events, clock: this.#clock, hostIP, log: options.log })
    this.#observer = new RuntimeObserver(options.runtime)
    this.#backoff = new Backoff({ clock: this.#clock, ...(options.crashBackoff === undefined ? {} : options.crashBackoff) })
    this.#syncer = new PodSyncer({
      runtime: options.runtime,
      ...options.parts,
      backoff: this.#backoff,
      recorder: this.#events,
      context: {
        nodeName: options.nodeName,
        get hostIP() {
          return hostIP()
        },
        rootDir: options.config.rootDir,
      },
      log: options.log,
    })
    this.#workers = new PodWorkers(
      (uid, view) => this.#syncOne(uid, view),
      (uid, err) => this.#syncFailed(uid, err),
      () => this.#relistSeq,
    )
    this.#alarm = new Alarm(this.#clock)
    this.#probes = new ProbeManager({
      runtime: options.runtime,
      log: options.log.child({ part: 'prober' }),
      clock: this.#clock,
      ...(options.parts.dial === undefined ? {} : { dial: options.parts.dial }),
      onLivenessFailure: (uid, name, message, graceSeconds) => this.containerUnhealthy(uid, name, message, graceSeconds),
      onFailure: (uid, name, kind, output) => this.#podEvent(uid, 'Warning', 'Unhealthy', `${kind.charAt(0).toUpperCase()}${kind.slice(1)} probe failed: ${output}`.trim()),
      onChange: () => this.#alarm.wake(),
    })
    const { config } = options
    this.#logRotator = new LogRotator({
      runtime: options.runtime,
      maxBytes: Number(quantityValue(config.containerLogMaxSize)),
      maxFiles: config.containerLogMaxFiles,
      intervalMs: config.containerLogMonitorIntervalSeconds * 1000,
      workers: config.containerLogMaxWorkers,
      clock: this.#clock,
      log: options.log.child({ part: 'log-rotation' }),
    })
  }

  /** True once the runtime answered, false while it cannot be reached, undefined before the first try. */
  get runtimeReady(): boolean | undefined {
    return this.#runtimeReady
  }

  /** `containerd://1.6.20` once the runtime answered, as the kubelet reports containerRuntimeVersion. */
  get runtimeVersion(): string | undefined {
    return this.#runtimeVersion
  }

  /** Pods' hostIP now: the Node's InternalIP, as the kubelet's generateAPIPodStatus takes it at every status. */
  get hostIP(): string {
    return this.#o.hostIP?.() ?? this.#startIP
  }

  /** The status of every pod edged runs (what the snapshot file holds). */
  statuses(): Array<{ pod: Pod; status: ReturnType<StatusManager['get']> }> {
    return [...this.#desired.values()].map(({ pod }) => ({ pod, status: this.#statuses.get(uidOf(pod)) }))
  }

  /**
   * Every pod's current status to `onPodStatus` again, as if new: after the link to the API server
   * came back, so what others wrote meanwhile (Ready=False from the node lifecycle controller) is
   * set right, as the kubelet's status reconciliation does.
   */
  reassertStatuses(): void {
    this.#statuses.reassert()
  }

  /**
   * Reads the sources' pods and starts the loop. Does not wait for the runtime: a node whose
   * containerd is down still starts, and serves its devices.
   */
  async start(): Promise<void> {
    await this.#statuses.load()
    for (const source of this.#o.sources) {
      const pods = await source.start((next) => void this.#setSourcePods(source, next).catch((err: unknown) => this.#log.error({ err }, 'applying pod changes failed')))
      await this.#setSourcePods(source, pods)
    }
    await this.#statuses.writeNow()
    this.#loop = this.#run()
    this.#logRotator.start()
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#alarm.wake()
    await Promise.all(this.#o.sources.map((s) => s.stop()))
    await this.#loop
    await this.#logRotator.stop()
    this.#probes.stop()
    await this.#workers.idle()
    await this.#refreshRound
    await this.#statuses.flush()
    await this.#store.close()
    this.#o.runtime.close()
  }

  /**
   * Marks a running container unhealthy (a failed liveness or startup probe): the next sync kills
   * it, within the probe's `graceSeconds` when it sets one, and restarts it as the policy says.
   */
  containerUnhealthy(podUid: string, containerName: string, message: string, graceSeconds?: number): void {
    let pod = this.#unhealthy.get(podUid)
    if (pod === undefined) this.#unhealthy.set(podUid, (pod = new Map<string, Unhealthy>()))
    pod.set(containerName, graceSeconds === undefined ? { message } : { message, graceSeconds })
    this.#alarm.wake()
  }

  #podEvent(uid: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const pod = this.#desired.get(uid)?.pod
    if (pod !== undefined) this.#events.event(pod, type, reason, message)
  }

  async #setSourcePods(from: PodSource, pods: Pod[]): Promise<void> {
    const source = from.name
    const refused = (from.refused?.() ?? []).map((r) => ({ pod: refusedPod(r), message: r.message }))
    const now = new Set([...pods, ...refused.map((r) => r.pod)].map(uidOf))
    for (const [uid, d] of this.#desired) {
      if (d.source !== source || now.has(uid)) continue
      await this.#stop(d.pod, source, 'pod removed from its source: stopping it')
    }
    await this.#admission.keepOnly(now)
    this.#terminations.keepFinished(source, now)
    for (const uid of this.#terminations.forceDeleted(source, now)) this.#hurry(uid)
    // new pods are admitted oldest first, each against those admitted before it, as the kubelet's HandlePodAdditions does
    for (const pod of byCreation(pods)) {
      const uid = uidOf(pod)
      if (pod.metadata.deletionTimestamp !== undefined) {
        await this.#deleting(pod, source)
        continue
      }
      if (this.#admission.rejected(uid)) continue
      if (!this.#desired.has(uid)) {
        if (!(await this.#admission.admit(pod, this.#activePods()))) continue
        this.#log.info({ pod: podName(pod), uid, source }, 'pod added')
      }
      this.#desired.set(uid, { pod, source })
      this.#terminations.cancel(uid)
    }
    // a refused version of a pod edged runs leaves it running as it was (the API server never changes a pod's containers)
    for (const { pod, message } of refused) {
      if (pod.metadata.deletionTimestamp !== undefined) await this.#deleting(pod, source)
      else if (!this.#desired.has(uidOf(pod))) await this.#admission.refuse(pod, message)
    }
    await this.#store.setSourcePods(source, pods)
    this.#alarm.wake()
  }

  /**
   * The pods admission weighs a new one against, as the kubelet's filterOutInactivePods: those
   * admitted whose phase is not terminal (Succeeded, Failed), and those being stopped.
   */
  #activePods(): Pod[] {
    const active: Pod[] = []
    for (const [uid, { pod }] of this.#desired) {
      const phase = this.#statuses.previous(uid)?.phase
      if (phase !== 'Succeeded' && phase !== 'Failed') active.push(pod)
    }
    for (const uid of this.#terminations.uids()) {
      const stopping = this.#terminations.get(uid)
      if (stopping !== undefined && !this.#desired.has(uid)) active.push(stopping.pod)
    }
    return active
  }

  /** Moves a desired pod to termination: its sync stops waiting for images, its probes stop. */
  async #stop(pod: Pod, source: string, why: string): Promise<void> {
    const uid = uidOf(pod)
    this.#desired.delete(uid)
    this.#terminations.stop(pod, source)
    this.#syncAborts.get(uid)?.abort()
    this.#probes.removePod(uid)
    this.#log.info({ pod: podName(pod), uid, graceSeconds: podGraceSeconds(pod) }, why)
    const status = this.#statuses.previous(uid)
    if (status !== undefined) await this.#statuses.set(pod, status, true)
  }

  /**
   * A pod its source lists as being deleted (the API server's deletionTimestamp), as the kubelet
   * treats one: stopped with the deletion's grace period (a `--grace-period` shorter than the
   * pod's own counts), never started when edged had not started it, and reported terminated
   * (`onPodTerminated`, the cloud's final delete) once nothing of it runs — also when it never ran
   * (admission refused it, or it was deleted before it reached the node).
   */
  async #deleting(pod: Pod, source: string): Promise<void> {
    const uid = uidOf(pod)
    if (this.#terminations.finished(uid)) return
    if (this.#desired.has(uid)) return this.#stop(pod, source, 'pod being deleted: stopping it')
    if (await this.#admission.forget(uid)) {
      this.#terminations.overBeforeStart(uid, source)
      this.#o.onPodTerminated?.({ namespace: pod.metadata.namespace, name: pod.metadata.name, uid })
      return
    }
    // already stopping (the newest version carries the deletion's grace period), or new to edged:
    // the sync loop removes whatever the runtime holds of it and then reports it terminated
    if (!this.#terminations.has(uid)) this.#log.info({ pod: podName(pod), uid }, 'pod being deleted before it started here: not started')
    if (this.#terminations.stop(pod, source)) this.#hurry(uid)
  }

  /** A shorter deletion of a pod being stopped: its containers are stopped within what is left of it now. */
  #hurry(uid: string): void {
    void this.#syncer.hurry(this.#observer.relistPod(uid), this.#terminations.graceLeft(uid) ?? 0)
  }

  async #run(): Promise<void> {
    let retryMs = RUNTIME_RETRY_MS.initial
    while (!this.#stopped) {
      let delayMs = this.#o.config.syncPeriodSeconds * 1000
      try {
        if (this.#runtimeReady !== true) {
          const version = await this.#o.runtime.version()
          this.#runtimeReady = true
          this.#runtimeVersion = `${version.runtimeName}://${version.runtimeVersion}`
          retryMs = RUNTIME_RETRY_MS.initial
          this.#log.info({ runtime: version.runtimeName, version: version.runtimeVersion, api: version.runtimeApiVersion }, 'container runtime ready')
          this.#o.onRuntimeChange?.()
        }
        await this.#relist()
      } catch (err) {
        if (err instanceof TernError && err.code === 'EDGED_RUNTIME_UNAVAILABLE') {
          this.#runtimeUnavailable(err)
          delayMs = retryMs
          retryMs = Math.min(retryMs * 2, RUNTIME_RETRY_MS.max)
        } else {
          this.#log.error({ code: err instanceof TernError ? err.code : undefined, err }, 'listing the runtime failed; retried at the next sync')
        }
      }
      this.#alarm.reset()
      if (!this.#stopped) await this.#alarm.sleep(delayMs)
    }
  }

  #runtimeUnavailable(err: TernError): void {
    if (this.#runtimeReady === false) return
    this.#log.warn({ code: err.code, endpoint: this.#o.config.runtimeEndpoint }, `the container runtime cannot be reached; pods are not synced until it answers (retrying): ${err.message}`)
    this.#runtimeReady = false
    this.#o.onRuntimeChange?.()
  }

  async #relist(): Promise<void> {
    const seq = ++this.#relistSeq
    // the log directories are read before the runtime is listed: a log the listing has no container for is no running container's
    const logDirs = this.#clock.now() - this.#logsCollectedAt >= LOG_COLLECTION_MS ? await readLogDirs(this.#o.config.rootDir) : undefined
    const observed = await this.#observer.relist()
    const uids = new Set([...this.#desired.keys(), ...this.#terminations.uids(), ...observed.keys()])
    for (const uid of uids) this.#workers.offer(uid, seq, observed.get(uid))
    this.#refreshSyncing(observed)
    this.#backoff.prune((key) => [...this.#desired.keys()].some((uid) => key.includes(`_${uid}_`)))
    if (logDirs !== undefined) await this.#collectLogs(logDirs, observed)
  }

  /** Removes the logs left behind (logs/gc.ts): of pods that are gone, and of containers the runtime no longer has. */
  async #collectLogs(found: PodLogDir[], observed: ReadonlyMap<string, ObservedPod>): Promise<void> {
    this.#logsCollectedAt = this.#clock.now()
    try {
      const removed = await collectLogs({
        found,
        live: (uid) => this.#desired.has(uid) || this.#terminations.has(uid) || this.#admission.rejected(uid) || observed.has(uid),
        held: (uid, name) => (observed.get(uid)?.containers ?? []).filter((c) => c.name === name).map((c) => c.restartCount),
      })
      if (removed.length > 0) this.#log.info({ removed }, 'removed logs of containers and pods that are gone')
    } catch (err) {
      this.#log.warn({ code: 'EDGED_LOG_REMOVAL_FAILED', err }, `removing logs left behind failed; tried again later: ${(err as Error).message}`)
    }
  }

  async #syncOne(uid: string, observed: ObservedPod | undefined): Promise<void> {
    const desired = this.#desired.get(uid)
    if (desired === undefined) return this.#syncGone(uid, observed)
    const { pod } = desired
    // the kubelet's syncPod sets a status before it makes the sandbox and containers: a new pod
    // shows Pending, its containers ContainerCreating, while its first sync pulls and starts them
    if (this.#statuses.previous(uid) === undefined) await this.#setStatus(pod, observed, undefined)
    const unhealthy = this.#unhealthy.get(uid) ?? new Map<string, Unhealthy>()
    this.#unhealthy.delete(uid)
    const abort = new AbortController()
    this.#syncAborts.set(uid, abort)
    let result: SyncResult
    try {
      result = await this.#syncer.sync(pod, observed, unhealthy, abort.signal)
    } finally {
      this.#syncAborts.delete(uid)
    }
    await this.#refreshes.get(uid)
    this.#refreshes.delete(uid)
    // stopped meanwhile: the next sync removes what this one made, and the status says terminating
    if (abort.signal.aborted) return
    // the status says what this sync made (a started container is Running now, not a sync period later)
    await this.#setStatus(pod, result.acted ? await this.#observer.relistPod(uid) : observed, result)
  }

  async #setStatus(pod: Pod, observed: ObservedPod | undefined, sync: SyncResult | undefined): Promise<void> {
    const uid = uidOf(pod)
    const hostIP = this.hostIP
    this.#probes.track(pod, observed, hostIP)
    const status = podStatus({
      pod,
      observed,
      sync,
      probe: (name) => this.#probes.state(uid, name),
      previous: this.#statuses.previous(uid),
      hostIP,
      now: new Date(this.#clock.now()).toISOString(),
    })
    await this.#statuses.set(pod, status, false)
  }

  /**
   * Each relist gives the pods whose sync is still under way (a slow image pull, a grace period, a
   * pod of many containers started one after another) a status from what the runtime holds now:
   * the kubelet sets one only at the start of each sync, so such a pod would show none of its
   * containers running until the whole sync ends. Refreshes of a pod run one after another, and
   * the sync's own status waits for them, so it is always the last. A round takes one pod per turn
   * of the event loop: all at once, 100 pods starting together held it for tens of ms each relist,
   * and the broker's and the twin's messages waited. A relist whose round would begin while the
   * last one is still going (a loaded machine) leaves it to the next relist.
   */
  #refreshSyncing(observed: ReadonlyMap<string, ObservedPod>): void {
    if (this.#refreshRound !== undefined) return
    let round: Promise<unknown> = Promise.resolve()
    for (const uid of this.#syncAborts.keys()) {
      const refresh = Promise.all([this.#refreshes.get(uid), round])
        .then(nextTurn)
        .then(async () => {
          const sync = this.#syncer.underWay(uid)
          const pod = this.#desired.get(uid)?.pod
          if (sync === undefined || pod === undefined || this.#syncAborts.get(uid)?.signal.aborted !== false) return
          await this.#setStatus(pod, observed.get(uid), waitingSoFar(this.#statuses.previous(uid), sync))
        })
        .catch((err: unknown) => this.#log.warn({ uid, err }, 'refreshing the status of a pod being synced failed'))
      this.#refreshes.set(uid, refresh)
      round = refresh
    }
    const done = round.then(() => {
      if (this.#refreshRound === done) this.#refreshRound = undefined
    })
    this.#refreshRound = done
  }

  /** A pod no source has any more, or runtime objects no pod owns: stopped and removed, then forgotten. */
  async #syncGone(uid: string, observed: ObservedPod | undefined): Promise<void> {
    const pod = this.#terminations.get(uid)?.pod
    // what is being removed: a pod its source dropped, or (after a restart) runtime objects of one
    const ref = pod === undefined ? observed?.ref : { namespace: pod.metadata.namespace, name: pod.metadata.name }
    if (observed !== undefined && (observed.sandboxes.length > 0 || observed.containers.length > 0)) {
      if (pod === undefined) this.#log.info({ pod: `${observed.ref.namespace}/${observed.ref.name}`, uid }, 'removing runtime objects no pod owns')
      await this.#syncer.killPod(observed, pod, this.#terminations.graceLeft(uid))
      // an owner-less pod is not synced again once gone: this was its end
      if (pod === undefined && ref !== undefined) this.#o.onPodTerminated?.({ namespace: ref.namespace, name: ref.name, uid })
      // gone from the runtime: the next relist shows nothing and forgets the pod
      return
    }
    await this.#syncer.tearDown(uid)
    // its source lists it until the final delete lands: not to be stopped again meanwhile
    this.#terminations.over(uid)
    if (ref !== undefined) this.#o.onPodTerminated?.({ namespace: ref.namespace, name: ref.name, uid })
    this.#probes.removePod(uid)
    await this.#statuses.remove(uid)
    this.#workers.forget(uid)
  }

  #syncFailed(uid: string, err: unknown): void {
    if (err instanceof TernError && err.code === 'EDGED_RUNTIME_UNAVAILABLE') {
      this.#runtimeUnavailable(err)
      this.#alarm.wake()
      return
    }
    const pod = this.#desired.get(uid)?.pod ?? this.#terminations.get(uid)?.pod
    this.#log.error({ code: err instanceof TernError ? err.code : undefined, pod: pod === undefined ? uid : podName(pod), err }, 'pod sync failed; retried at the next sync')
  }
}
