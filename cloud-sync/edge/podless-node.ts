/**
 * A node without edged (no `edged:` section) runs no pods, yet the cluster may bind pods to its
 * Node (a DaemonSet, or `spec.nodeName`). The edge stores them as any node does and never runs
 * them; when one is deleted nothing of it runs and no edged will ever say so, so its final delete
 * goes at once, as a kubelet removes a pod it never ran (status_manager canBeDeleted). Without
 * this, every pod a DaemonSet put on such a node stayed Terminating for ever once deleted.
 */
import type { WorkloadSync } from './workload-sync.js'

type Terminated = (pod: { namespace: string; name: string; uid: string }) => void

/** Reports each pod the cloud deletes as terminated, once per uid, from now on and for those stored already. */
export function finishDeletedPods(workloads: WorkloadSync, terminated: Terminated): void {
  const reported = new Set<string>()
  const sweep = (): void => {
    const deleting = new Set<string>()
    for (const pod of workloads.pods()) {
      const { namespace, name, uid, deletionTimestamp } = pod.metadata
      if (deletionTimestamp === undefined || uid === undefined || uid === '') continue
      deleting.add(uid)
      if (reported.has(uid)) continue
      reported.add(uid)
      terminated({ namespace, name, uid })
    }
    // the final delete landed (the pod left the store): forget it
    for (const uid of reported) if (!deleting.has(uid)) reported.delete(uid)
  }
  workloads.onChange(sweep)
  sweep()
}
