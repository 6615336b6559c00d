/**
 * The cloud side's own counters (controllers, CloudHub, Nodes), read when scraped: edge sessions,
 * resyncs and downstream messages, status reports and patches with the write budget, queue depths,
 * informer lists.
 */
import type { CloudController } from '../../cloud-sync/cloud/controller.js'
import type { NodeLifecycle } from '../../cloud-sync/cloud/node-lifecycle.js'
import type { CloudHub } from '../../cloud-sync/link/cloud-hub.js'
import { countedBy, gaugedBy, type Registry } from '../prom.js'

export function controllerMetrics(registry: Registry, controller: CloudController): void {
  const m = () => controller.metrics()
  countedBy(registry, { name: 'tern_cloud_resyncs_total', help: "Full resyncs of a node's devices, one per (re)connected edge session", read: () => [[{}, m().downstream.resyncs]] })
  countedBy(registry, {
    name: 'tern_cloud_downstream_messages_total',
    help: 'Device changes sent to edge nodes, by kind: update, delete; superseded = replaced by a newer change before the edge answered; refused = the edge answered with an error',
    labelNames: ['kind'],
    read: () => {
      const d = m().downstream
      return [
        [{ kind: 'update' }, d.updates],
        [{ kind: 'delete' }, d.deletes],
        [{ kind: 'superseded' }, d.superseded],
        [{ kind: 'refused' }, d.refused],
      ]
    },
  })
  countedBy(registry, {
    name: 'tern_cloud_workload_messages_total',
    help: 'Pods, ConfigMaps and Secrets sent to edge nodes, by kind: resync (a node\'s whole set), update, delete; superseded = replaced by a newer change before the edge answered; refused = the edge answered with an error. A change of a ConfigMap or Secret is one update per node using it, not per pod',
    labelNames: ['kind'],
    read: () => {
      const w = m().workloads
      if (w === undefined) return []
      return [
        [{ kind: 'resync' }, w.resyncs],
        [{ kind: 'update' }, w.updates],
        [{ kind: 'delete' }, w.deletes],
        [{ kind: 'superseded' }, w.superseded],
        [{ kind: 'refused' }, w.refused],
      ]
    },
  })
  countedBy(registry, {
    name: 'tern_cloud_status_reports_total',
    help: 'Twin and state reports from edge nodes, by result: received, coalesced (folded into a status already waiting), acked (written and acknowledged), refused',
    labelNames: ['result'],
    read: () => {
      const u = m().upstream
      return [
        [{ result: 'received' }, u.reportsReceived],
        [{ result: 'coalesced' }, u.coalesced],
        [{ result: 'acked' }, u.acked],
        [{ result: 'refused' }, u.reportsRefused],
      ]
    },
  })
  countedBy(registry, {
    name: 'tern_cloud_status_patches_total',
    help: 'Device status patches written to the API server, by result (ok, error); their latency is tern_cloud_api_request_duration_seconds{verb="patch",resource="devices/status"}',
    labelNames: ['result'],
    read: () => [
      [{ result: 'ok' }, m().upstream.patchesWritten],
      [{ result: 'error' }, m().upstream.patchFailures],
    ],
  })
  gaugedBy(registry, {
    name: 'tern_cloud_status_patch_budget_used_ratio',
    help: 'Share of the status write budget (status.qps, status.burst) in use: 0 = a full burst available, 1 = writes wait for tokens',
    read: () => {
      const { available, burst } = m().upstream.budget
      return [[{}, 1 - available / burst]]
    },
  })
  gaugedBy(registry, {
    name: 'tern_cloud_queue_depth',
    help: 'Devices waiting in the cloud side: status_pending = a status waiting to be written; status_writing = a patch in flight',
    labelNames: ['queue'],
    read: () => [
      [{ queue: 'status_pending' }, m().upstream.pending],
      [{ queue: 'status_writing' }, m().upstream.writing],
    ],
  })
  countedBy(registry, {
    name: 'tern_cloud_informer_lists_total',
    help: 'Full lists by the informers, by resource: the first one, then one per relist (a watch too old, 410 Gone)',
    labelNames: ['resource'],
    read: () => Object.entries(m().lists).map(([resource, n]) => [{ resource }, n] as const),
  })
}

export function hubMetrics(registry: Registry, hub: CloudHub): void {
  gaugedBy(registry, { name: 'tern_cloud_sessions', help: 'Edge nodes connected to CloudHub', read: () => [[{}, hub.sessions.size]] })
}

export function nodeMetrics(registry: Registry, nodes: NodeLifecycle): void {
  countedBy(registry, {
    name: 'tern_cloud_node_writes_total',
    help: 'Writes for the Nodes of edge nodes, by kind: status (Node status patches), lease (Lease renewals), marked_unknown (Ready=Unknown after silence)',
    labelNames: ['kind'],
    read: () => {
      const n = nodes.metrics()
      return [
        [{ kind: 'status' }, n.statusPatches],
        [{ kind: 'lease' }, n.leaseWrites],
        [{ kind: 'marked_unknown' }, n.markedUnknown],
      ]
    },
  })
}
