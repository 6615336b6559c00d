/**
 * The parts the sync loop drives, as interfaces: how a pod becomes CRI configs, how its images
 * are made present, how its volumes are set up, how a lifecycle hook runs. The real ones live
 * beside (sandbox-config, container-config, images, ../volumes, ../hooks); tests may give others.
 */
import type { Container, LifecycleHandler, Pod } from '../../schemas/pod.js'
import type { ContainerConfig, PodSandboxConfig } from '../cri/runtime.js'
import type { ContainerContext } from './container-config.js'
import type { PodContext } from './sandbox-config.js'
import type { ImageUser } from './security-context.js'

export type { ContainerContext, PodContext }

export interface RuntimeConfigs {
  sandbox(pod: Pod, ctx: PodContext, attempt: number): PodSandboxConfig
  container(pod: Pod, container: Container, ctx: ContainerContext): Promise<ContainerConfig>
}

export interface Images {
  /** The image reference to create the container from, pulling it as the pull policy says; `signal` abandons the wait. */
  ensure(pod: Pod, container: Container, signal?: AbortSignal): Promise<string>
  /** Who the image runs as when the pod does not say (checked against runAsNonRoot). */
  user?(imageRef: string): Promise<ImageUser>
}

export interface Volumes {
  setUp(pod: Pod): Promise<Map<string, string>>
  /** Releases what setUp made for the pod of this uid (works from the uid alone, after a restart). */
  tearDownUid(uid: string): Promise<void>
}

/** Runs a lifecycle handler (postStart, preStop) against a running container; rejects when it fails. */
export type HookRunner = (target: { containerId: string; podIP: string; container: Container }, handler: LifecycleHandler, timeoutSeconds: number) => Promise<void>
