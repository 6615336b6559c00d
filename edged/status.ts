/**
 * Pod status as the kubelet computes it (pkg/kubelet/kubelet_pods.go generateAPIPodStatus,
 * getPhase, pkg/kubelet/status/generate.go): from the pod spec, what the runtime holds, the last
 * sync's waiting reasons and the probes' verdicts. A function of data; the manager beside it
 * (status-manager.ts) keeps the result in the store and in the snapshot file.
 */
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodConditionType, PodStatus } from '../schemas/pod.js'
import type { ObservedContainer, ObservedPod } from './kuberuntime/observe.js'
import { latestByName, restartPolicyOf } from './kuberuntime/plan.js'
import type { SyncResult } from './kuberuntime/pod-sync.js'

export interface StatusInput {
  pod: Pod
  observed: ObservedPod | undefined
  /** the last sync's outcome (waiting reasons), when there was one */
  sync: SyncResult | undefined
  /** the probes' verdict on a running container (without probes: ready and started once running) */
  probe(containerName: string, containerId: string): { ready: boolean; started: boolean }
  previous: PodStatus | undefined
  hostIP: string
  /** RFC 3339 */
  now: string
}

export const CONTAINER_ID_PREFIX = 'containerd://'

const iso = (ms: number): string | undefined => (ms > 0 ? new Date(ms).toISOString() : undefined)

export function podStatus(input: StatusInput): PodStatus {
  const { pod, observed, sync, previous } = input
  const sandboxes = [...(observed?.sandboxes ?? [])].sort((a, b) => b.createdAt - a.createdAt)
  const current = sandboxes.find((s) => s.state === 'SANDBOX_READY') ?? sandboxes[0]
  const all = observed?.containers ?? []
  const inCurrent = all.filter((c) => c.sandboxId === current?.id)
  const initStatuses = (pod.spec.initContainers ?? []).map((c) => containerStatus(input, c, inCurrent, all, 'PodInitializing'))
  const initDone = initStatuses.every((s) => s.state.terminated?.exitCode === 0)
  const appStatuses = pod.spec.containers.map((c) => containerStatus(input, c, inCurrent, all, initDone ? 'ContainerCreating' : 'PodInitializing'))
  const phase = podPhase(pod, initStatuses, appStatuses, sync?.initFailed ?? false)
  const podIP = pod.spec.hostNetwork === true && current !== undefined ? input.hostIP : current?.ip
  const status: PodStatus = {
    phase,
    conditions: conditions(input, phase, initStatuses, appStatuses),
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    ...(podIP === undefined ? {} : { podIP, podIPs: [{ ip: podIP }] }),
    startTime: previous?.startTime ?? input.now,
    ...(initStatuses.length === 0 ? {} : { initContainerStatuses: initStatuses }),
    containerStatuses: appStatuses,
    qosClass: qosClass(pod),
  }
  if (sync?.sandboxError !== undefined) Object.assign(status, { reason: 'FailedCreatePodSandBox', message: sync.sandboxError })
  return status
}

/**
 * The waiting reasons of a status taken while a sync is under way, as the kubelet's reasonCache
 * keeps them between syncs: what this sync found so far and, for a container it has not come to
 * yet, the reason the last status gave (a container in CrashLoopBackOff stays so while the sync
 * waits on another one's image or grace period).
 */
export function waitingSoFar(previous: PodStatus | undefined, sync: SyncResult): SyncResult {
  const waiting = new Map(sync.waiting)
  for (const s of [...(previous?.initContainerStatuses ?? []), ...(previous?.containerStatuses ?? [])]) {
    const before = s.state.waiting
    if (before === undefined || waiting.has(s.name) || before.reason === 'ContainerCreating' || before.reason === 'PodInitializing') continue
    waiting.set(s.name, { reason: before.reason, message: before.message ?? '' })
  }
  return { ...sync, waiting }
}

function containerStatus(input: StatusInput, spec: Container, inCurrent: readonly ObservedContainer[], all: readonly ObservedContainer[], notYet: string): ContainerStatus {
  const mine = all.filter((c) => c.name === spec.name).sort((a, b) => b.restartCount - a.restartCount || b.createdAt - a.createdAt)
  const inst = latestByName(inCurrent).get(spec.name) ?? mine[0]
  const issue = input.sync?.waiting.get(spec.name)
  const base = { name: spec.name, image: spec.image, imageID: inst?.imageRef ?? '', ready: false, started: false, restartCount: inst?.restartCount ?? 0 }
  if (inst === undefined) return { ...base, state: { waiting: issue ?? { reason: notYet } }, lastState: {} }
  const previousRun = mine.find((c) => c.id !== inst.id && c.state === 'CONTAINER_EXITED')
  const lastState: ContainerState = previousRun === undefined ? lastStateBefore(input, spec.name, inst.id) : { terminated: terminated(previousRun) }
  const withId = { ...base, containerID: CONTAINER_ID_PREFIX + inst.id }
  switch (inst.state) {
    case 'CONTAINER_RUNNING': {
      const probe = input.probe(spec.name, inst.id)
      const running = { running: { startedAt: iso(inst.startedAt) ?? input.now } }
      return { ...withId, ready: probe.ready, started: probe.started, state: running, lastState }
    }
    case 'CONTAINER_EXITED':
      // the exited instance is the last state while the next one waits (back-off, image, config)
      if (issue !== undefined) return { ...withId, state: { waiting: issue }, lastState: { terminated: terminated(inst) } }
      return { ...withId, state: { terminated: terminated(inst) }, lastState }
    case 'CONTAINER_CREATED':
    case 'CONTAINER_UNKNOWN':
      return { ...withId, state: { waiting: issue ?? { reason: 'ContainerCreating' } }, lastState }
  }
}

/**
 * The last state once the previous instance is gone from the runtime (removed as an older dead
 * instance): as the kubelet, from the status reported before.
 */
function lastStateBefore(input: StatusInput, name: string, currentId: string): ContainerState {
  const before = [...(input.previous?.initContainerStatuses ?? []), ...(input.previous?.containerStatuses ?? [])].find((s) => s.name === name)
  if (before === undefined) return {}
  if (before.containerID === CONTAINER_ID_PREFIX + currentId) return before.lastState
  const ended = before.state.terminated ?? before.lastState.terminated
  return ended === undefined ? {} : { terminated: ended }
}

function terminated(c: ObservedContainer): NonNullable<ContainerState['terminated']> {
  const startedAt = iso(c.startedAt)
  const finishedAt = iso(c.finishedAt)
  return {
    exitCode: c.exitCode,
    reason: c.reason !== '' ? c.reason : c.exitCode === 0 ? 'Completed' : 'Error',
    ...(c.message === '' ? {} : { message: c.message }),
    ...(startedAt === undefined ? {} : { startedAt }),
    ...(finishedAt === undefined ? {} : { finishedAt }),
    containerID: CONTAINER_ID_PREFIX + c.id,
  }
}

/** The kubelet's getPhase. */
export function podPhase(pod: Pod, init: readonly ContainerStatus[], app: readonly ContainerStatus[], initFailed: boolean): PodStatus['phase'] {
  const policy = restartPolicyOf(pod)
  if (initFailed || (policy === 'Never' && init.some((s) => (s.state.terminated?.exitCode ?? 0) !== 0))) return 'Failed'
  const initPending = init.some((s) => s.state.terminated?.exitCode !== 0)
  if (initPending) return 'Pending'
  let running = 0
  let waiting = 0
  let stopped = 0
  let succeeded = 0
  for (const s of app) {
    if (s.state.running !== undefined) running++
    else if (s.state.terminated !== undefined) {
      stopped++
      if (s.state.terminated.exitCode === 0) succeeded++
    } else if (s.lastState.terminated !== undefined) stopped++
    else waiting++
  }
  if (waiting > 0) return 'Pending'
  if (running > 0) return 'Running'
  if (stopped > 0) {
    if (policy === 'Always') return 'Running'
    if (stopped === succeeded) return 'Succeeded'
    return policy === 'Never' ? 'Failed' : 'Running'
  }
  return 'Pending'
}

function conditions(input: StatusInput, phase: PodStatus['phase'], init: readonly ContainerStatus[], app: readonly ContainerStatus[]): PodCondition[] {
  const notInit = init.filter((s) => s.state.terminated?.exitCode !== 0).map((s) => s.name)
  const notReady = app.filter((s) => !s.ready).map((s) => s.name)
  // the kubelet (status/generate.go): a Succeeded pod is "PodCompleted", not "not ready"
  const succeeded = phase === 'Succeeded'
  const ready: Omit<PodCondition, 'type' | 'lastTransitionTime'> = succeeded
    ? { status: 'False', reason: 'PodCompleted' }
    : notReady.length === 0
      ? { status: 'True' }
      : { status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${notReady.join(' ')}]` }
  const initialized: Omit<PodCondition, 'type' | 'lastTransitionTime'> =
    notInit.length > 0
      ? { status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${notInit.join(' ')}]` }
      : { status: 'True', ...(succeeded && init.length > 0 ? { reason: 'PodCompleted' } : {}) }
  const make = (type: PodConditionType, c: Omit<PodCondition, 'type' | 'lastTransitionTime'>): PodCondition => {
    const before = input.previous?.conditions.find((p) => p.type === type)
    return { type, ...c, lastProbeTime: null, lastTransitionTime: before !== undefined && before.status === c.status ? before.lastTransitionTime : input.now }
  }
  return [make('Initialized', initialized), make('Ready', ready), make('ContainersReady', ready), make('PodScheduled', { status: 'True' })]
}

/** The kubelet's QoS class: Guaranteed when every container limits cpu and memory at its requests, BestEffort when none asks for anything. */
function qosClass(pod: Pod): NonNullable<PodStatus['qosClass']> {
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers]
  const any = containers.some((c) => Object.keys(c.resources?.limits ?? {}).length > 0 || Object.keys(c.resources?.requests ?? {}).length > 0)
  if (!any) return 'BestEffort'
  const guaranteed = containers.every((c) =>
    ['cpu', 'memory'].every((r) => {
      const limit = c.resources?.limits?.[r]
      const request = c.resources?.requests?.[r] ?? limit
      return limit !== undefined && String(limit) === String(request)
    }),
  )
  return guaranteed ? 'Guaranteed' : 'Burstable'
}
