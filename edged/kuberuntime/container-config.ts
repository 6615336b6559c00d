/**
 * A container's CRI config as the kubelet generates it (kuberuntime_container.go
 * generateContainerConfig): command and args with `$(VAR)` expanded against the container's
 * environment, the environment itself (env.ts), working directory, the volumes mounted where the
 * spec says, the termination message file (termination-message.ts), the log path of this restart, the kubelet's labels and annotations, and the Linux
 * resources and security context (resources.ts, security-context.ts).
 */
import { mkdir, realpath } from 'node:fs/promises'
import { totalmem } from 'node:os'
import { join, sep } from 'node:path'
import { TernError } from '../../schemas/tern-error.js'
import type { Container, Pod } from '../../schemas/pod.js'
import type { ContainerConfig, Mount } from '../cri/runtime.js'
import { CONTAINER_RESTART_COUNT, CONTAINER_TERMINATION_GRACE, containerLabels, containerLogPath, POD_TERMINATION_GRACE } from '../labels.js'
import { containerEnv, expandCommand, type EnvResolver } from './env.js'
import { linuxResources } from './resources.js'
import { podRef, type PodContext } from './sandbox-config.js'
import { containerSecurity, type ImageUser } from './security-context.js'
import { prepareTerminationMessage, terminationAnnotations, terminationMessageMount } from './termination-message.js'

export type { EnvResolver } from './env.js'

export interface ContainerContext extends PodContext {
  restartCount: number
  podIP: string
  /** volume name → host path (VolumeManager.setUp) */
  volumes: ReadonlyMap<string, string>
  /** ConfigMaps and Secrets the env refers to; without it a reference to one that is not optional is a CreateContainerConfigError. */
  resolve?: EnvResolver
  /** The image reference ImageManager.ensure returned (default: the spec's image). */
  imageRef?: string
  /** The image's user (ImageStatus), checked against runAsNonRoot; unknown counts as root, as an image without a user runs. */
  imageUser?: ImageUser
  /** Node memory in bytes, for a Burstable container's OOM score (default: this machine's). */
  memoryCapacity?: number
}

/** Rejects with EDGED_CONTAINER_CONFIG_ERROR (reason CreateContainerConfigError) when the spec cannot be run as written. */
export async function containerConfig(pod: Pod, container: Container, ctx: ContainerContext): Promise<ContainerConfig> {
  const vars = await containerEnv(pod, container, ctx)
  const command = expandCommand(container.command, vars)
  const args = expandCommand(container.args, vars)
  const grace = String(pod.spec.terminationGracePeriodSeconds ?? 30)
  // made here, as the kubelet's makeMounts makes it: a bind mount needs its source
  await prepareTerminationMessage(ctx.rootDir, pod.metadata.uid ?? '', container, ctx.restartCount)
  const termination = terminationMessageMount(ctx.rootDir, pod.metadata.uid ?? '', container, ctx.restartCount)
  return {
    metadata: { name: container.name, attempt: ctx.restartCount },
    image: { image: ctx.imageRef ?? container.image },
    ...(command === undefined ? {} : { command }),
    ...(args === undefined ? {} : { args }),
    ...(container.workingDir === undefined || container.workingDir === '' ? {} : { workingDir: container.workingDir }),
    envs: [...vars].map(([key, value]) => ({ key, value })),
    mounts: [...(await mounts(container, ctx.volumes)), ...(termination === undefined ? [] : [termination])],
    labels: containerLabels(podRef(pod), container.name),
    annotations: {
      [CONTAINER_RESTART_COUNT]: String(ctx.restartCount),
      [POD_TERMINATION_GRACE]: grace,
      [CONTAINER_TERMINATION_GRACE]: grace,
      ...terminationAnnotations(container),
    },
    logPath: containerLogPath(container.name, ctx.restartCount),
    stdin: container.stdin === true,
    stdinOnce: container.stdinOnce === true,
    tty: container.tty === true,
    linux: {
      resources: linuxResources(pod, container, ctx.memoryCapacity ?? totalmem()),
      securityContext: containerSecurity(pod, container, ctx.imageUser),
    },
  }
}

/** makeMounts: each volumeMount at its path, a subPath inside its volume (created as a directory when missing, as the kubelet does). */
async function mounts(container: Container, volumes: ReadonlyMap<string, string>): Promise<Mount[]> {
  const out: Mount[] = []
  for (const m of container.volumeMounts ?? []) {
    const base = volumes.get(m.name)
    if (base === undefined) throw new TernError('EDGED_CONTAINER_CONFIG_ERROR', `volume ${JSON.stringify(m.name)} of container ${container.name} is not set up`)
    const hostPath = m.subPath === undefined || m.subPath === '' ? base : await subPath(base, m.subPath, m.name)
    out.push({ containerPath: m.mountPath, hostPath, readonly: m.readOnly === true, propagation: 'PROPAGATION_PRIVATE' })
  }
  return out
}

/** A subPath inside its volume: made as a directory when missing; refused when a symlink leads out of the volume. */
async function subPath(base: string, sub: string, volume: string): Promise<string> {
  const path = join(base, sub)
  await mkdir(path, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    // An existing file (a file mounted from a hostPath volume) is a subPath too.
    if (err.code !== 'EEXIST' && err.code !== 'ENOTDIR') throw new TernError('EDGED_CONTAINER_CONFIG_ERROR', `subPath ${JSON.stringify(sub)} of volume ${volume}: ${err.message}`)
  })
  const [real, realBase] = await Promise.all([realpath(path), realpath(base)])
  if (real !== realBase && !real.startsWith(realBase + sep)) throw new TernError('EDGED_CONTAINER_CONFIG_ERROR', `subPath ${JSON.stringify(sub)} leads out of volume ${volume}`)
  return real
}
