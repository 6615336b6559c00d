/**
 * Carries out one pod's reconcile plan (plan.ts) against the runtime: kills (preStop hook, then
 * SIGTERM and SIGKILL after the grace period), a new sandbox when needed, starts of init and app
 * containers with the kubelet's labels and annotations (so a restarted tern edge recognises and
 * adopts them), and removal of what is no longer needed. What stops a container from starting
 * (an image that cannot be pulled, a config that cannot be built, the crash back-off) is returned
 * as the container's waiting reason for the status manager; only a runtime that cannot be reached
 * (EDGED_RUNTIME_UNAVAILABLE) is thrown.
 */
import { join } from 'node:path'
import type { Logger } from 'pino'
import { TernError } from '../../schemas/tern-error.js'
import type { Container, Pod } from '../../schemas/pod.js'
import type { Backoff } from '../backoff.js'
import { noEvents, type EventRecorder } from '../events.js'
import type { ContainerConfig, ContainerRuntime, PodSandboxConfig } from '../cri/runtime.js'
import { CONTAINER_HASH, CONTAINER_RESTART_COUNT, CONTAINER_TERMINATION_GRACE, POD_TERMINATION_GRACE, containerLabels, podLogDir, sandboxLabels } from '../labels.js'
import { nextAttempt } from '../logs/files.js'
import { removeContainerLog, removePodLogs } from '../logs/gc.js'
import { containerHash } from './hash.js'
import type { ObservedContainer, ObservedPod } from './observe.js'
import type { HookRunner, Images, PodContext, RuntimeConfigs, Volumes } from './parts.js'
import { planPod, type ContainerStart, type Unhealthy } from './plan.js'
import { removeTerminationMessages } from './termination-message.js'

/** The kubelet's floor for a stop's grace period after the preStop hook, seconds. */
const MIN_GRACE_SECONDS = 2
const DEFAULT_GRACE_SECONDS = 30

export interface PodSyncOptions {
  runtime: ContainerRuntime
  configs: RuntimeConfigs
  images: Images
  volumes: Volumes
  backoff: Backoff
  context: PodContext
  log: Logger
  runHook?: HookRunner
  /** the kubelet's events: Created, Started, Killing, BackOff, Failed, FailedMount... */
  recorder?: EventRecorder
}

export interface ContainerIssue {
  reason: string
  message: string
}

export interface SyncResult {
  /** container name → why it is not running: CrashLoopBackOff, ErrImagePull, CreateContainerConfigError... */
  waiting: Map<string, ContainerIssue>
  /** the pod's sandbox could not be made (the message) */
  sandboxError?: string
  /** restartPolicy Never and an init container failed */
  initFailed: boolean
  /** the sync asked the runtime to change something: what it holds now differs from what the sync started from */
  acted: boolean
}

/** Waiting reasons of the errors the image and config parts throw, by code (others: the stage's own reason). */
const REASON_BY_CODE: Record<string, string> = {
  EDGED_IMAGE_NEVER_PULL: 'ErrImageNeverPull',
  EDGED_IMAGE_PULL_BACKOFF: 'ImagePullBackOff',
  EDGED_IMAGE_INVALID_NAME: 'InvalidImageName',
  EDGED_IMAGE_PULL_FAILED: 'ErrImagePull',
}

export const podGraceSeconds = (pod: Pod): number => pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS
export const backoffKey = (pod: Pod, container: Container): string =>
  `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid ?? ''}_${container.name}_${containerHash(container)}`

export class PodSyncer {
  readonly #o: PodSyncOptions
  readonly #events: EventRecorder
  /** pods whose volumes are set up in this process: uid → volume name → host path */
  readonly #volumes = new Map<string, Map<string, string>>()
  /** adopted pods whose volumes could not be set up again (logged once, retried on every sync) */
  readonly #remountFailed = new Set<string>()
  /** uid → the outcome so far of the pod's sync under way */
  readonly #underWay = new Map<string, SyncResult>()

  constructor(options: PodSyncOptions) {
    this.#o = options
    this.#events = options.recorder ?? noEvents
  }

  /** `signal`: the pod is to stop (being deleted): waits for images are abandoned and nothing more is started. */
  async sync(pod: Pod, observed: ObservedPod | undefined, unhealthy: ReadonlyMap<string, Unhealthy>, signal?: AbortSignal): Promise<SyncResult> {
    const uid = pod.metadata.uid ?? ''
    const result: SyncResult = { waiting: new Map(), initFailed: false, acted: false }
    this.#underWay.set(uid, result)
    try {
      return await this.#sync(pod, observed, unhealthy, signal, result)
    } finally {
      this.#underWay.delete(uid)
    }
  }

  /** The outcome so far of the pod's sync under way (its waiting reasons grow as it goes), if one is. */
  underWay(uid: string): SyncResult | undefined {
    return this.#underWay.get(uid)
  }

  async #sync(pod: Pod, observed: ObservedPod | undefined, unhealthy: ReadonlyMap<string, Unhealthy>, signal: AbortSignal | undefined, result: SyncResult): Promise<SyncResult> {
    const { runtime, backoff } = this.#o
    const actions = planPod({ pod, observed, unhealthy, inBackoff: (c, finishedAt) => backoff.isInBackOffSince(backoffKey(pod, c), finishedAt) })
    result.initFailed = actions.initFailed
    result.acted = actions.kill.length + actions.stopSandboxes.length + actions.removeContainers.length + actions.removeSandboxes.length + actions.start.length > 0 || actions.createSandbox !== undefined
    const ipOf = (id: string | undefined): string => observed?.sandboxes.find((s) => s.id === id)?.ip ?? ''
    await Promise.all(actions.kill.map((k) => this.killContainer(k.container, pod, k.spec, ipOf(k.container.sandboxId), k.message, k.graceSeconds)))
    for (const id of actions.stopSandboxes) await ignoreNotFound(runtime.stopPodSandbox(id))

    let sandboxId = actions.sandboxId
    let podIP = ipOf(sandboxId)
    let attempt = observed?.sandboxes.find((s) => s.id === sandboxId)?.attempt ?? 0
    if (actions.createSandbox !== undefined) {
      attempt = actions.createSandbox.attempt
      try {
        await this.#setUpVolumes(pod)
        sandboxId = await runtime.runPodSandbox(this.#sandboxConfig(pod, attempt))
        podIP = (await runtime.podSandboxStatus(sandboxId)).network?.ip ?? ''
        this.#o.log.info({ pod: podName(pod), sandbox: sandboxId, attempt, podIP }, 'pod sandbox started')
      } catch (err) {
        rethrowUnavailable(err)
        result.sandboxError = (err as Error).message
        this.#events.event(pod, 'Warning', err instanceof TernError && err.code === 'EDGED_VOLUME_SETUP_FAILED' ? 'FailedMount' : 'FailedCreatePodSandBox', (err as Error).message)
        this.#o.log.warn({ pod: podName(pod), err }, 'pod sandbox could not be made')
        return result
      }
    }
    const removing = new Set(actions.removeContainers)
    for (const c of observed?.containers ?? []) if (removing.has(c.id)) await this.#removeContainer(c)
    for (const id of actions.removeSandboxes) await ignoreNotFound(runtime.removePodSandbox(id))

    for (const b of actions.backoff) {
      const waitSeconds = Math.round(backoff.get(backoffKey(pod, containerOf(pod, b.name))) / 1000)
      result.waiting.set(b.name, { reason: 'CrashLoopBackOff', message: `back-off ${waitSeconds}s restarting failed container=${b.name} pod=${podName(pod)}` })
      this.#events.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${b.name} in pod ${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid ?? ''})`)
    }
    if (sandboxId === undefined) return result
    if (actions.createSandbox === undefined && signal?.aborted !== true) await this.#remount(pod)
    for (const start of actions.start) {
      if (signal?.aborted === true) break
      const issue = await this.#start(pod, start, sandboxId, attempt, podIP, signal)
      if (issue === undefined) continue
      result.waiting.set(start.container.name, issue)
      // the kubelet's "Error: <reason>" (a failed pull says why through the image manager)
      this.#events.event(pod, 'Warning', 'Failed', `Error: ${issue.reason === 'CreateContainerConfigError' || issue.reason === 'CreateContainerError' || issue.reason === 'RunContainerError' ? issue.message : issue.reason}`)
    }
    return result
  }

  /**
   * Stops and removes everything the runtime holds of a pod (gone from every source, or its
   * objects owned by no pod); `pod` gives the hooks and grace period when edged still knows it,
   * `graceSeconds` what is left of its termination's grace period when that is counting down.
   */
  async killPod(observed: ObservedPod, pod: Pod | undefined, graceSeconds?: number): Promise<void> {
    const { runtime } = this.#o
    const ipOf = (id: string): string => observed.sandboxes.find((s) => s.id === id)?.ip ?? ''
    const specOf = (name: string): Container | undefined => (pod === undefined ? undefined : findContainer(pod, name))
    const running = observed.containers.filter((c) => c.state === 'CONTAINER_RUNNING')
    await Promise.all(running.map((c) => this.killContainer(c, pod, specOf(c.name), ipOf(c.sandboxId), 'the pod was removed', undefined, graceSeconds)))
    for (const s of observed.sandboxes) await ignoreNotFound(runtime.stopPodSandbox(s.id))
    for (const c of observed.containers) await this.#removeContainer(c)
    for (const s of observed.sandboxes) await ignoreNotFound(runtime.removePodSandbox(s.id))
    await this.tearDown(observed.ref.uid)
  }

  /**
   * Removes a container and, first, its log (the file and its rotated ones), as the kubelet's
   * removeContainer does. A log that cannot be removed is logged and left to the log collection
   * (edged/logs/gc.ts), which tries again.
   */
  async #removeContainer(c: ObservedContainer): Promise<void> {
    if (c.logPath !== '') {
      try {
        await removeContainerLog(c.logPath)
      } catch (err) {
        this.#o.log.warn({ code: 'EDGED_LOG_REMOVAL_FAILED', container: c.name, id: c.id, path: c.logPath, err }, `removing a container's log failed; tried again later: ${(err as Error).message}`)
      }
    }
    await ignoreNotFound(this.#o.runtime.removeContainer(c.id))
  }

  /**
   * Stops a pod's running containers within `graceSeconds`, beside a kill under way with a longer
   * one: the runtime does not send SIGTERM twice, and sends SIGKILL once the shorter one runs out,
   * which also ends the longer stop (the kubelet restarts its kill with the shorter period). A
   * failure is logged: the kill under way, and the syncs after it, still stop the pod.
   */
  async hurry(view: Promise<ObservedPod | undefined>, graceSeconds: number): Promise<void> {
    const left = Math.max(MIN_GRACE_SECONDS, graceSeconds)
    try {
      const running = ((await view)?.containers ?? []).filter((c) => c.state === 'CONTAINER_RUNNING')
      await Promise.all(
        running.map((c) => {
          this.#o.log.info({ container: c.name, id: c.id, graceSeconds: left }, 'stopping container sooner: the deletion’s grace period was shortened')
          return ignoreNotFound(this.#o.runtime.stopContainer(c.id, left))
        }),
      )
    } catch (err) {
      this.#o.log.warn({ code: err instanceof TernError ? err.code : undefined, err }, 'stopping a pod sooner failed')
    }
  }

  /** Releases the pod's volumes, termination message files and log directory (after its containers are gone). */
  async tearDown(uid: string): Promise<void> {
    this.#volumes.delete(uid)
    this.#remountFailed.delete(uid)
    await this.#o.volumes.tearDownUid(uid)
    await removeTerminationMessages(this.#o.context.rootDir, uid)
    try {
      await removePodLogs(this.#o.context.rootDir, uid)
    } catch (err) {
      this.#o.log.warn({ code: 'EDGED_LOG_REMOVAL_FAILED', uid, err }, `removing a pod's logs failed; tried again later: ${(err as Error).message}`)
    }
  }

  /**
   * preStop hook (within the grace period), then the runtime's SIGTERM and, after what is left of
   * the grace period, SIGKILL. The grace period is the kubelet's setTerminationGracePeriod: the
   * pod's deletion grace, else `probeGrace` (a failed liveness or startup probe's own
   * terminationGracePeriodSeconds), else the pod's; `graceLeft`, when given, is what is left of a
   * termination under way and wins.
   */
  async killContainer(c: ObservedContainer, pod: Pod | undefined, spec: Container | undefined, podIP: string, why: string, probeGrace?: number, graceLeft?: number): Promise<void> {
    const grace = graceLeft ?? (pod === undefined ? (c.graceSeconds ?? DEFAULT_GRACE_SECONDS) : (pod.metadata.deletionGracePeriodSeconds ?? probeGrace ?? podGraceSeconds(pod)))
    const started = Date.now()
    const preStop = spec?.lifecycle?.preStop
    if (preStop !== undefined && spec !== undefined && this.#o.runHook !== undefined) {
      try {
        await this.#o.runHook({ containerId: c.id, podIP, container: spec }, preStop, grace)
      } catch (err) {
        this.#o.log.warn({ code: (err as TernError).code, container: c.name, err }, 'preStop hook failed (FailedPreStopHook); stopping the container anyway')
      }
    }
    const left = Math.max(MIN_GRACE_SECONDS, grace - Math.floor((Date.now() - started) / 1000))
    this.#o.log.info({ container: c.name, id: c.id, graceSeconds: left }, `stopping container: ${why}`)
    if (pod !== undefined) this.#events.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`)
    await ignoreNotFound(this.#o.runtime.stopContainer(c.id, left))
  }

  async #start(pod: Pod, start: ContainerStart, sandboxId: string, attempt: number, podIP: string, signal: AbortSignal | undefined): Promise<ContainerIssue | undefined> {
    const { runtime, backoff, configs, images, log } = this.#o
    const spec = start.container
    if (start.after !== undefined) backoff.next(backoffKey(pod, spec), start.after.finishedAt)
    // the runtime has no instance of it: count on from its logs, if it left any (kubelet calcRestartCountByLogDir)
    const restartCount = start.restartCount === 0 ? await nextAttempt(join(podLogDir(this.#o.context.rootDir, podRef(pod)), spec.name)) : start.restartCount
    let image: string
    try {
      image = await images.ensure(pod, spec, signal)
    } catch (err) {
      return issue(err, 'ErrImagePull')
    }
    if (signal?.aborted === true) return { reason: 'ContainerCreating', message: 'the pod is being deleted' }
    let config: ContainerConfig
    try {
      const volumes = await this.#setUpVolumes(pod)
      const imageUser = await images.user?.(image)
      config = await configs.container(pod, spec, { ...this.#o.context, restartCount: restartCount, podIP, volumes, imageRef: image, ...(imageUser === undefined ? {} : { imageUser }) })
    } catch (err) {
      return issue(err, 'CreateContainerConfigError')
    }
    const grace = String(podGraceSeconds(pod))
    config = {
      ...config,
      metadata: { name: spec.name, attempt: restartCount },
      image: { image },
      labels: { ...config.labels, ...containerLabels(podRef(pod), spec.name) },
      annotations: {
        ...config.annotations,
        [CONTAINER_HASH]: containerHash(spec),
        [CONTAINER_RESTART_COUNT]: String(restartCount),
        [CONTAINER_TERMINATION_GRACE]: grace,
        [POD_TERMINATION_GRACE]: grace,
      },
    }
    let id: string
    try {
      id = await runtime.createContainer(sandboxId, config, this.#sandboxConfig(pod, attempt))
    } catch (err) {
      return issue(err, 'CreateContainerError')
    }
    this.#events.event(pod, 'Normal', 'Created', `Created container ${spec.name}`)
    try {
      await runtime.startContainer(id)
    } catch (err) {
      return issue(err, 'RunContainerError')
    }
    this.#events.event(pod, 'Normal', 'Started', `Started container ${spec.name}`)
    const postStart = spec.lifecycle?.postStart
    if (postStart !== undefined && this.#o.runHook !== undefined) {
      // the kubelet: a failed postStart hook kills the container, which then restarts as its policy says
      try {
        await this.#o.runHook({ containerId: id, podIP, container: spec }, postStart, podGraceSeconds(pod))
      } catch (err) {
        rethrowUnavailable(err)
        log.warn({ pod: podName(pod), container: spec.name, code: (err as TernError).code }, `postStart hook failed (FailedPostStartHook): ${(err as Error).message}`)
        await ignoreNotFound(runtime.stopContainer(id, MIN_GRACE_SECONDS))
        return { reason: 'PostStartHookError', message: (err as Error).message }
      }
    }
    log.info({ pod: podName(pod), container: spec.name, id, restartCount: restartCount, init: start.init }, 'container started')
    return undefined
  }

  #sandboxConfig(pod: Pod, attempt: number): PodSandboxConfig {
    const config = this.#o.configs.sandbox(pod, this.#o.context, attempt)
    return { ...config, labels: { ...config.labels, ...sandboxLabels(podRef(pod)) }, annotations: { ...config.annotations, [POD_TERMINATION_GRACE]: String(podGraceSeconds(pod)) } }
  }

  /**
   * A pod whose sandbox this process did not make (adopted after a restart of tern edge) has its
   * volumes set up again on its first sync, as the kubelet's volume manager mounts a running pod's
   * volumes again: its configMap and secret volumes show what the store holds now (changes made
   * while tern edge was down) and follow later changes.
   */
  async #remount(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid ?? ''
    if (this.#volumes.has(uid)) return
    try {
      await this.#setUpVolumes(pod)
      this.#remountFailed.delete(uid)
    } catch (err) {
      if (this.#remountFailed.has(uid)) return
      this.#remountFailed.add(uid)
      this.#events.event(pod, 'Warning', 'FailedMount', (err as Error).message)
      this.#o.log.warn({ pod: podName(pod), code: err instanceof TernError ? err.code : undefined, err: (err as Error).message }, 'volumes of an adopted pod could not be set up again; kept as they were, retried')
    }
  }

  async #setUpVolumes(pod: Pod): Promise<Map<string, string>> {
    const uid = pod.metadata.uid ?? ''
    let volumes = this.#volumes.get(uid)
    if (volumes === undefined) this.#volumes.set(uid, (volumes = await this.#o.volumes.setUp(pod)))
    return volumes
  }
}

export const podName = (pod: Pod): string => `${pod.metadata.namespace}/${pod.metadata.name}`
const podRef = (pod: Pod): { name: string; namespace: string; uid: string } => ({ name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid ?? '' })
const findContainer = (pod: Pod, name: string): Container | undefined => [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === name)
function containerOf(pod: Pod, name: string): Container {
  const c = findContainer(pod, name)
  if (c === undefined) throw new Error(`pod ${podName(pod)} has no container ${name}`)
  return c
}

/** A runtime that cannot be reached ends the sync (edged waits for it); every other failure is the container's. */
function rethrowUnavailable(err: unknown): void {
  if (err instanceof TernError && err.code === 'EDGED_RUNTIME_UNAVAILABLE') throw err
}

function issue(err: unknown, reason: string): ContainerIssue {
  rethrowUnavailable(err)
  const code = err instanceof TernError ? err.code : undefined
  return { reason: (code === undefined ? undefined : REASON_BY_CODE[code]) ?? reason, message: (err as Error).message }
}

async function ignoreNotFound(call: Promise<void>): Promise<void> {
  try {
    await call
  } catch (err) {
    if (!(err instanceof TernError && err.code === 'EDGED_RUNTIME_NOT_FOUND')) throw err
  }
}
