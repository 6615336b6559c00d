/**
 * The smallest CRI configs, image handling and volumes that run a pod: command, args, plain env
 * values, working directory, host network, the kubelet's log layout; the image is pulled when the
 * runtime lacks it (refused under `imagePullPolicy: Never`); no volumes. Used until the full
 * builders (resources, security context, fieldRef env, volumes, pull policies and back-off) are
 * wired in their place.
 */
import { TernError } from '../../schemas/errors.js'
import type { Pod } from '../../schemas/pod.js'
import type { ContainerRuntime } from '../cri/runtime.js'
import { containerLogPath, podLogDir } from '../labels.js'
import type { Images, RuntimeConfigs, Volumes } from './parts.js'

export const basicConfigs: RuntimeConfigs = {
  sandbox: (pod, ctx, attempt) => ({
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid ?? '', attempt },
    // runc cannot set a hostname without the pod's own UTS namespace
    hostname: pod.spec.hostNetwork === true ? '' : (pod.spec.hostname ?? pod.metadata.name),
    logDirectory: podLogDir(ctx.rootDir, { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid ?? '' }),
    ...(pod.spec.hostNetwork === true ? { linux: { securityContext: { namespaceOptions: { network: 'NODE' } } } } : {}),
  }),
  container: (_pod, container, ctx) =>
    Promise.resolve({
      metadata: { name: container.name, attempt: ctx.restartCount },
      image: { image: container.image },
      ...(container.command === undefined ? {} : { command: container.command }),
      ...(container.args === undefined ? {} : { args: container.args }),
      ...(container.workingDir === undefined ? {} : { workingDir: container.workingDir }),
      envs: (container.env ?? []).filter((e) => e.value !== undefined).map((e) => ({ key: e.name, value: e.value ?? '' })),
      logPath: containerLogPath(container.name, ctx.restartCount),
    }),
}

export function basicImages(runtime: ContainerRuntime): Images {
  return {
    ensure: async (_pod: Pod, container) => {
      const present = await runtime.imageStatus(container.image)
      if (present !== undefined) return container.image
      if (container.imagePullPolicy === 'Never') {
        throw new TernError('EDGED_RUNTIME_NOT_FOUND', `container image "${container.image}" is not present with pull policy of Never`)
      }
      return runtime.pullImage(container.image)
    },
  }
}

export const noVolumes: Volumes = {
  setUp: () => Promise.resolve(new Map()),
  tearDown: () => Promise.resolve(),
}
