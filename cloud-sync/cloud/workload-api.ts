/**
 * The Kubernetes seam of the workload downlink (STYLE: an interface at every external seam):
 * list and watch Pods, ConfigMaps and Secrets in all namespaces, a read of one ConfigMap or
 * Secret (one a pod starts to reference), and the kubelet's final delete of a pod. {@link ClientNodeWorkloadApi} is the real one over @kubernetes/client-node.
 */
import * as k8s from '@kubernetes/client-node'
import { listPage, orUndefined, pageQuery, watchPath, type KubeList, type PageRequest, type WatchHandle, type WatchHandlers } from './kube-api.js'

export type WorkloadResource = 'pods' | 'configmaps' | 'secrets'
export type ReferencedResource = Exclude<WorkloadResource, 'pods'>

export interface WorkloadApi {
  /** The whole list, or one page of it. */
  list(resource: WorkloadResource, page?: PageRequest): Promise<KubeList>
  /** Watches `resource` in all namespaces from `resourceVersion` (exclusive). */
  watch(resource: WorkloadResource, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle>
  /** GET of one ConfigMap or Secret, as the API server's JSON; undefined on 404. */
  read(resource: ReferencedResource, namespace: string, name: string): Promise<unknown>
  /**
   * DELETE of the pod with gracePeriodSeconds 0 and preconditions.uid (the kubelet's final delete
   * once its containers are gone): false when it is already gone (404); KubeRequestError 409 when
   * the name now belongs to another pod.
   */
  deletePod(namespace: string, name: string, uid: string): Promise<boolean>
}

/**
 * client-node's typed lists turn timestamps into Dates: back to the API server's JSON (RFC 3339,
 * whole seconds), as a watch delivers the same objects.
 */
export function plainJson(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString().replace(/\.\d{3}Z$/, 'Z')
  if (Array.isArray(value)) return value.map(plainJson)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = plainJson(v)
  return out
}

export class ClientNodeWorkloadApi implements WorkloadApi {
  readonly #core: k8s.CoreV1Api
  readonly #watch: k8s.Watch

  constructor(kc: k8s.KubeConfig) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api)
    this.#watch = new k8s.Watch(kc)
  }

  async list(resource: WorkloadResource, page?: PageRequest): Promise<KubeList> {
    const query = pageQuery(page)
    return listPage((options) => {
      if (resource === 'pods') return this.#core.listPodForAllNamespaces(query, options)
      if (resource === 'configmaps') return this.#core.listConfigMapForAllNamespaces(query, options)
      return this.#core.listSecretForAllNamespaces(query, options)
    }, plainJson)
  }

  async watch(resource: WorkloadResource, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle> {
    return watchPath(this.#watch, `/api/v1/${resource}`, resourceVersion, handlers)
  }

  async read(resource: ReferencedResource, namespace: string, name: string): Promise<unknown> {
    const object = await orUndefined<unknown>(() => (resource === 'configmaps' ? this.#core.readNamespacedConfigMap({ namespace, name }) : this.#core.readNamespacedSecret({ namespace, name })))
    return object === undefined ? undefined : plainJson(object)
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<boolean> {
    return (await orUndefined(() => this.#core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid } } }))) !== undefined
  }
}
