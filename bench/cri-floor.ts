/**
 * The runtime's floor for a pod: the same pod, with the configs edged's own code generates, made
 * through the CRI one call after another as edged's pod sync makes them. Without edged's
 * managed-by label, so a tern edge running beside leaves them alone.
 */
import type { ContainerRuntime } from '../edged/cri/runtime.js'
import { containerConfig } from '../edged/kuberuntime/container-config.js'
import { sandboxConfig } from '../edged/kuberuntime/sandbox-config.js'
import { MANAGED_BY } from '../edged/labels.js'
import { validatePod } from '../edged/pod/validate.js'
import { staticPod } from '../edged/sources/static-pod.js'

export class CriFloor {
  readonly #runtime: ContainerRuntime
  readonly #ctx: { nodeName: string; hostIP: string; rootDir: string }
  readonly #sandboxes: string[] = []

  constructor(runtime: ContainerRuntime, nodeName: string, rootDir: string) {
    this.#runtime = runtime
    this.#ctx = { nodeName, hostIP: '127.0.0.1', rootDir }
  }

  /** Makes one pod of a manifest (a v1 Pod); resolves with the ms from the first call to the last container started. */
  async run(name: string, manifest: Record<string, unknown>): Promise<number> {
    const runtime = this.#runtime
    const pod = staticPod(validatePod(manifest, name), this.#ctx.nodeName, 'file')
    const started = performance.now()
    const sandbox = unmanaged(sandboxConfig(pod, this.#ctx, 0))
    const sandboxId = await runtime.runPodSandbox(sandbox)
    this.#sandboxes.push(sandboxId)
    const podIP = (await runtime.podSandboxStatus(sandboxId)).network?.ip ?? ''
    for (const c of pod.spec.containers) {
      const config = unmanaged(await containerConfig(pod, c, { ...this.#ctx, restartCount: 0, podIP, volumes: new Map() }))
      await runtime.startContainer(await runtime.createContainer(sandboxId, config, sandbox))
    }
    return performance.now() - started
  }

  async remove(): Promise<void> {
    for (const id of this.#sandboxes.splice(0)) {
      await this.#runtime.stopPodSandbox(id)
      await this.#runtime.removePodSandbox(id)
    }
  }
}

function unmanaged<T extends { labels?: Record<string, string> }>(config: T): T {
  const labels = { ...config.labels }
  delete labels[MANAGED_BY]
  return { ...config, labels }
}
