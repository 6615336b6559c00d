/**
 * The Kubernetes seam of the node controller (STYLE: an interface at every external seam): Nodes,
 * their status, and their Leases in kube-node-lease. {@link ClientNodeNodeApi} is the real one over
 * @kubernetes/client-node. Bodies go out as plain JSON (a Lease's renewTime is already a
 * MicroTime string: the API server parses exactly six fractional digits).
 */
import * as k8s from '@kubernetes/client-node'
import { orUndefined, requestTimeout, wrap } from './kube-api.js'

export const LEASE_NAMESPACE = 'kube-node-lease'

export interface NodeApi {
  /** The Node, or undefined on 404. */
  getNode(name: string): Promise<unknown>
  /** Creates; KubeRequestError 409 when it exists. */
  createNode(node: object): Promise<unknown>
  /** JSON merge patch of the Node (labels). */
  patchNode(name: string, patch: object): Promise<unknown>
  /** Strategic merge patch of `nodes/<name>/status` (conditions merge by type, as the kubelet's). */
  patchNodeStatus(name: string, patch: object): Promise<unknown>
  /** Names of the Nodes labelled `selector`. */
  listNodes(selector: string): Promise<unknown[]>
  /** The Lease in kube-node-lease, or undefined on 404. */
  getLease(name: string): Promise<unknown>
  createLease(lease: object): Promise<unknown>
  /** Replaces; the body's metadata.resourceVersion is a precondition (409 when stale). */
  replaceLease(name: string, lease: object): Promise<unknown>
}

/**
 * The time limit of a Lease read or write, as the kubelet's heartbeat client's (its status update
 * period, 10 s, at most the lease duration): a renewal that waits longer than that is no renewal.
 */
export function leaseTimeoutMs(leaseDurationSeconds: number): number {
  return Math.min(10_000, leaseDurationSeconds * 1000)
}

export class ClientNodeNodeApi implements NodeApi {
  readonly #core: k8s.CoreV1Api
  readonly #coordination: k8s.CoordinationV1Api
  readonly #lease: k8s.ConfigurationOptions<k8s.ObservableMiddleware>

  /** `leaseTimeoutMs`: the time limit of Lease calls (other calls have the kubeconfig's). */
  constructor(kc: k8s.KubeConfig, options: { leaseTimeoutMs?: number } = {}) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api)
    this.#coordination = kc.makeApiClient(k8s.CoordinationV1Api)
    this.#lease = requestTimeout(options.leaseTimeoutMs ?? leaseTimeoutMs(40))
  }

  getNode(name: string): Promise<unknown> {
    return orUndefined(() => this.#core.readNode({ name }))
  }

  createNode(node: object): Promise<unknown> {
    return wrap(() => this.#core.createNode({ body: node }))
  }

  patchNode(name: string, patch: object): Promise<unknown> {
    return wrap(() => this.#core.patchNode({ name, body: patch }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)))
  }

  patchNodeStatus(name: string, patch: object): Promise<unknown> {
    return wrap(() => this.#core.patchNodeStatus({ name, body: patch }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch)))
  }

  async listNodes(selector: string): Promise<unknown[]> {
    const list = await wrap(() => this.#core.listNode({ labelSelector: selector }))
    return list.items
  }

  getLease(name: string): Promise<unknown> {
    return orUndefined(() => this.#coordination.readNamespacedLease({ name, namespace: LEASE_NAMESPACE }, this.#lease))
  }

  createLease(lease: object): Promise<unknown> {
    return wrap(() => this.#coordination.createNamespacedLease({ namespace: LEASE_NAMESPACE, body: lease }, this.#lease))
  }

  replaceLease(name: string, lease: object): Promise<unknown> {
    return wrap(() => this.#coordination.replaceNamespacedLease({ name, namespace: LEASE_NAMESPACE, body: lease }, this.#lease))
  }
}
