/**
 * What the kubelet does to a static pod manifest before running it (pkg/kubelet/config/common.go
 * applyDefaults): the pod is named `<name>-<node>`, bound to the node, and its uid is a hash of
 * its content and the node name, so an edit of the file is a new pod (the old one is stopped and
 * the new one started) and an unchanged file keeps its pod across restarts of tern edge.
 */
import { createHash } from 'node:crypto'
import type { Pod } from '../../schemas/pod.js'
import { stableJson } from '../stable-json.js'

export const CONFIG_SOURCE_ANNOTATION = 'kubernetes.io/config.source'
export const CONFIG_HASH_ANNOTATION = 'kubernetes.io/config.hash'

export function staticPod(pod: Pod, nodeName: string, source: string): Pod {
  const hash = createHash('sha256')
  hash.update(stableJson(pod))
  hash.update(`host:${nodeName}`)
  const uid = hash.digest('hex').slice(0, 32)
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      name: `${pod.metadata.name}-${nodeName}`.toLowerCase(),
      uid,
      annotations: { ...pod.metadata.annotations, [CONFIG_SOURCE_ANNOTATION]: source, [CONFIG_HASH_ANNOTATION]: uid },
    },
    spec: { ...pod.spec, nodeName },
  }
}
