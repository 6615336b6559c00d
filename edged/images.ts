/**
 * Making a container's image present as the kubelet's image manager does (pkg/kubelet/images
 * EnsureImageExists): the reference checked and given its default tag, the pull policy applied
 * (Never: the image must be there; IfNotPresent: pulled when missing; Always: pulled every time),
 * and failed pulls backed off per pod and image (10 s doubling to 5 min). Each outcome is a
 * TernError whose code the status manager shows as the kubelet's reason: InvalidImageName,
 * ErrImageNeverPull, ImagePullBackOff, ErrImagePull. A pull carries the credentials the pod's
 * `imagePullSecrets` give for the image's registry (pull-secrets.ts).
 */
import { noEvents, type EventRecorder } from './events.js'
import { TernError } from '../schemas/tern-error.js'
import type { Container, Pod } from '../schemas/pod.js'
import type { ContainerRuntime } from './cri/runtime.js'
import type { ImageUser } from './kuberuntime/security-context.js'
import { withDefaultTag } from './pod/image-name.js'
import { pullAuthFor } from './pull-secrets.js'

/** The back-off edged uses for crashes (edged/backoff.ts), keyed here by pod and image. */
export interface PullBackoff {
  isInBackOffSince(key: string, eventTime: number): boolean
  next(key: string, eventTime: number): void
}

export interface PullAuth {
  username?: string
  password?: string
  auth?: string
  serverAddress?: string
}

export interface ImageManagerOptions {
  runtime: Pick<ContainerRuntime, 'imageStatus' | 'pullImage'>
  backoff: PullBackoff
  clock: { now(): number }
  /** the kubelet's image events: Pulling, Pulled, Failed, BackOff */
  recorder?: EventRecorder
  /** A Secret's decoded data, for the pod's imagePullSecrets (the node's copies of the cloud's). */
  secret?: (namespace: string, name: string) => Promise<Readonly<Record<string, string>> | undefined>
}

export class ImageManager {
  readonly #o: ImageManagerOptions
  /** When each pod/image key last failed to pull (the back-off counts from there). */
  readonly #failedAt = new Map<string, number>()
  /** One pull of an image at a time, shared by every pod that waits for it. */
  readonly #pulling = new Map<string, Promise<string>>()

  constructor(options: ImageManagerOptions) {
    this.#o = options
  }

  /**
   * The image reference to create the container from (the runtime's image id). `signal` abandons
   * the wait for a pull (the pod is being deleted, as the kubelet's cancelled sync does); the pull
   * itself goes on for any other pod that waits for it, and nothing is backed off.
   */
  async ensure(pod: Pod, container: Container, signal?: AbortSignal): Promise<string> {
    let image: string
    try {
      image = withDefaultTag(container.image)
    } catch (err) {
      throw new TernError('EDGED_IMAGE_INVALID_NAME', `Failed to apply default image tag "${container.image}": ${(err as Error).message}`)
    }
    const policy = container.imagePullPolicy ?? 'IfNotPresent'
    const present = policy === 'Always' ? undefined : await this.#o.runtime.imageStatus(image)
    const events = this.#o.recorder ?? noEvents
    if (present !== undefined) {
      events.event(pod, 'Normal', 'Pulled', `Container image "${container.image}" already present on machine`)
      return present.id
    }
    if (policy === 'Never') throw new TernError('EDGED_IMAGE_NEVER_PULL', `Container image "${container.image}" is not present with pull policy of Never`)
    const key = `${pod.metadata.uid ?? ''}_${image}`
    const failedAt = this.#failedAt.get(key)
    if (failedAt !== undefined && this.#o.backoff.isInBackOffSince(key, failedAt)) {
      events.event(pod, 'Normal', 'BackOff', `Back-off pulling image "${container.image}"`)
      throw new TernError('EDGED_IMAGE_PULL_BACKOFF', `Back-off pulling image "${container.image}"`)
    }
    try {
      events.event(pod, 'Normal', 'Pulling', `Pulling image "${container.image}"`)
      const started = this.#o.clock.now()
      const ref = await abandonable(this.#pull(image, await this.#pullSecretsAuth(pod, image)), signal)
      events.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${container.image}" in ${this.#o.clock.now() - started}ms`)
      this.#failedAt.delete(key)
      return ref
    } catch (err) {
      if ((err instanceof TernError && err.code === 'EDGED_RUNTIME_UNAVAILABLE') || signal?.aborted === true) throw err
      const now = this.#o.clock.now()
      this.#o.backoff.next(key, now)
      this.#failedAt.set(key, now)
      events.event(pod, 'Warning', 'Failed', `Failed to pull image "${container.image}": ${(err as Error).message}`)
      throw new TernError('EDGED_IMAGE_PULL_FAILED', `Failed to pull image "${container.image}": ${(err as Error).message}`, { cause: err })
    }
  }

  /** Who the image runs as when the pod does not say (getImageUser; checked against runAsNonRoot). */
  async user(imageRef: string): Promise<ImageUser> {
    const image = await this.#o.runtime.imageStatus(imageRef)
    if (image?.uid !== undefined && image.uid !== null) return { uid: Number(image.uid.value) }
    return image?.username !== undefined && image.username !== '' ? { username: image.username } : {}
  }

  /** Forgets the back-off of pods that are gone. */
  forgetPod(uid: string): void {
    for (const key of this.#failedAt.keys()) if (key.startsWith(`${uid}_`)) this.#failedAt.delete(key)
  }

  async #pullSecretsAuth(pod: Pod, image: string): Promise<PullAuth | undefined> {
    const names = pod.spec.imagePullSecrets ?? []
    const secret = this.#o.secret
    if (names.length === 0 || secret === undefined) return undefined
    return pullAuthFor(image, await Promise.all(names.map((ref) => secret(pod.metadata.namespace ?? 'default', ref.name))))
  }

  #pull(image: string, auth: PullAuth | undefined): Promise<string> {
    let pull = this.#pulling.get(image)
    if (pull === undefined) {
      pull = this.#o.runtime.pullImage(image, auth).finally(() => this.#pulling.delete(image))
      this.#pulling.set(image, pull)
    }
    return pull
  }
}

/** `work`, or a rejection with the signal's reason as soon as it is aborted. */
function abandonable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work
  if (signal.aborted) return Promise.reject(signal.reason as Error)
  return new Promise<T>((resolve, reject) => {
    const abandon = (): void => reject(signal.reason as Error)
    signal.addEventListener('abort', abandon, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abandon))
  })
}
