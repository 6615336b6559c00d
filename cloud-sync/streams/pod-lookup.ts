/** The stream endpoint's view of a pod (its node and uid), read from the API server per request. */
import * as k8s from '@kubernetes/client-node'
import { wrap, type KubeRequestError } from '../cloud/kube-api.js'
import type { PodLookup } from './stream-server.js'

export function clientNodePodLookup(kc: k8s.KubeConfig): PodLookup {
  const core = kc.makeApiClient(k8s.CoreV1Api)
  return async (namespace, name) => {
    try {
      const pod = await wrap(() => core.readNamespacedPod({ namespace, name }))
      return { node: pod.spec?.nodeName, uid: pod.metadata?.uid }
    } catch (err) {
      if ((err as KubeRequestError).status === 404) return undefined
      throw err
    }
  }
}
