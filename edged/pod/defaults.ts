/**
 * The defaults the API server fills in that a JSON Schema `default` cannot express (they depend on
 * other fields), applied to static pods as to pods from the cloud, so a pod behaves the same
 * whichever way it arrives (pkg/apis/core/v1/defaults.go).
 */
import type { Container, Pod } from '../../schemas/pod.js'

export function applyPodDefaults(pod: Pod): void {
  const spec = pod.spec
  for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) {
    container.imagePullPolicy ??= defaultPullPolicy(container.image)
    container.terminationMessagePath ??= '/dev/termination-log'
    container.terminationMessagePolicy ??= 'File'
    defaultRequestsFromLimits(container)
    // SetDefaults_Pod: in the node's network namespace a container port is the host's port.
    if (spec.hostNetwork === true) for (const port of container.ports ?? []) port.hostPort ??= port.containerPort
  }
  for (const volume of spec.volumes ?? []) {
    if (volume.hostPath !== undefined) volume.hostPath.type ??= ''
  }
}

/** SetDefaults_Container: Always for `:latest` or an image with neither tag nor digest, else IfNotPresent. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent'
  const lastSegment = image.slice(image.lastIndexOf('/') + 1)
  const colon = lastSegment.lastIndexOf(':')
  if (colon < 0) return 'Always'
  return lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent'
}

/** SetDefaults_ResourceList via defaults.go: a limit with no request makes the request equal to the limit. */
function defaultRequestsFromLimits(container: Container): void {
  const limits = container.resources?.limits
  if (limits === undefined || container.resources === undefined) return
  const requests = (container.resources.requests ??= {})
  for (const [name, value] of Object.entries(limits)) if (!(name in requests)) requests[name] = value
}
