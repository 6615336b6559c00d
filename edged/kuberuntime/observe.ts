/**
 * What the runtime holds for edged, read in one pass (the kubelet's PLEG relist): the sandboxes and
 * containers carrying edged's labels, grouped by pod uid, with each container's exit code and times
 * (ContainerStatus, asked once per container and state: an exited container's status never changes)
 * and each ready sandbox's IP.
 */
import type { ContainerRuntime, ContainerState, PodSandboxState } from '../cri/runtime.js'
import { terminationMessage } from './termination-message.js'
import { CONTAINER_HASH, CONTAINER_NAME, CONTAINER_RESTART_COUNT, CONTAINER_TERMINATION_GRACE, MANAGED_BY, MANAGED_BY_EDGED, POD_UID, podOf, type PodRef } from '../labels.js'

export interface ObservedSandbox {
  id: string
  attempt: number
  state: PodSandboxState
  /** ms since the epoch */
  createdAt: number
  ip?: string
}

export interface ObservedContainer {
  id: string
  name: string
  sandboxId: string
  restartCount: number
  hash: string | undefined
  state: ContainerState
  /** ms since the epoch; 0 when not (yet) known */
  createdAt: number
  startedAt: number
  finishedAt: number
  exitCode: number
  /** the runtime's reason once exited: Completed, Error, OOMKilled */
  reason: string
  /** the runtime's message, and once exited the container's termination message after it (termination-message.ts) */
  message: string
  image: string
  imageRef: string
  /** termination grace recorded when it was made, seconds (for containers no pod owns any more) */
  graceSeconds: number | undefined
  /** the runtime's path of its log file ('' when it has none) */
  logPath: string
}

export interface ObservedPod {
  ref: PodRef
  sandboxes: ObservedSandbox[]
  containers: ObservedContainer[]
}

/** The kubelet's getContainerStatuses: the termination message enriches the runtime's, after ': '. */
const joinMessage = (runtime: string, termination: string): string => (termination === '' ? runtime : runtime === '' ? termination : `${runtime}: ${termination}`)
const nsToMs = (ns: string | number | undefined): number => (ns === undefined || ns === '' ? 0 : Number(BigInt(ns) / 1_000_000n))
const intOf = (text: string | undefined): number | undefined => {
  const n = text === undefined ? NaN : Number(text)
  return Number.isInteger(n) ? n : undefined
}

export class RuntimeObserver {
  readonly #runtime: ContainerRuntime
  readonly #statuses = new Map<string, ObservedContainer>()
  readonly #ips = new Map<string, string | undefined>()

  constructor(runtime: ContainerRuntime) {
    this.#runtime = runtime
  }

  /** One consistent-enough view: containers are listed after sandboxes, so a new container's sandbox is known. */
  async relist(): Promise<Map<string, ObservedPod>> {
    const { pods, sandboxIds, containerIds } = await this.#list({ [MANAGED_BY]: MANAGED_BY_EDGED })
    for (const id of this.#statuses.keys()) if (!containerIds.has(id)) this.#statuses.delete(id)
    for (const id of this.#ips.keys()) if (!sandboxIds.has(id)) this.#ips.delete(id)
    return pods
  }

  /**
   * One pod as the runtime holds it now: after a sync acted, its status is computed from what the
   * sync made (the kubelet's status after SyncPod), not from the relist before it.
   */
  async relistPod(uid: string): Promise<ObservedPod | undefined> {
    return (await this.#list({ [MANAGED_BY]: MANAGED_BY_EDGED, [POD_UID]: uid })).pods.get(uid)
  }

  async #list(labelSelector: Record<string, string>): Promise<{ pods: Map<string, ObservedPod>; sandboxIds: Set<string>; containerIds: Set<string> }> {
    const sandboxes = await this.#runtime.listPodSandbox({ labelSelector })
    const containers = await this.#runtime.listContainers({ labelSelector })
    const pods = new Map<string, ObservedPod>()
    const podFor = (ref: PodRef): ObservedPod => {
      let pod = pods.get(ref.uid)
      if (pod === undefined) pods.set(ref.uid, (pod = { ref, sandboxes: [], containers: [] }))
      return pod
    }
    const sandboxIds = new Set<string>()
    for (const s of sandboxes) {
      const ref = podOf(s.labels)
      if (ref === undefined) continue
      sandboxIds.add(s.id)
      podFor(ref).sandboxes.push({ id: s.id, attempt: s.metadata.attempt ?? 0, state: s.state, createdAt: nsToMs(s.createdAt), ...(await this.#ip(s.id, s.state)) })
    }
    const containerIds = new Set<string>()
    for (const c of containers) {
      const ref = podOf(c.labels)
      const name = c.labels[CONTAINER_NAME]
      if (ref === undefined || name === undefined) continue
      containerIds.add(c.id)
      let status = this.#statuses.get(c.id)
      if (status === undefined || status.state !== c.state) {
        status = await this.#status(c.id, name, c.podSandboxId)
        if (status === undefined) continue // removed since the listing
        this.#statuses.set(c.id, status)
      }
      podFor(ref).containers.push(status)
    }
    return { pods, sandboxIds, containerIds }
  }

  /** Forgets what was read of a container (its state is about to change by edged's own hand). */
  forget(containerId: string): void {
    this.#statuses.delete(containerId)
  }

  async #ip(id: string, state: PodSandboxState): Promise<{ ip?: string }> {
    if (!this.#ips.has(id) && state === 'SANDBOX_READY') {
      try {
        this.#ips.set(id, (await this.#runtime.podSandboxStatus(id)).network?.ip || undefined)
      } catch (err) {
        if ((err as { code?: string }).code !== 'EDGED_RUNTIME_NOT_FOUND') throw err
      }
    }
    const ip = this.#ips.get(id)
    return ip === undefined ? {} : { ip }
  }

  async #status(id: string, name: string, sandboxId: string): Promise<ObservedContainer | undefined> {
    let s
    try {
      s = await this.#runtime.containerStatus(id)
    } catch (err) {
      if ((err as { code?: string }).code === 'EDGED_RUNTIME_NOT_FOUND') return undefined
      throw err
    }
    return {
      id,
      name,
      sandboxId,
      restartCount: intOf(s.annotations[CONTAINER_RESTART_COUNT]) ?? s.metadata.attempt,
      hash: s.annotations[CONTAINER_HASH],
      state: s.state,
      createdAt: nsToMs(s.createdAt),
      startedAt: nsToMs(s.startedAt),
      finishedAt: nsToMs(s.finishedAt),
      exitCode: s.exitCode,
      reason: s.reason,
      message: s.state === 'CONTAINER_EXITED' ? joinMessage(s.message, await terminationMessage(s)) : s.message,
      image: s.image.image,
      imageRef: s.imageRef,
      graceSeconds: intOf(s.annotations[CONTAINER_TERMINATION_GRACE]),
      logPath: s.logPath,
    }
  }
}
