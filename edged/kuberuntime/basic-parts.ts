/**
 * Image handling until the image manager with pull policies and pull back-off is wired in: the
 * image is pulled when the runtime lacks it, and refused under `imagePullPolicy: Never`.
 */
import { TernError } from '../../schemas/errors.js'
import type { Pod } from '../../schemas/pod.js'
import type { ContainerRuntime } from '../cri/runtime.js'
import type { Images } from './parts.js'

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
