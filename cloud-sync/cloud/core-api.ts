/**
 * The Kubernetes seam of what `tern cloud` writes for edge nodes' pods as their kubelet would
 * (STYLE: an interface at every external seam): list/watch of edge Nodes (their spec: cordon,
 * taints), a pod read (one the workload informer has not seen yet), the pod status
 * subresource (strategic merge patch, as the kubelet's), and Events (create, merge patch of a
 * repeat). {@link ClientNodeCoreApi} is the real one over @kubernetes/client-node.
 */
import * as k8s from '@kubernetes/client-node'
import type { ListWatch } from './informers.js'
import { listPage, orUndefined, pageQuery, watchPath, wrap, type KubeList, type PageRequest, type WatchHandle, type WatchHandlers } from './kube-api.js'
import { EDGE_ROLE_LABEL } from './node-object.js'

export type CoreResource = 'edge-nodes'

export interface CoreApi extends ListWatch<CoreResource> {
  /** The pod, or undefined on 404 (a pod the informer has not seen yet). */
  getPod(namespace: string, name: string): Promise<unknown>
  /** Strategic merge patch of `pods/<name>/status`; resolves with the stored pod. */
  patchPodStatus(namespace: string, name: string, patch: object): Promise<unknown>
  /** Creates an Event; KubeRequestError 409 when one of that name exists. */
  createEvent(namespace: string, event: object): Promise<unknown>
  /** Merge patch of an Event (a repeat: count, lastTimestamp, message). */
  patchEvent(namespace: string, name: string, patch: object): Promise<unknown>
}

const EDGE_NODES = { path: '/api/v1/nodes', labelSelector: EDGE_ROLE_LABEL }

export class ClientNodeCoreApi implements CoreApi {
  readonly #core: k8s.CoreV1Api
  readonly #watch: k8s.Watch

  constructor(kc: k8s.KubeConfig) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api)
    this.#watch = new k8s.Watch(kc)
  }

  async list(_resource: CoreResource, page?: PageRequest): Promise<KubeList> {
    return listPage((options) => this.#core.listNode({ labelSelector: EDGE_NODES.labelSelector, ...pageQuery(page) }, options))
  }

  watch(_resource: CoreResource, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle> {
    const { path, ...query } = EDGE_NODES
    return watchPath(this.#watch, path, resourceVersion, handlers, { query })
  }

  getPod(namespace: string, name: string): Promise<unknown> {
    return orUndefined(() => this.#core.readNamespacedPod({ namespace, name }))
  }

  patchPodStatus(namespace: string, name: string, patch: object): Promise<unknown> {
    return wrap(() => this.#core.patchNamespacedPodStatus({ namespace, name, body: patch }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch)))
  }

  createEvent(namespace: string, event: object): Promise<unknown> {
    return wrap(() => this.#core.createNamespacedEvent({ namespace, body: event as k8s.CoreV1Event }))
  }

  patchEvent(namespace: string, name: string, patch: object): Promise<unknown> {
    return wrap(() => this.#core.patchNamespacedEvent({ namespace, name, body: patch }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)))
  }
}
