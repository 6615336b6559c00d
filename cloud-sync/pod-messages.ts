/**
 * The link messages of what a kubelet writes to the API server (schemas/pod-link.ts), in
 * MetaManager's `<ns>/<type>/<name>` resource layout (kubeedge-compat.md §5.2):
 *
 * - upstream `update` of `<ns>/podstatus/<name>`, content {@link PodStatusReport} → PATCH
 *   `pods/<name>/status`; acknowledged once written, refused with CLOUD_NOT_OWNER when the pod is
 *   not bound to the sending node or has another uid;
 * - upstream `insert` of `<ns>/event/<name>`, content {@link EventReport} → an Event created, or
 *   patched (count, lastTimestamp) when it exists; acknowledged once written;
 * - downstream `update` of `default/node/<node>`, content {@link NodeSpecUpdate}: the Node's spec
 *   (cordon, taints) for edged's admission; acknowledged by the edge once applied.
 */
import type { EventReport, NodeSpecUpdate, PodStatusReport } from '../schemas/pod-link.js'
import { EventReport as eventReportCheck } from '../schemas/generated/validators/EventReport.js'
import { NodeSpecUpdate as nodeSpecUpdateCheck } from '../schemas/generated/validators/NodeSpecUpdate.js'
import { PodStatusReport as podStatusReportCheck } from '../schemas/generated/validators/PodStatusReport.js'
import { validator } from '../schemas/validate.js'

export type { EventReport, NodeSpecUpdate, PodStatusReport }

export const validatePodStatusReport = validator(podStatusReportCheck)
export const validateEventReport = validator(eventReportCheck)
export const validateNodeSpecUpdate = validator(nodeSpecUpdateCheck)

/** Source and group of the kubelet's reports (KubeEdge: edged reports through MetaManager, group `meta`). */
export const POD_REPORT_ROUTE = { source: 'edged', group: 'meta' } as const

export type PodReportKind = 'podstatus' | 'event'

export function podReportResource(kind: PodReportKind, namespace: string, name: string): string {
  return `${namespace}/${kind}/${name}`
}

export function parsePodReportResource(resource: string): { kind: PodReportKind; namespace: string; name: string } | undefined {
  const match = /^([^/]+)\/(podstatus|event)\/([^/]+)$/.exec(resource)
  if (match === null) return undefined
  return { kind: match[2] as PodReportKind, namespace: match[1] as string, name: match[3] as string }
}

/** `default/node/<node>`: the node's own Node (its spec), sent down for admission. */
export function nodeSpecResource(node: string): string {
  return `default/node/${node}`
}

export function parseNodeSpecResource(resource: string): string | undefined {
  const match = /^default\/node\/([^/]+)$/.exec(resource)
  return match === null ? undefined : match[1]
}
