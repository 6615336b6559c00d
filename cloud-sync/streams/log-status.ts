/**
 * Which container's log a `kubectl logs` may show, from the pod's status as edged keeps it (pure):
 * the kubelet's answers when there is none to show, with its words and status codes
 * (pkg/kubelet/server/server.go getContainerLogs: a container not in the pod's spec is 404; the
 * errors of pkg/kubelet/kubelet_pods.go validateContainerLogStatus are 400), so a client sees
 * what a kubelet would have told it. Names are quoted as Go's %q quotes them (a Kubernetes name
 * needs no escapes).
 */
import type { ErrorCode } from '../../schemas/tern-error.js'
import type { PodSpec, PodStatus } from '../../schemas/pod.js'

/** STREAM_CONTAINER_NOT_FOUND is answered 404, STREAM_LOG_UNAVAILABLE 400 (edge-serve.ts) */
export interface LogRefusal {
  code: Extract<ErrorCode, 'STREAM_CONTAINER_NOT_FOUND' | 'STREAM_LOG_UNAVAILABLE'>
  message: string
}

/** Why the log of `container` (the previous one's, with `previous`) cannot be shown, or undefined when it can. */
export function logRefusal(pod: string, spec: Pick<PodSpec, 'containers' | 'initContainers'>, status: PodStatus | undefined, container: string, previous: boolean): LogRefusal | undefined {
  const q = (name: string): string => JSON.stringify(name)
  const inSpec = [...spec.containers, ...(spec.initContainers ?? [])].some((c) => c.name === container)
  if (!inSpec) return { code: 'STREAM_CONTAINER_NOT_FOUND', message: `container ${q(container)} not found in pod ${q(pod)}` }
  const refuse = (why: string): LogRefusal => ({ code: 'STREAM_LOG_UNAVAILABLE', message: why })
  const s = [...(status?.containerStatuses ?? []), ...(status?.initContainerStatuses ?? [])].find((c) => c.name === container)
  if (s === undefined) return refuse(`container ${q(container)} in pod ${q(pod)} is not available`)
  const last = s.lastState.terminated
  const { waiting, running, terminated } = s.state
  const lastHasId = last?.containerID !== undefined && last.containerID !== ''
  if (previous) return lastHasId ? undefined : refuse(`previous terminated container ${q(container)} in pod ${q(pod)} not found`)
  if (running !== undefined) return undefined
  if (terminated !== undefined) {
    const hasId = terminated.containerID !== undefined && terminated.containerID !== ''
    return hasId || lastHasId ? undefined : refuse(`container ${q(container)} in pod ${q(pod)} is terminated`)
  }
  if (last !== undefined) return lastHasId ? undefined : refuse(`container ${q(container)} in pod ${q(pod)} is terminated`)
  if (waiting !== undefined) {
    switch (waiting.reason) {
      case 'ErrImagePull':
        return refuse(`container ${q(container)} in pod ${q(pod)} is waiting to start: image can't be pulled`)
      case 'ImagePullBackOff':
        return refuse(`container ${q(container)} in pod ${q(pod)} is waiting to start: trying and failing to pull image`)
      default:
        return refuse(`container ${q(container)} in pod ${q(pod)} is waiting to start: ${waiting.reason}`)
    }
  }
  return refuse(`container ${q(container)} in pod ${q(pod)} is waiting to start - no logs yet`)
}
