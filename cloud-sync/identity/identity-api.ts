/**
 * The Kubernetes seam of node identity (STYLE: an interface at every external seam): Secrets in
 * tern's namespace (the CA, join tokens, node records) and Nodes (created at join, watched for
 * deletion: deleting a Node revokes it). {@link ClientNodeIdentityApi} is the real one.
 */
import * as k8s from '@kubernetes/client-node'
import { listPage, pageQuery, watchPath, wrap, type KubeList, type KubeRequestError, type PageRequest, type WatchHandle, type WatchHandlers } from '../cloud/kube-api.js'

export interface IdentityApi {
  /** The Secret, or undefined on 404. */
  getSecret(namespace: string, name: string): Promise<unknown>
  /** Creates; KubeRequestError 409 when it exists. */
  createSecret(namespace: string, secret: object): Promise<unknown>
  /** Replaces; the body's metadata.resourceVersion is a precondition (409 when stale). */
  replaceSecret(namespace: string, name: string, secret: object): Promise<unknown>
  /** Deletes; false when there was nothing to delete. `uid` makes it conditional (409 when it changed). */
  deleteSecret(namespace: string, name: string, uid?: string): Promise<boolean>
  /** Creates the Node when absent (true), leaves an existing one alone (false). */
  ensureNode(name: string, labels: Record<string, string>): Promise<boolean>
  /** Deletes the Node; false when there was none. */
  deleteNode(name: string): Promise<boolean>
  /** List/watch of `secrets` labelled `selector` in `namespace`, or of `nodes` (the informer's seam). */
  list(resource: IdentityResource, page?: PageRequest): Promise<KubeList>
  watch(resource: IdentityResource, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle>
}

export type IdentityResource = 'node-records' | 'nodes'

export class ClientNodeIdentityApi implements IdentityApi {
  readonly #core: k8s.CoreV1Api
  readonly #watch: k8s.Watch
  readonly #namespace: string
  readonly #recordSelector: string

  constructor(kc: k8s.KubeConfig, namespace: string, recordSelector: string) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api)
    this.#watch = new k8s.Watch(kc)
    this.#namespace = namespace
    this.#recordSelector = recordSelector
  }

  async getSecret(namespace: string, name: string): Promise<unknown> {
    try {
      return await wrap(() => this.#core.readNamespacedSecret({ namespace, name }))
    } catch (err) {
      if ((err as KubeRequestError).status === 404) return undefined
      throw err
    }
  }

  createSecret(namespace: string, secret: object): Promise<unknown> {
    return wrap(() => this.#core.createNamespacedSecret({ namespace, body: secret }))
  }

  replaceSecret(namespace: string, name: string, secret: object): Promise<unknown> {
    return wrap(() => this.#core.replaceNamespacedSecret({ namespace, name, body: secret }))
  }

  async deleteSecret(namespace: string, name: string, uid?: string): Promise<boolean> {
    try {
      await wrap(() => this.#core.deleteNamespacedSecret({ namespace, name, ...(uid === undefined ? {} : { body: { preconditions: { uid } } }) }))
      return true
    } catch (err) {
      if ((err as KubeRequestError).status === 404) return false
      throw err
    }
  }

  async ensureNode(name: string, labels: Record<string, string>): Promise<boolean> {
    try {
      await wrap(() => this.#core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } } }))
      return true
    } catch (err) {
      if ((err as KubeRequestError).status === 409) return false
      throw err
    }
  }

  async deleteNode(name: string): Promise<boolean> {
    try {
      await wrap(() => this.#core.deleteNode({ name }))
      return true
    } catch (err) {
      if ((err as KubeRequestError).status === 404) return false
      throw err
    }
  }

  async list(resource: IdentityResource, page?: PageRequest): Promise<KubeList> {
    const query = pageQuery(page)
    return listPage((options) => (resource === 'nodes' ? this.#core.listNode(query, options) : this.#core.listNamespacedSecret({ namespace: this.#namespace, labelSelector: this.#recordSelector, ...query }, options)))
  }

  async watch(resource: IdentityResource, resourceVersion: string, handlers: WatchHandlers): Promise<WatchHandle> {
    const path = resource === 'nodes' ? '/api/v1/nodes' : `/api/v1/namespaces/${this.#namespace}/secrets`
    return watchPath(this.#watch, path, resourceVersion, handlers, resource === 'nodes' ? {} : { query: { labelSelector: this.#recordSelector } })
  }
}
