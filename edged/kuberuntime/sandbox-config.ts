/**
 * A pod's CRI sandbox config as the kubelet generates it (kuberuntime_sandbox.go
 * generatePodSandboxConfig, generatePodSandboxLinuxConfig): metadata with the sandbox attempt,
 * the pod's labels and annotations beside the kubelet's own, the hostname (none in the node's
 * network namespace), the pod's log directory, every container port as a port mapping (the CNI
 * portmap plugin serves those with a hostPort), the shared namespaces, the pod's security context
 * and sysctls. No cgroup parent: containerd places the pod under its own.
 */
import type { Pod } from '../../schemas/pod.js'
import type { PodSandboxConfig, PortMapping } from '../cri/runtime.js'
import { POD_TERMINATION_GRACE, podLogDir, sandboxLabels, type PodRef } from '../labels.js'
import { namespacesForPod, supplementalGroups } from './security-context.js'

export interface PodContext {
  nodeName: string
  hostIP: string
  /** edged's root directory: pod log directories and volumes live under it. */
  rootDir: string
}

export const podRef = (pod: Pod): PodRef => ({ name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid ?? '' })

export function sandboxConfig(pod: Pod, ctx: PodContext, attempt: number): PodSandboxConfig {
  const ref = podRef(pod)
  const hostNetwork = pod.spec.hostNetwork === true
  const podSc = pod.spec.securityContext
  const groups = supplementalGroups(pod)
  const sysctls = Object.fromEntries((podSc?.sysctls ?? []).map((s) => [s.name, s.value]))
  return {
    metadata: { name: ref.name, namespace: ref.namespace, uid: ref.uid, attempt },
    // runc cannot set a hostname without the pod's own UTS namespace: in the node's it keeps the node's.
    hostname: hostNetwork ? '' : podHostname(pod),
    logDirectory: podLogDir(ctx.rootDir, ref),
    portMappings: portMappings(pod),
    // The pod's own labels, then the kubelet's, which must win: they are how edged finds its objects.
    labels: { ...pod.metadata.labels, ...sandboxLabels(ref) },
    annotations: { ...pod.metadata.annotations, [POD_TERMINATION_GRACE]: String(pod.spec.terminationGracePeriodSeconds ?? 30) },
    linux: {
      securityContext: {
        namespaceOptions: namespacesForPod(pod),
        ...(podSc?.runAsUser === undefined ? {} : { runAsUser: { value: podSc.runAsUser } }),
        ...(podSc?.runAsGroup === undefined ? {} : { runAsGroup: { value: podSc.runAsGroup } }),
        ...(groups.length > 0 ? { supplementalGroups: groups } : {}),
        // HasPrivilegedContainer: a privileged container needs a privileged sandbox.
        ...([...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some((c) => c.securityContext?.privileged === true) ? { privileged: true } : {}),
      },
      ...(Object.keys(sysctls).length > 0 ? { sysctls } : {}),
    },
  }
}

/** GeneratePodHostNameAndDomain: spec.hostname, else the pod's name cut to a DNS label's 63 characters (no trailing '-' or '.'). */
function podHostname(pod: Pod): string {
  if (pod.spec.hostname !== undefined && pod.spec.hostname !== '') return pod.spec.hostname
  return pod.metadata.name.slice(0, 63).replace(/[-.]+$/, '')
}

/** MakePortMappings over the app containers (init containers publish nothing). */
function portMappings(pod: Pod): PortMapping[] {
  return pod.spec.containers.flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      protocol: p.protocol ?? 'TCP',
      containerPort: p.containerPort,
      ...(p.hostPort === undefined ? {} : { hostPort: p.hostPort }),
      ...(p.hostIP === undefined ? {} : { hostIp: p.hostIP }),
    })),
  )
}
