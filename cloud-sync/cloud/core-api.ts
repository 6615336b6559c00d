/**
 * The Kubernetes seam of what `tern cloud` writes for edge nodes' pods as their kubelet would
 * (STYLE: an interface at every external seam): list/watch of pods bound to a node (field
 * selector `spec.nodeName!=`) and of edge Nodes (their spec: cordon, taints), the pod status
 * subresource (strategic merge patch, as the kubelet's), and Events (create, merge patch of a
 * repeat). {@link ClientNodeCoreApi} is the real one over @kubernetes/client-node.
 */
import * as k8s from '@kubernetes/client-node'
import type { ListWatch } from './informers.js'
import { watchPath, wrap, type KubeList, type KubeRequestError, type WatchHandle, type WatchHandlers } from './kube-api.js'
import { EDGE_ROLE_LABEL } from './node-object.js'

export type CoreResource = 'bound-pods' | 'edge-nodes'

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

const QUERIES: Record<CoreResource, { path: string; fieldSelector?: string; labelSelector?: string }> = {
  'bound-pods': { path: '/api/v1/pods', fieldSelector: 'spec.nodeName!=' },
  'edge-nodes': { path: '/api/v1/nodes', labelSelector: EDGE_ROLE_LABEL },
}

export class ClientNodeCoreApi implements CoreApi {
  readonly #core: k8s.CoreV1Api
  readonly #watch: k8s.Watch

  constructor(kc: k8s.KubeConfig) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api)
    this.#watch = new k8s.Watch(kc)
  }

  async list(resource: CoreResource): Promise<KubeList> {
    const { fieldSelector, labelSelector } = QUERIES[resource]
    const list =
      resource === 'bound-pods'
        ? await wrap(() => this.#core.listPodForAllNamespaces({ ...(fieldSelector === undefined ? {} : { fieldSelector }) }))
        : await wrap(() => this.#core.listNode({ ...(labelSelector === undefined ? {} : { labelSelector }) }))
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' }
  }

  watch(resource: CoreResource, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle> {
    const { path, ...query } = QUERIES[resource]
    return watchPath(this.#watch, path, resourceVersion, handlers, { query })
  }

  async getPod(namespace: string, name: string): Promise<unknown> {
    try {
      return await wrap(() => this.#core.readNamespacedPod({ namespace, name }))
    } catch (err) {
      if ((err as KubeRequestError).status === 404) return undefined
      throw err
    }
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
