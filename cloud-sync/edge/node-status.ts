/**
 * The node status an edge node reports (pure): capacity and allocatable, the four conditions the
 * kubelet posts and their reasons (kubernetes pkg/kubelet/nodestatus/setters.go), addresses and
 * nodeInfo, from what node-probe.ts measured.
 *
 * - capacity: cpu = cores, memory = MemTotal, pods = `maxPods`, ephemeral-storage = the size of the
 *   data directory's filesystem; allocatable = capacity minus the hard eviction thresholds (the
 *   kubelet's allocatable with no kube/system reservations).
 * - Ready: True (`KubeletReady`) unless the container runtime hook says it is not ready
 *   (False, `KubeletNotReady`, the runtime's message); without edged there is no runtime to wait for.
 * - MemoryPressure: MemAvailable < `memoryAvailableMiB`; DiskPressure: free space <
 *   `diskAvailablePercent` or free inodes < `inodesFreePercent` of the data directory's filesystem;
 *   PIDPressure: free pids (pid_max − processes) < `pidsAvailablePercent` of pid_max. A quantity
 *   that could not be measured raises no pressure.
 */
import type { NodeStatusConfig } from '../../schemas/config.js'
import type { NodeStatusReport, NodeSystemInfo, ReportedCondition } from '../../schemas/node-status.js'

/** The Kubernetes version whose kubelet behaviour tern's node follows: the prefix of kubeletVersion. */
export const KUBELET_API_VERSION = 'v1.32.0'

export interface NodeMeasurements {
  cpus: number
  memoryTotalBytes: number
  /** MemAvailable; undefined when /proc/meminfo cannot be read */
  memoryAvailableBytes: number | undefined
  /** the data directory's filesystem */
  disk: { totalBytes: number; availableBytes: number; inodes: number; inodesFree: number } | undefined
  pids: { max: number; running: number } | undefined
  hostname: string
  /** first non-loopback IPv4 (else IPv6) address */
  internalIP: string | undefined
  system: Omit<NodeSystemInfo, 'containerRuntimeVersion' | 'kubeletVersion' | 'kubeProxyVersion'>
}

/** What edged tells the node status (the hook for the container runtime). */
export interface RuntimeState {
  ready: boolean
  /** e.g. `containerd://1.6.20` */
  version: string
  message?: string
}

/**
 * The runtime state of a node whose config has an `edged:` section: not ready until edged started
 * and reached the runtime (the kubelet's "container runtime is down"); undefined without edged
 * (nothing to wait for).
 */
export function edgedRuntimeState(configured: boolean, edged: { runtimeReady: boolean | undefined; runtimeVersion: string | undefined } | undefined, endpoint = ''): RuntimeState | undefined {
  if (!configured) return undefined
  const version = edged?.runtimeVersion ?? ''
  if (edged?.runtimeReady === true) return { ready: true, version }
  return { ready: false, version, message: edged === undefined ? 'container runtime status check may not have completed yet: edged is starting' : `container runtime is down: edged cannot reach ${endpoint}` }
}

export interface NodeStatusContext {
  config: NodeStatusConfig
  /** tern's version, e.g. `0.1.0` */
  ternVersion: string
  runtime?: RuntimeState
}

const MiB = 1024 * 1024

/** `v1.32.0-tern-v0.1.0`: the kubelet API tern follows and tern's own version (KubeEdge: `v1.29.5-kubeedge-v1.19.0`). */
export function kubeletVersion(ternVersion: string): string {
  return `${KUBELET_API_VERSION}-tern-v${ternVersion.replace(/^v/, '')}`
}

const ki = (bytes: number): string => `${Math.max(0, Math.floor(bytes / 1024))}Ki`

function condition(type: ReportedCondition['type'], pressure: boolean, yes: [string, string], no: [string, string]): ReportedCondition {
  const [reason, message] = pressure ? yes : no
  return { type, status: pressure ? 'True' : 'False', reason, message }
}

export function pressures(m: NodeMeasurements, c: NodeStatusConfig): { memory: boolean; disk: boolean; pid: boolean } {
  const memory = m.memoryAvailableBytes !== undefined && m.memoryAvailableBytes < c.memoryAvailableMiB * MiB
  const disk =
    m.disk !== undefined &&
    ((m.disk.totalBytes > 0 && (m.disk.availableBytes / m.disk.totalBytes) * 100 < c.diskAvailablePercent) || (m.disk.inodes > 0 && (m.disk.inodesFree / m.disk.inodes) * 100 < c.inodesFreePercent))
  const pid = m.pids !== undefined && m.pids.max > 0 && ((m.pids.max - m.pids.running) / m.pids.max) * 100 < c.pidsAvailablePercent
  return { memory, disk, pid }
}

export function nodeStatusReport(m: NodeMeasurements, ctx: NodeStatusContext): NodeStatusReport {
  const c = ctx.config
  const p = pressures(m, c)
  const runtimeReady = ctx.runtime?.ready ?? true
  const capacity: NodeStatusReport['capacity'] = { cpu: String(m.cpus), memory: ki(m.memoryTotalBytes), pods: String(c.maxPods) }
  const allocatable: NodeStatusReport['allocatable'] = { cpu: String(m.cpus), memory: ki(m.memoryTotalBytes - c.memoryAvailableMiB * MiB), pods: String(c.maxPods) }
  if (m.disk !== undefined) {
    capacity['ephemeral-storage'] = ki(m.disk.totalBytes)
    allocatable['ephemeral-storage'] = ki(m.disk.totalBytes * (1 - c.diskAvailablePercent / 100))
  }
  const conditions: ReportedCondition[] = [
    runtimeReady
      ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }
      : { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: ctx.runtime?.message ?? 'container runtime is not ready' },
    condition('MemoryPressure', p.memory, ['KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'], ['KubeletHasSufficientMemory', 'kubelet has sufficient memory available']),
    condition('DiskPressure', p.disk, ['KubeletHasDiskPressure', 'kubelet has disk pressure'], ['KubeletHasNoDiskPressure', 'kubelet has no disk pressure']),
    condition('PIDPressure', p.pid, ['KubeletHasInsufficientPID', 'kubelet has insufficient PID available'], ['KubeletHasSufficientPID', 'kubelet has sufficient PID available']),
  ]
  const internalIP = c.internalIP ?? m.internalIP
  const addresses: NodeStatusReport['addresses'] = [...(internalIP === undefined ? [] : [{ type: 'InternalIP' as const, address: internalIP }]), { type: 'Hostname', address: m.hostname }]
  return {
    capacity,
    allocatable,
    conditions,
    addresses,
    nodeInfo: { ...m.system, containerRuntimeVersion: ctx.runtime?.version ?? '', kubeletVersion: kubeletVersion(ctx.ternVersion), kubeProxyVersion: '' },
  }
}

/** GOARCH names, as kubernetes.io/arch and nodeInfo.architecture use them. */
export function goArch(arch: string): string {
  const names: Record<string, string> = { x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle', loong64: 'loong64' }
  return names[arch] ?? arch
}
