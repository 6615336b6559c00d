/**
 * The pod's and a container's security settings as the kubelet gives them to the runtime
 * (kuberuntime security_context.go, helpers.go namespacesForPod, verifyRunAsNonRoot): the
 * container's securityContext over the pod's, fsGroup added to the supplemental groups,
 * no_new_privs when privilege escalation is refused, and the Linux namespaces the pod shares.
 */
import { TernError } from '../../schemas/tern-error.js'
import type { Container, Pod } from '../../schemas/pod.js'
import type { ContainerConfig, NamespaceMode } from '../cri/runtime.js'

type ContainerSecurity = NonNullable<NonNullable<ContainerConfig['linux']>['securityContext']>

export interface Namespaces {
  network: NamespaceMode
  pid: NamespaceMode
  ipc: NamespaceMode
}

/** namespacesForPod: the pod's own network and IPC namespaces (the node's with hostNetwork/hostIPC); one PID namespace per container unless hostPID. */
export function namespacesForPod(pod: Pod): Namespaces {
  return {
    network: pod.spec.hostNetwork === true ? 'NODE' : 'POD',
    pid: pod.spec.hostPID === true ? 'NODE' : 'CONTAINER',
    ipc: pod.spec.hostIPC === true ? 'NODE' : 'POD',
  }
}

/** fsGroup, then supplementalGroups, as the kubelet appends them. */
export function supplementalGroups(pod: Pod): number[] {
  const sc = pod.spec.securityContext
  return [...(sc?.fsGroup === undefined ? [] : [sc.fsGroup]), ...(sc?.supplementalGroups ?? [])]
}

/** What the image runs as when the pod does not say (CRI ImageStatus: uid, or a user name). */
export interface ImageUser {
  uid?: number
  username?: string
}

export function containerSecurity(pod: Pod, container: Container, imageUser: ImageUser | undefined): ContainerSecurity {
  const podSc = pod.spec.securityContext
  const sc = container.securityContext
  const runAsUser = sc?.runAsUser ?? podSc?.runAsUser
  const runAsGroup = sc?.runAsGroup ?? podSc?.runAsGroup
  verifyRunAsNonRoot(sc?.runAsNonRoot ?? podSc?.runAsNonRoot, runAsUser, imageUser, `${pod.metadata.namespace}/${pod.metadata.name}`, container.name)
  const groups = supplementalGroups(pod)
  const caps = sc?.capabilities
  return {
    namespaceOptions: namespacesForPod(pod),
    ...(runAsUser === undefined ? {} : { runAsUser: { value: runAsUser } }),
    ...(runAsGroup === undefined ? {} : { runAsGroup: { value: runAsGroup } }),
    ...(runAsUser === undefined && imageUser?.uid === undefined && imageUser?.username !== undefined && imageUser.username !== '' ? { runAsUsername: imageUser.username } : {}),
    ...(sc?.privileged === true ? { privileged: true } : {}),
    ...(sc?.readOnlyRootFilesystem === true ? { readonlyRootfs: true } : {}),
    ...(groups.length > 0 ? { supplementalGroups: groups } : {}),
    ...(caps === undefined ? {} : { capabilities: { addCapabilities: caps.add ?? [], dropCapabilities: caps.drop ?? [] } }),
    ...(sc?.allowPrivilegeEscalation === false ? { noNewPrivs: true } : {}),
  }
}

/** verifyRunAsNonRoot: refused before the container is created (reason CreateContainerConfigError). */
function verifyRunAsNonRoot(runAsNonRoot: boolean | undefined, runAsUser: number | undefined, image: ImageUser | undefined, pod: string, container: string): void {
  if (runAsNonRoot !== true) return
  const fail = (why: string): never => {
    throw new TernError('EDGED_CONTAINER_CONFIG_ERROR', `${why} (pod: "${pod}", container: ${container})`)
  }
  if (runAsUser !== undefined) {
    if (runAsUser === 0) fail("container's runAsUser breaks non-root policy")
    return
  }
  if (image?.uid !== undefined) {
    if (image.uid === 0) fail('container has runAsNonRoot and image will run as root')
    return
  }
  if (image?.username !== undefined && image.username !== '') fail(`container has runAsNonRoot and image has non-numeric user (${image.username}), cannot verify user is non-root`)
  // An image with no user at all runs as root.
  fail('container has runAsNonRoot and image will run as root')
}
