/**
 * The parts the sync loop drives, as interfaces: how a pod becomes CRI configs, how its images
 * are made present, how its volumes are set up, how a preStop hook runs. The real ones live
 * beside (sandbox-config, container-config, images, volumes, hooks); tests may give others.
 */
import type { Container, LifecycleHandler, Pod } from '../../schemas/pod.js'
import type { ContainerConfig, PodSandboxConfig } from '../cri/runtime.js'

export interface PodContext {
  nodeName: string
  hostIP: string
  rootDir: string
}

export interface ContainerContext extends PodContext {
  restartCount: number
  podIP: string
  /** volume name → host path */
  volumes: ReadonlyMap<string, string>
}

export interface RuntimeConfigs {
  sandbox(pod: Pod, ctx: PodContext, attempt: number): PodSandboxConfig
  container(pod: Pod, container: Container, ctx: ContainerContext): Promise<ContainerConfig>
}

export interface Images {
  /** The image reference to create the container from, pulling it as the pull policy says. */
  ensure(pod: Pod, container: Container): Promise<string>
}

export interface Volumes {
  setUp(pod: Pod): Promise<Map<string, string>>
  tearDown(pod: Pod): Promise<void>
}

/** Runs a lifecycle handler (preStop) against a running container; rejects when it fails. */
export type HookRunner = (target: { containerId: string; podIP: string; container: Container }, handler: LifecycleHandler, timeoutSeconds: number) => Promise<void>
