/**
 * The kubelet's final delete, for edge nodes: the edge sends `delete` of `<ns>/pod/<name>` with
 * `{ uid }` once it has terminated a pod whose deletion was asked for (deletionTimestamp set), and
 * the pod is deleted with gracePeriodSeconds 0 and preconditions.uid, so a newer pod of the same
 * name is never hit. Answered once the API server took it (a pod already gone counts as done). A
 * pod bound to another node, or another uid, is refused with CLOUD_NOT_OWNER; a pod nobody asked
 * to delete with CLOUD_MESSAGE_INVALID; API failures with CLOUD_KUBE_UNAVAILABLE (the edge
 * re-sends). Refusals are logged once per node, code and episode (RefusalLog), so a node sending
 * deletes of others' pods by the thousand costs a line, each still answered.
 */
import type { Logger } from 'pino'
import type { ErrorCode } from '../../schemas/errors.js'
import { errorResponse, NODE_STATUS_ROUTE, Operations, parseWorkloadResource, response, validatePodDeleted, type Envelope } from '../messages.js'
import type { RefusalLog } from '../refusal-log.js'
import type { Session } from '../session.js'
import type { KubeRequestError } from './kube-api.js'
import type { WorkloadApi } from './workload-api.js'
import type { Workloads } from './workloads.js'

export interface PodDeletesOptions {
  workloads: Workloads
  api: WorkloadApi
  log: Logger
  /** shared by every session: a node's episode outlives a reconnection */
  refusals: RefusalLog
}

/** Serves the final deletes of `session`'s node. */
export function servePodDeletes(session: Session, options: PodDeletesOptions): void {
  session.onMessage((message) => {
    if (message.route.operation !== Operations.delete || parseWorkloadResource(message.route.resource)?.kind !== 'pod') return
    void finalDelete(session.node, message, options).then(
      (outcome) => session.send(outcome === undefined ? response(message, NODE_STATUS_ROUTE.source) : errorResponse(message, NODE_STATUS_ROUTE.source, outcome)),
      (err: unknown) => options.log.error({ err, node: session.node }, 'final pod delete failed'),
    )
  })
}

async function finalDelete(node: string, message: Envelope, o: PodDeletesOptions): Promise<{ code: ErrorCode; reason: string } | undefined> {
  const { namespace, name } = parseWorkloadResource(message.route.resource) as { namespace: string; name: string }
  const checked = validatePodDeleted(message.content)
  if (!checked.ok) return { code: 'CLOUD_MESSAGE_INVALID', reason: checked.problems.map((p) => `/content${p.path}: ${p.message}`).join('; ') }
  const pod = o.workloads.pods.get(namespace, name)
  if (pod === undefined) return undefined // gone already: what the edge asked for
  if (pod.spec.nodeName !== node || pod.metadata.uid !== checked.value.uid) {
    o.refusals.warn(node, 'CLOUD_NOT_OWNER', { node, pod: `${namespace}/${name}`, boundTo: pod.spec.nodeName, uid: checked.value.uid }, 'a node asked to delete a pod that is not its own')
    return { code: 'CLOUD_NOT_OWNER', reason: `pod ${namespace}/${name} with uid ${checked.value.uid} is not bound to ${node}` }
  }
  if (pod.metadata.deletionTimestamp === undefined) return { code: 'CLOUD_MESSAGE_INVALID', reason: `pod ${namespace}/${name} is not being deleted` }
  try {
    await o.api.deletePod(namespace, name, checked.value.uid)
    o.log.info({ node, pod: `${namespace}/${name}`, uid: checked.value.uid }, 'pod deleted after its termination at the edge')
    return undefined
  } catch (err) {
    const status = (err as KubeRequestError).status
    if (status === 409) return { code: 'CLOUD_NOT_OWNER', reason: `pod ${namespace}/${name} now has another uid` }
    o.refusals.warn(node, 'CLOUD_KUBE_UNAVAILABLE', { node, pod: `${namespace}/${name}`, err: (err as Error).message }, 'final pod delete failed; the edge sends it again')
    return { code: 'CLOUD_KUBE_UNAVAILABLE', reason: (err as Error).message }
  }
}
