/**
 * Pods bound to the node in Kubernetes (the kubelet's `api` config source), from the edge's store
 * of cloud workload objects (cloud-sync/edge/workload-sync.ts): `start()` returns what is stored,
 * so after a restart with the cloud unreachable the node's pods start again, and every change the
 * cloud sends gives edged the whole set again, pods being deleted included (edged stops them).
 * Pods keep their API server uid. Each pod is validated as the kubelet would run it; one edged
 * refuses is logged once per version (EDGED_POD_INVALID, naming the field) and listed by
 * `refused()` instead (edged reports it Failed, and terminated once deleted), and the others run.
 */
import type { Logger } from 'pino'
import { TernError } from '../../schemas/tern-error.js'
import type { Pod } from '../../schemas/pod.js'
import type { PodSource, PodValidator, RefusedPod } from './source.js'

/** The store's side edged reads. */
export interface CloudPods {
  /** The pods the cloud bound to this node, as stored. */
  pods(): ReadonlyArray<{ metadata: { namespace: string; name: string; uid?: string; resourceVersion?: string } }>
  /** `changed`: the objects that changed (pods, ConfigMaps, Secrets) */
  onChange(listener: (changed: ReadonlyArray<{ kind: string; namespace: string; name: string }>) => void): void
}

export interface CloudPodSourceOptions {
  store: CloudPods
  validate: PodValidator
  log: Logger
}

export class CloudPodSource implements PodSource {
  readonly name = 'api'
  readonly #o: CloudPodSourceOptions
  /** `<uid>@<resourceVersion>` → the validated pod, or why it was refused (so each version is validated and logged once) */
  #checked = new Map<string, Pod | string>()
  #refused: RefusedPod[] = []
  #onChange: ((pods: Pod[]) => void) | undefined
  #stopped = false

  constructor(options: CloudPodSourceOptions) {
    this.#o = options
  }

  start(onChange: (pods: Pod[]) => void): Promise<Pod[]> {
    this.#onChange = onChange
    this.#o.store.onChange((changed) => {
      // a ConfigMap or Secret alone changes no pod (their volumes follow through edged's volume refresh)
      if (!this.#stopped && changed.some((c) => c.kind === 'pod')) this.#onChange?.(this.#current())
    })
    return Promise.resolve(this.#current())
  }

  stop(): Promise<void> {
    this.#stopped = true
    return Promise.resolve()
  }

  refused(): RefusedPod[] {
    return this.#refused
  }

  #current(): Pod[] {
    const checked = new Map<string, Pod | string>()
    const pods: Pod[] = []
    const refused: RefusedPod[] = []
    for (const stored of this.#o.store.pods()) {
      const { namespace, name, uid, resourceVersion } = stored.metadata
      const key = `${uid ?? ''}@${resourceVersion ?? ''}`
      const pod = this.#checked.get(key) ?? this.#validate(stored, `${namespace}/${name}`)
      checked.set(key, pod)
      // a pod being deleted stays in (with its deletionTimestamp): edged stops it with the
      // deletion's grace period, and says when nothing of it runs, so its final delete can go
      if (typeof pod !== 'string') pods.push(pod)
      // without a uid nothing can be reported about it (the API server always sets one)
      else if (uid !== undefined && uid !== '') refused.push({ metadata: stored.metadata, message: pod })
    }
    this.#checked = checked
    this.#refused = refused
    return pods
  }

  #validate(stored: unknown, name: string): Pod | string {
    try {
      const pod = this.#o.validate(stored, `pod ${name}`)
      if (pod.metadata.uid === undefined || pod.metadata.uid === '') throw new TernError('EDGED_POD_INVALID', `pod ${name}: metadata.uid: the API server sets it, and it is missing`)
      return pod
    } catch (err) {
      const code = err instanceof TernError ? err.code : 'EDGED_POD_INVALID'
      this.#o.log.error({ code, pod: name }, `pod ${name} from the cloud refused (not run): ${(err as Error).message}`)
      return `${code}: ${(err as Error).message}`
    }
  }
}
