/**
 * The cells kube-apiserver's own table printers compute for Nodes and Pods
 * (kubernetes pkg/printers/internalversion/printers.go: printNode, printPod), which `kubectl get
 * nodes` / `kubectl get pods [-o wide]` print as they come. The subset of printPod's rules here:
 * phase or status.reason, the reasons of waiting/terminated containers (init containers as
 * `Init:<reason>` / `Init:n/m`), READY n/m, RESTARTS summed, Terminating once deletionTimestamp is set.
 */
import type { Json } from './patch.js'
import type { KubeObject } from './store.js'

type Rec = Record<string, Json>

function rec(value: Json | undefined): Rec {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {}
}

function recs(value: Json | undefined): Rec[] {
  return Array.isArray(value) ? value.map(rec) : []
}

const str = (value: Json | undefined): string => (typeof value === 'string' ? value : '')

/** `Ready`, `NotReady` (a Ready condition that is not True: False or Unknown), `Unknown` (none); `,SchedulingDisabled` when cordoned. */
export function nodeStatus(node: KubeObject): string {
  const ready = recs(rec(node.status).conditions).find((c) => c.type === 'Ready')
  const states = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady']
  if (rec(node.spec).unschedulable === true) states.push('SchedulingDisabled')
  return states.join(',')
}

/** Roles from `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`, sorted; `<none>`. */
export function nodeRoles(node: KubeObject): string {
  const roles = new Set<string>()
  for (const [key, value] of Object.entries(rec(node.metadata.labels))) {
    if (key.startsWith('node-role.kubernetes.io/')) roles.add(key.slice('node-role.kubernetes.io/'.length))
    else if (key === 'kubernetes.io/role' && str(value) !== '') roles.add(str(value))
  }
  return roles.size === 0 ? '<none>' : [...roles].filter((r) => r !== '').sort().join(',')
}

export function nodeAddress(node: KubeObject, type: string): string {
  return str(recs(rec(node.status).addresses).find((a) => a.type === type)?.address) || '<none>'
}

export function nodeInfo(node: KubeObject, field: string): string {
  return str(rec(rec(node.status).nodeInfo)[field]) || '<unknown>'
}

function containerReason(status: Rec): string | undefined {
  const state = rec(status.state)
  const waiting = rec(state.waiting)
  const terminated = state.terminated === undefined ? undefined : rec(state.terminated)
  if (str(waiting.reason) !== '') return str(waiting.reason)
  if (terminated !== undefined) {
    if (str(terminated.reason) !== '') return str(terminated.reason)
    return typeof terminated.signal === 'number' && terminated.signal !== 0 ? `Signal:${terminated.signal}` : `ExitCode:${typeof terminated.exitCode === 'number' ? terminated.exitCode : 0}`
  }
  return undefined
}

/** The STATUS column of `kubectl get pods`. */
export function podStatus(pod: KubeObject): string {
  const status = rec(pod.status)
  let reason = str(status.reason) || str(status.phase)
  const inits = recs(status.initContainerStatuses)
  let initializing = false
  inits.forEach((c, i) => {
    if (initializing) return
    const terminated = rec(rec(c.state).terminated)
    if (rec(c.state).terminated !== undefined && terminated.exitCode === 0) return
    initializing = true
    const why = containerReason(c)
    reason = why !== undefined && why !== 'PodInitializing' && why !== 'Completed' ? `Init:${why}` : `Init:${i}/${recs(rec(pod.spec).initContainers).length}`
  })
  if (!initializing) {
    let running = false
    for (const c of [...recs(status.containerStatuses)].reverse()) {
      const why = containerReason(c)
      if (why !== undefined) reason = why
      else if (rec(c.state).running !== undefined) running = true
    }
    if (reason === 'Completed' && running) reason = 'Running'
  }
  if (pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) reason = str(status.reason) === 'NodeLost' ? 'Unknown' : 'Terminating'
  return reason
}

export function podReady(pod: KubeObject): string {
  const statuses = recs(rec(pod.status).containerStatuses)
  const ready = statuses.filter((c) => c.ready === true && rec(c.state).running !== undefined).length
  return `${ready}/${recs(rec(pod.spec).containers).length}`
}

export function podRestarts(pod: KubeObject): number {
  return recs(rec(pod.status).containerStatuses).reduce((n, c) => n + (typeof c.restartCount === 'number' ? c.restartCount : 0), 0)
}

export function podIp(pod: KubeObject): string {
  return str(rec(pod.status).podIP) || '<none>'
}

export function podNode(pod: KubeObject): string {
  return str(rec(pod.spec).nodeName) || '<none>'
}
