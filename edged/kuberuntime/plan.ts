/**
 * The pod reconcile plan: what to do to bring one pod's runtime objects to its spec, as a function
 * of data (the kubelet's computePodActions, pkg/kubelet/kuberuntime/kuberuntime_manager.go). No
 * I/O: pod-sync.ts carries the actions out, status.ts reports the result.
 *
 * - No ready sandbox: make one (attempt + 1), after killing what is left of the old one; but not
 *   for a pod that is done (restartPolicy Never once its containers ran, OnFailure once all
 *   succeeded).
 * - Init containers run one at a time, in order, each to success, before any app container; a
 *   failed one is retried (with back-off) unless restartPolicy is Never, which fails the pod.
 * - An app container that is not running is started when the policy says so (Always; OnFailure
 *   after a non-zero exit), unless it is in crash back-off; a running one whose spec hash changed
 *   is killed and started again whatever the policy; one whose liveness probe failed is killed and
 *   restarted as the policy says.
 * - Containers of names the spec no longer has, and older instances, are killed and removed; the
 *   newest exited instance of each name stays (its status is the last state, its log
 *   `tern logs --previous`).
 * - Nothing running or to start: the sandbox is stopped (the pod has finished).
 */
import type { Container, Pod } from '../../schemas/pod.js'
import { containerHash } from './hash.js'
import type { ObservedContainer, ObservedPod, ObservedSandbox } from './observe.js'

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never'

export interface PlanInput {
  pod: Pod
  observed: ObservedPod | undefined
  /** containers whose liveness (or startup) probe failed while running, by name */
  unhealthy: ReadonlyMap<string, Unhealthy>
  /** true while a restart of `container` must wait after an instance that finished at `finishedAt` (ms) */
  inBackoff(container: Container, finishedAt: number): boolean
}

export interface Unhealthy {
  message: string
  /** the failed probe's terminationGracePeriodSeconds, which the kill uses instead of the pod's */
  graceSeconds?: number
}

export interface ContainerStart {
  container: Container
  init: boolean
  restartCount: number
  /** the exited instance this start follows (a restart: it counts in the back-off) */
  after?: ObservedContainer
}

export interface ContainerKill {
  container: ObservedContainer
  /** why, for the log and events: SpecChanged, Unhealthy, NotInSpec, PodRecreated, Superseded, PodFinished */
  reason: string
  message: string
  /** the spec of the container when the pod still has it (for its preStop hook and grace period) */
  spec?: Container
  /** the grace period when not the pod's (a failed probe's own) */
  graceSeconds?: number
}

export interface PodActions {
  /** make a new sandbox, after everything of the pod was killed */
  createSandbox?: { attempt: number }
  /** the ready sandbox the starts go into (absent with createSandbox: the new one) */
  sandboxId?: string
  kill: ContainerKill[]
  /** sandboxes to stop (ready ones that are not the pod's current sandbox, or all when the pod finished) */
  stopSandboxes: string[]
  start: ContainerStart[]
  /** containers waiting out their crash back-off */
  backoff: Array<{ name: string; init: boolean; after: ObservedContainer }>
  /** exited containers and not-ready sandboxes no longer needed */
  removeContainers: string[]
  removeSandboxes: string[]
  /** restartPolicy Never and an init container failed: the pod has failed */
  initFailed: boolean
}

export const restartPolicyOf = (pod: Pod): RestartPolicy => pod.spec.restartPolicy ?? 'Always'

/** Whether a container that exited with `exitCode` is started again under `policy` (kubelet ShouldContainerBeRestarted). */
export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0)
}

const newestFirst = <T extends { createdAt: number }>(a: T, b: T): number => b.createdAt - a.createdAt
const byInstance = (a: ObservedContainer, b: ObservedContainer): number => b.restartCount - a.restartCount || b.createdAt - a.createdAt

/** The newest instance of each container name (highest restart count, then newest). */
export function latestByName(containers: readonly ObservedContainer[]): Map<string, ObservedContainer> {
  const latest = new Map<string, ObservedContainer>()
  for (const c of [...containers].sort(byInstance)) if (!latest.has(c.name)) latest.set(c.name, c)
  return latest
}

export function planPod(input: PlanInput): PodActions {
  const { pod, observed } = input
  const policy = restartPolicyOf(pod)
  const sandboxes = [...(observed?.sandboxes ?? [])].sort(newestFirst)
  const containers = observed?.containers ?? []
  const actions: PodActions = { kill: [], stopSandboxes: [], start: [], backoff: [], removeContainers: [], removeSandboxes: [], initFailed: false }
  const specs = new Map<string, Container>([...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => [c.name, c]))
  const latestAny = latestByName(containers)
  const current = sandboxes.find((s) => s.state === 'SANDBOX_READY')

  if (current === undefined) {
    killAll(actions, containers, specs, 'PodRecreated', 'the pod sandbox is not ready')
    if (!podFinished(pod, policy, sandboxes, latestAny)) {
      actions.createSandbox = { attempt: sandboxes.length === 0 ? 0 : Math.max(...sandboxes.map((s) => s.attempt)) + 1 }
      planStarts(input, policy, actions, [], latestAny)
    }
    collectGarbage(actions, sandboxes, containers, undefined, specs)
    return actions
  }
  actions.sandboxId = current.id
  for (const s of sandboxes) if (s.state === 'SANDBOX_READY' && s.id !== current.id) actions.stopSandboxes.push(s.id)
  const inCurrent = containers.filter((c) => c.sandboxId === current.id)
  for (const c of containers) {
    const spec = specs.get(c.name)
    if (c.sandboxId !== current.id) killIfRunning(actions, c, 'Superseded', 'a container of an old sandbox', spec)
    else if (spec === undefined) killIfRunning(actions, c, 'NotInSpec', `container ${c.name} is not in the pod spec`)
  }
  planStarts(input, policy, actions, inCurrent, latestAny)
  const running = inCurrent.filter((c) => c.state === 'CONTAINER_RUNNING' && specs.has(c.name) && !actions.kill.some((k) => k.container.id === c.id))
  if (actions.initFailed || (running.length === 0 && actions.start.length === 0 && actions.backoff.length === 0)) {
    killAll(actions, inCurrent, specs, 'PodFinished', actions.initFailed ? 'an init container failed' : 'the pod has finished')
    actions.start = []
    actions.backoff = []
    actions.stopSandboxes.push(current.id)
  }
  collectGarbage(actions, sandboxes, containers, current.id, specs)
  return actions
}

/** Starts (or back-offs) of init containers in order, then of app containers once every init container succeeded. */
function planStarts(input: PlanInput, policy: RestartPolicy, actions: PodActions, inSandbox: readonly ObservedContainer[], latestAny: ReadonlyMap<string, ObservedContainer>): void {
  const latest = latestByName(inSandbox)
  for (const spec of input.pod.spec.initContainers ?? []) {
    const inst = latest.get(spec.name)
    if (inst?.state === 'CONTAINER_RUNNING') return
    if (inst?.state === 'CONTAINER_EXITED' && inst.exitCode === 0) continue
    if (inst?.state === 'CONTAINER_EXITED' && policy === 'Never') {
      actions.initFailed = true
      return
    }
    // never run in this sandbox, failed (to be retried), or created and never started
    startOrWait(input, actions, spec, true, inst ?? latestAny.get(spec.name))
    return
  }
  for (const spec of input.pod.spec.containers) {
    const inst = latest.get(spec.name)
    if (inst?.state === 'CONTAINER_RUNNING') {
      const hash = containerHash(spec)
      if (inst.hash !== undefined && inst.hash !== hash) {
        actions.kill.push({ container: inst, reason: 'SpecChanged', message: `container ${spec.name} definition changed, will be restarted`, spec })
        actions.start.push({ container: spec, init: false, restartCount: inst.restartCount + 1 })
        continue
      }
      const unhealthy = input.unhealthy.get(spec.name)
      if (unhealthy !== undefined) {
        actions.kill.push({ container: inst, reason: 'Unhealthy', message: unhealthy.message, spec, ...(unhealthy.graceSeconds === undefined ? {} : { graceSeconds: unhealthy.graceSeconds }) })
        if (policy !== 'Never') actions.start.push({ container: spec, init: false, restartCount: inst.restartCount + 1 })
      }
      continue
    }
    const last = inst ?? latestAny.get(spec.name)
    if (last === undefined) {
      actions.start.push({ container: spec, init: false, restartCount: 0 })
      continue
    }
    // created and never started: a new instance replaces it, whatever the policy
    if (last.state === 'CONTAINER_CREATED' || last.state === 'CONTAINER_UNKNOWN') {
      startOrWait(input, actions, spec, false, last)
      continue
    }
    if (shouldRestart(policy, last.exitCode)) startOrWait(input, actions, spec, false, last)
  }
}

function startOrWait(input: PlanInput, actions: PodActions, spec: Container, init: boolean, last: ObservedContainer | undefined): void {
  if (last === undefined) {
    actions.start.push({ container: spec, init, restartCount: 0 })
    return
  }
  if (last.state === 'CONTAINER_EXITED' && input.inBackoff(spec, last.finishedAt)) {
    actions.backoff.push({ name: spec.name, init, after: last })
    return
  }
  actions.start.push({ container: spec, init, restartCount: last.restartCount + 1, ...(last.state === 'CONTAINER_EXITED' ? { after: last } : {}) })
}

/**
 * A pod that has finished is not given a new sandbox (kubelet: restartPolicy Never once a sandbox
 * existed and containers ran; OnFailure once every app container succeeded).
 */
function podFinished(pod: Pod, policy: RestartPolicy, sandboxes: readonly ObservedSandbox[], latest: ReadonlyMap<string, ObservedContainer>): boolean {
  if (sandboxes.length === 0 || latest.size === 0) return false
  if (policy === 'Never') return true
  if (policy === 'OnFailure') return pod.spec.containers.every((c) => latest.get(c.name)?.state === 'CONTAINER_EXITED' && latest.get(c.name)?.exitCode === 0)
  return false
}

function killIfRunning(actions: PodActions, c: ObservedContainer, reason: string, message: string, spec?: Container): void {
  if (c.state !== 'CONTAINER_RUNNING' || actions.kill.some((k) => k.container.id === c.id)) return
  actions.kill.push({ container: c, reason, message, ...(spec === undefined ? {} : { spec }) })
}

function killAll(actions: PodActions, containers: readonly ObservedContainer[], specs: ReadonlyMap<string, Container>, reason: string, message: string): void {
  for (const c of containers) killIfRunning(actions, c, reason, message, specs.get(c.name))
}

/**
 * Keeps the newest instance of each container name and the newest sandbox; removes the rest once
 * exited (running ones are killed first, and removed by a later sync).
 */
function collectGarbage(
  actions: PodActions,
  sandboxes: readonly ObservedSandbox[],
  containers: readonly ObservedContainer[],
  currentId: string | undefined,
  specs: ReadonlyMap<string, Container>,
): void {
  const killed = new Set(actions.kill.map((k) => k.container.id))
  // the kubelet's MaxPerPodContainer = 1: the newest exited instance of each name stays
  const newestExited = latestByName(containers.filter((c) => c.state === 'CONTAINER_EXITED'))
  const latest = latestByName(containers)
  for (const c of containers) {
    if (c.state === 'CONTAINER_RUNNING' || killed.has(c.id)) continue
    const keep = specs.has(c.name) && (c.state === 'CONTAINER_EXITED' ? newestExited.get(c.name)?.id === c.id : latest.get(c.name)?.id === c.id && !actions.start.some((s) => s.container.name === c.name))
    if (!keep) actions.removeContainers.push(c.id)
  }
  const keepSandbox = currentId ?? sandboxes[0]?.id
  const removed = new Set(actions.removeContainers)
  for (const s of sandboxes) {
    if (s.id === keepSandbox || s.state === 'SANDBOX_READY') continue
    if (containers.every((c) => c.sandboxId !== s.id || removed.has(c.id))) actions.removeSandboxes.push(s.id)
  }
}
