/** Edged's pods by phase and their containers' restarts, read when scraped (absent without edged). */
import type { Edged } from '../../edged/edged.js'
import { countedBy, gaugedBy, type Registry } from '../prom.js'

const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const

export function edgedMetrics(registry: Registry, edged: Edged): void {
  gaugedBy(registry, {
    name: 'tern_edged_pods',
    help: "Pods edged runs, by phase (a pod with no status yet counts as Pending)",
    labelNames: ['phase'],
    read: () => {
      const e = edged
      const counts = new Map<string, number>(PHASES.map((p) => [p, 0]))
      for (const { status } of e.statuses()) {
        const phase = status?.phase ?? 'Pending'
        counts.set(phase, (counts.get(phase) ?? 0) + 1)
      }
      return [...counts].map(([phase, n]) => [{ phase }, n] as const)
    },
  })
  countedBy(registry, {
    name: 'tern_edged_container_restarts_total',
    help: "Restarts of the containers of the pods edged runs now (the sum of their restartCount; a removed pod's restarts leave the sum)",
    read: () => {
      const e = edged
      let restarts = 0
      for (const { status } of e.statuses()) for (const c of [...(status?.containerStatuses ?? []), ...(status?.initContainerStatuses ?? [])]) restarts += c.restartCount
      return [[{}, restarts]]
    },
  })
  gaugedBy(registry, {
    name: 'tern_edged_runtime_up',
    help: '1 while the container runtime (containerd CRI) answers, 0 while it cannot be reached',
    read: () => {
      const ready = edged.runtimeReady
      return ready === undefined ? [] : [[{}, ready ? 1 : 0]]
    },
  })
}
