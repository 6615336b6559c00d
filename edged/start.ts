/**
 * Builds Edged from the `edged:` section of the edge config: the CRI client on
 * `runtimeEndpoint`, the static pod directory, the runtime parts. Loaded by cli/edge.ts only when
 * the section is there, so a device-only gateway loads nothing of edged or gRPC.
 */
import { resolve } from 'node:path'
import type { Logger } from 'pino'
import { realClock, type Clock } from '../mappers/runtime/clock.js'
import type { EdgedConfig } from '../schemas/config.js'
import type { AnyLevel } from '../twin/store.js'
import { connectGrpcRuntime } from './cri/grpc-runtime.js'
import type { ContainerRuntime } from './cri/runtime.js'
import { Edged, type EdgedOptions, type EdgedParts } from './edged.js'
import { runHandler } from './hooks.js'
import { Backoff } from './backoff.js'
import { ImageManager } from './images.js'
import { containerConfig, type EnvResolver } from './kuberuntime/container-config.js'
import { sandboxConfig } from './kuberuntime/sandbox-config.js'
import { validatePod } from './pod/validate.js'
import { dialTcp, type Dial } from './pod-network.js'
import { edgedRootDir } from './root-dir.js'
import { CloudPodSource, type CloudPods } from './sources/cloud.js'
import { apiPodsOnly, type EventRecorder } from './events.js'
import type { Pod, PodStatus } from '../schemas/pod.js'
import { StaticPodDir } from './sources/static-dir.js'
import type { NodeCheck } from './pod-admission.js'
import type { PodSource } from './sources/source.js'
import { VolumeManager, type VolumeFiles } from './volumes.js'
import type { Mounter } from './volumes/mounter.js'
import { RefreshingVolumes } from './volumes/refresh.js'

/** What the cloud gave the node: its pods (the `api` source) and the ConfigMaps and Secrets they use. */
export interface CloudWorkloads extends CloudPods, EnvResolver, VolumeFiles {}

/**
 * The real parts: the kubelet's CRI configs, images by pull policy, volumes under `rootDir` (tmpfs
 * ones mounted by `mounter`: by default in this process's mount namespace, which containerd shares
 * on a node), hooks reaching pods through `dial`; ConfigMaps and Secrets for env and volumes from
 * `resolve` (the cloud's, when the node has a cloud link).
 */
export function edgedParts(runtime: ContainerRuntime, rootDir: string, dial: Dial = dialTcp, options: { clock?: Clock; mounter?: Mounter; resolve?: EnvResolver & VolumeFiles; recorder?: EventRecorder } = {}): EdgedParts {
  const clock = options.clock ?? realClock
  const resolve = options.resolve
  return {
    configs: { sandbox: sandboxConfig, container: resolve === undefined ? containerConfig : (pod, container, ctx) => containerConfig(pod, container, { ...ctx, resolve }) },
    images: new ImageManager({ runtime, backoff: new Backoff({ clock }), clock, ...(options.recorder === undefined ? {} : { recorder: apiPodsOnly(options.recorder) }), ...(resolve === undefined ? {} : { secret: (ns, name) => resolve.secret(ns, name) }) }),
    volumes: new VolumeManager({ rootDir, ...(options.mounter === undefined ? {} : { mounter: options.mounter }), ...(resolve === undefined ? {} : { files: resolve }) }),
    runHook: (target, handler, timeoutSeconds) => runHandler(runtime, target, handler, timeoutSeconds, { dial }),
    dial,
  }
}

export interface EdgedHooks {
  /** every new status of a pod from the API server */
  onPodStatus?: (pod: Pod, status: PodStatus) => void
  /** events about pods from the API server */
  recorder?: EventRecorder
  /** admission of new pods against the Node's spec */
  admission?: NodeCheck
  /** the container runtime became reachable or stopped being so */
  onRuntimeChange?: () => void
  /** the Node's current InternalIP: pods' hostIP */
  hostIP?: () => string | undefined
}

export async function startEdged(options: {
  config: EdgedConfig
  dataDir: string
  nodeName: string
  db: AnyLevel
  log: Logger
  cloud?: CloudWorkloads
  onPodTerminated?: EdgedOptions['onPodTerminated']
  hooks?: EdgedHooks
}): Promise<Edged> {
  const { config, nodeName, log } = options
  const rootDir = edgedRootDir(config.rootDir, options.dataDir)
  const runtime = await connectGrpcRuntime({ endpoint: config.runtimeEndpoint, callTimeoutMs: config.runtimeRequestTimeoutSeconds * 1000 })
  const sources: PodSource[] = []
  if (config.podManifestsDir !== undefined) {
    sources.push(new StaticPodDir({ dir: resolve(config.podManifestsDir), nodeName, validate: validatePod, log: log.child({ part: 'edged', source: 'file' }) }))
  }
  const cloud = options.cloud
  const parts = edgedParts(runtime, rootDir, dialTcp, { ...(cloud === undefined ? {} : { resolve: cloud }), ...(options.hooks?.recorder === undefined ? {} : { recorder: options.hooks.recorder }) })
  if (cloud !== undefined) {
    sources.push(new CloudPodSource({ store: cloud, validate: validatePod, log: log.child({ part: 'edged', source: 'api' }) }))
    const volumes = new RefreshingVolumes(parts.volumes, log.child({ part: 'edged' }))
    parts.volumes = volumes
    cloud.onChange((changed) => void volumes.refresh(changed))
  }
  const edged = new Edged({
    config: { ...config, rootDir },
    nodeName,
    db: options.db,
    runtime,
    sources,
    parts,
    ...(options.onPodTerminated === undefined ? {} : { onPodTerminated: options.onPodTerminated }),
    log: log.child({ part: 'edged' }),
    ...options.hooks,
  })
  try {
    await edged.start()
  } catch (err) {
    await edged.stop()
    throw err
  }
  return edged
}
