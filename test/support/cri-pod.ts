/**
 * A pod sandbox with busybox containers, made directly through the CRI (no sync loop), for tests
 * of what runs beside containers: probes, hooks, logs. Containers run `sh -c SCRIPT` and trap
 * SIGTERM so they stop at once.
 */
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { ContainerConfig, ContainerRuntime, PodSandboxConfig } from '../../edged/cri/runtime.js'
import { containerLabels, containerLogPath, sandboxLabels } from '../../edged/labels.js'
import { BUSYBOX_IMAGE, startContainerd, type Containerd } from './containerd.js'
import { scratchDir } from './resources.js'

export interface TestPod {
  readonly sandboxId: string
  readonly podIP: string
  readonly uid: string
  readonly name: string
  readonly logDirectory: string
  /** Creates and starts a container; `attempt` is its restart count (and its log file `<name>/<attempt>.log`). */
  run(name: string, script: string, attempt?: number, extra?: Partial<ContainerConfig>): Promise<string>
  /** Stops and removes every container and the sandbox. */
  remove(): Promise<void>
}

export async function startTestPod(runtime: ContainerRuntime, pod: { name: string; uid: string; logDirectory: string }): Promise<TestPod> {
  const ref = { name: pod.name, namespace: 'default', uid: pod.uid }
  const sandboxConfig: PodSandboxConfig = {
    metadata: { ...ref, attempt: 0 },
    hostname: pod.name,
    logDirectory: pod.logDirectory,
    labels: sandboxLabels(ref),
  }
  const sandboxId = await runtime.runPodSandbox(sandboxConfig)
  const podIP = (await runtime.podSandboxStatus(sandboxId)).network?.ip ?? ''
  return {
    sandboxId,
    podIP,
    uid: pod.uid,
    name: pod.name,
    logDirectory: pod.logDirectory,
    run: async (name, script, attempt = 0, extra = {}) => {
      const id = await runtime.createContainer(
        sandboxId,
        {
          metadata: { name, attempt },
          image: { image: BUSYBOX_IMAGE },
          command: ['/bin/sh', '-c', `trap "exit 143" TERM; ${script}`],
          labels: containerLabels(ref, name),
          logPath: containerLogPath(name, attempt),
          ...extra,
        },
        sandboxConfig,
      )
      await runtime.startContainer(id)
      return id
    },
    remove: async () => {
      for (const c of await runtime.listContainers({ podSandboxId: sandboxId })) {
        await runtime.stopContainer(c.id, 0).catch(() => undefined)
        await runtime.removeContainer(c.id).catch(() => undefined)
      }
      await runtime.stopPodSandbox(sandboxId)
      await runtime.removePodSandbox(sandboxId)
    },
  }
}

/** A private containerd, a CRI client on it and a scratch directory for pod logs: what a test file of edged's needs in before(). */
export interface CriFixture {
  readonly containerd: Containerd
  readonly runtime: ContainerRuntime
  /** For sandboxes' logDirectory. */
  readonly logDir: string
  stop(): Promise<void>
}

export async function startCriFixture(prefix: string): Promise<CriFixture> {
  const containerd = await startContainerd()
  const runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 90_000 })
  const logs = await scratchDir(prefix)
  return {
    containerd,
    runtime,
    logDir: logs.path,
    stop: async () => {
      runtime.close()
      await containerd.stop()
      await logs.remove()
    },
  }
}
