/**
 * `tern pods`: the node's pods from edged's snapshot (`<rootDir>/pods.json`, written by tern edge),
 * printed as `kubectl get pods -o wide` prints them (its printPod: STATUS is the reason of the
 * first waiting or failed container, Init:N/M while init containers run, Terminating while deleted;
 * RESTARTS with the age of the last restart; AGE as kubectl's HumanDuration).
 */
import type { PodSnapshot, PodSnapshotEntry } from '../edged/status-manager.js'
import type { ContainerStatus } from '../schemas/pod.js'

export function podRow(p: PodSnapshotEntry, now: number): { ready: string; status: string; restarts: string } {
  const s = p.status
  let reason: string = s.reason ?? s.phase
  let restarts = 0
  let lastRestart: number | undefined
  const noteRestart = (c: ContainerStatus): void => {
    restarts += c.restartCount
    const finished = c.lastState.terminated?.finishedAt
    if (c.restartCount > 0 && finished !== undefined) lastRestart = Math.max(lastRestart ?? 0, Date.parse(finished))
  }
  let initializing = false
  const inits = s.initContainerStatuses ?? []
  for (const [i, c] of inits.entries()) {
    noteRestart(c)
    const t = c.state.terminated
    if (t !== undefined && t.exitCode === 0) continue
    initializing = true
    if (t !== undefined) reason = t.reason !== '' ? `Init:${t.reason}` : t.signal ? `Init:Signal:${t.signal}` : `Init:ExitCode:${t.exitCode}`
    else if (c.state.waiting !== undefined && c.state.waiting.reason !== '' && c.state.waiting.reason !== 'PodInitializing') reason = `Init:${c.state.waiting.reason}`
    else reason = `Init:${i}/${p.spec.initContainers.length}`
    break
  }
  let ready = 0
  if (!initializing) {
    restarts = 0
    lastRestart = undefined
    let hasRunning = false
    for (const c of [...s.containerStatuses].reverse()) {
      noteRestart(c)
      const { waiting, terminated, running } = c.state
      if (waiting !== undefined && waiting.reason !== '') reason = waiting.reason
      else if (terminated !== undefined) reason = terminated.reason !== '' ? terminated.reason : terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode}`
      else if (c.ready && running !== undefined) {
        hasRunning = true
        ready++
      }
    }
    if (reason === 'Completed' && hasRunning) reason = s.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady'
  }
  if (p.deleting) reason = 'Terminating'
  const restartText = lastRestart === undefined ? String(restarts) : `${restarts} (${humanDuration(now - lastRestart)} ago)`
  return { ready: `${ready}/${p.spec.containers.length}`, status: reason, restarts: restartText }
}

/** kubectl's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  if (seconds < -1) return '<invalid>'
  if (seconds < 0) return '0s'
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  const with2 = (a: number, unitA: string, b: number, unitB: string): string => (b === 0 ? `${a}${unitA}` : `${a}${unitA}${b}${unitB}`)
  if (minutes < 10) return with2(minutes, 'm', seconds % 60, 's')
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return with2(hours, 'h', minutes % 60, 'm')
  if (hours < 48) return `${hours}h`
  if (hours < 24 * 8) return with2(Math.floor(hours / 24), 'd', hours % 24, 'h')
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`
  if (hours < 24 * 365 * 8) return with2(Math.floor(hours / 24 / 365), 'y', Math.floor(hours / 24) % 365, 'd')
  return `${Math.floor(hours / 24 / 365)}y`
}

/** The table, columns padded as kubectl's tabwriter pads them (three spaces between columns). */
export function podsTable(snapshot: PodSnapshot, wide: boolean, now: number): string {
  const header = ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', ...(wide ? ['IP', 'NODE'] : [])]
  const rows = snapshot.pods.map((p) => {
    const r = podRow(p, now)
    const row = [p.namespace, p.name, r.ready, r.status, r.restarts, humanDuration(now - Date.parse(p.createdAt))]
    return wide ? [...row, p.status.podIP ?? '<none>', snapshot.node] : row
  })
  if (rows.length === 0) return 'No resources found on this node.'
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(Math.max(6, (widths[i] ?? 0) + 3)))).join('')).join('\n')
}
