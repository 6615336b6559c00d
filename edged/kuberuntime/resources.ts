/**
 * A container's cgroup settings exactly as the kubelet computes them
 * (kuberuntime_container_linux.go calculateLinuxResources, cm.MilliCPUToShares, milliCPUToQuota,
 * qos.GetContainerOOMScoreAdjust): cpu.shares from the request (2 when none), the CFS quota from
 * the limit over a 100 ms period (at least 1 ms), the memory limit in bytes, and the OOM score
 * adjustment of the pod's QoS class.
 */
import type { Container, Pod } from '../../schemas/pod.js'
import { quantityMilli, quantityValue } from '../pod/quantity.js'
import { podQOSClass } from '../pod/qos.js'
import type { LinuxContainerResources } from '../cri/runtime.js'

const MIN_SHARES = 2n
const MAX_SHARES = 262_144n
const SHARES_PER_CPU = 1024n
/** quotaPeriod: the kubelet's default cpuCFSQuotaPeriod, 100 ms in µs. */
export const CPU_PERIOD_US = 100_000
const MIN_QUOTA_US = 1000n
const GUARANTEED_OOM_SCORE_ADJ = -997
const BEST_EFFORT_OOM_SCORE_ADJ = 1000

export function milliCpuToShares(milli: bigint): number {
  if (milli === 0n) return Number(MIN_SHARES)
  const shares = (milli * SHARES_PER_CPU) / 1000n
  return Number(shares < MIN_SHARES ? MIN_SHARES : shares > MAX_SHARES ? MAX_SHARES : shares)
}

export function milliCpuToQuota(milli: bigint, periodUs: number): number {
  if (milli === 0n) return 0
  const quota = (milli * BigInt(periodUs)) / 1000n
  return Number(quota < MIN_QUOTA_US ? MIN_QUOTA_US : quota)
}

/** `memoryCapacity`: the node's memory in bytes (the Burstable OOM score is scaled by it). */
export function linuxResources(pod: Pod, container: Container, memoryCapacity: number): LinuxContainerResources {
  const requests = container.resources?.requests ?? {}
  const limits = container.resources?.limits ?? {}
  const cpuLimit = limits.cpu === undefined ? 0n : quantityMilli(limits.cpu)
  // A limit with no request: the request is the limit (the API server defaults it; the kubelet repeats it).
  const cpuShares = requests.cpu === undefined && cpuLimit !== 0n ? milliCpuToShares(cpuLimit) : milliCpuToShares(requests.cpu === undefined ? 0n : quantityMilli(requests.cpu))
  const memoryLimit = limits.memory === undefined ? 0n : quantityValue(limits.memory)
  return {
    cpuShares,
    cpuPeriod: CPU_PERIOD_US,
    cpuQuota: milliCpuToQuota(cpuLimit, CPU_PERIOD_US),
    ...(memoryLimit === 0n ? {} : { memoryLimitInBytes: Number(memoryLimit) }),
    oomScoreAdj: oomScoreAdj(pod, container, memoryCapacity),
  }
}

export function oomScoreAdj(pod: Pod, container: Container, memoryCapacity: number): number {
  if (pod.spec.priorityClassName === 'system-node-critical') return GUARANTEED_OOM_SCORE_ADJ
  const qos = podQOSClass(pod)
  if (qos === 'Guaranteed') return GUARANTEED_OOM_SCORE_ADJ
  if (qos === 'BestEffort') return BEST_EFFORT_OOM_SCORE_ADJ
  const request = container.resources?.requests?.memory
  const memoryRequest = request === undefined ? 0n : quantityValue(request)
  const adjust = 1000n - (1000n * memoryRequest) / BigInt(memoryCapacity)
  // Burstable stays strictly between Guaranteed and BestEffort.
  if (adjust < BigInt(1000 + GUARANTEED_OOM_SCORE_ADJ)) return 1000 + GUARANTEED_OOM_SCORE_ADJ
  if (adjust === BigInt(BEST_EFFORT_OOM_SCORE_ADJ)) return BEST_EFFORT_OOM_SCORE_ADJ - 1
  return Number(adjust)
}
