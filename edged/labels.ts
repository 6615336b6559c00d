/**
 * The kubelet's labels and annotations on CRI sandboxes and containers, and its log file layout.
 * They are how edged recognises, after a restart of `tern edge` or of containerd, which pod and
 * container (and which restart of it) a runtime object is, so it adopts what still runs instead of
 * starting a second copy. Same keys as the kubelet's, so `crictl` shows edged's pods as it shows
 * a kubelet's.
 */
import { join } from 'node:path'
import type { Labels } from './cri/runtime.js'

export const POD_NAME = 'io.kubernetes.pod.name'
export const POD_NAMESPACE = 'io.kubernetes.pod.namespace'
export const POD_UID = 'io.kubernetes.pod.uid'
export const CONTAINER_NAME = 'io.kubernetes.container.name'
/** Marks the objects edged manages, so it never touches containers another client of containerd made. */
export const MANAGED_BY = 'io.tern.managed-by'
export const MANAGED_BY_EDGED = 'tern-edged'
/** Annotations (values that change, or are read only when the object is edged's). */
export const CONTAINER_HASH = 'io.kubernetes.container.hash'
export const CONTAINER_RESTART_COUNT = 'io.kubernetes.container.restartCount'
export const POD_TERMINATION_GRACE = 'io.kubernetes.pod.terminationGracePeriod'
export const CONTAINER_TERMINATION_GRACE = 'io.kubernetes.container.terminationGracePeriod'
export const TERMINATION_MESSAGE_PATH = 'io.kubernetes.container.terminationMessagePath'
export const TERMINATION_MESSAGE_POLICY = 'io.kubernetes.container.terminationMessagePolicy'

export interface PodRef {
  name: string
  namespace: string
  uid: string
}

export function sandboxLabels(pod: PodRef): Labels {
  return { [POD_NAME]: pod.name, [POD_NAMESPACE]: pod.namespace, [POD_UID]: pod.uid, [MANAGED_BY]: MANAGED_BY_EDGED }
}

export function containerLabels(pod: PodRef, container: string): Labels {
  return { ...sandboxLabels(pod), [CONTAINER_NAME]: container }
}

/** The pod a runtime object belongs to, when edged made it. */
export function podOf(labels: Labels): PodRef | undefined {
  if (labels[MANAGED_BY] !== MANAGED_BY_EDGED) return undefined
  const [name, namespace, uid] = [labels[POD_NAME], labels[POD_NAMESPACE], labels[POD_UID]]
  return name === undefined || namespace === undefined || uid === undefined ? undefined : { name, namespace, uid }
}

/** The kubelet's `/var/log/pods` layout under edged's root: `pods/<namespace>_<name>_<uid>/`. */
export function podLogDir(rootDir: string, pod: PodRef): string {
  return join(rootDir, 'pods', `${pod.namespace}_${pod.name}_${pod.uid}`)
}

/** A container's log path relative to its pod's log directory: `<container>/<restartCount>.log`. */
export function containerLogPath(container: string, restartCount: number): string {
  return join(container, `${restartCount}.log`)
}
