/**
 * configMap and secret volumes follow their objects (the kubelet's volume manager remounts them on
 * its syncs): the pods whose volumes are set up are remembered, and `refresh(changed)` — called
 * with the ConfigMaps and Secrets the cloud changed — writes again the volumes of the pods that
 * use one of them (the AtomicWriter writes only what changed, in one step). emptyDir and hostPath
 * are never touched.
 *
 * One pass at a time, and at most one more waiting: changes that arrive while a pass runs are
 * gathered for the next, so a Secret changed ten times a second costs one pass after another, not
 * a queue that grows for as long as the changes come faster than the passes.
 */
import type { Logger } from 'pino'
import type { Pod } from '../../schemas/pod.js'
import type { Volumes } from '../kuberuntime/parts.js'

/** A changed cloud object, as the edge's store of them names it (only configmap and secret matter here). */
export interface ChangedObject {
  kind: string
  namespace: string
  name: string
}

export class RefreshingVolumes implements Volumes {
  readonly #inner: Volumes
  readonly #log: Logger
  readonly #pods = new Map<string, Pod>()
  /** `<kind>/<namespace>/<name>` of the ConfigMaps and Secrets changed since the last pass started */
  #pending = new Set<string>()
  #running: Promise<void> = Promise.resolve()
  /** the pass waiting for the running one, which takes every change made until it starts */
  #next: Promise<void> | undefined

  constructor(inner: Volumes, log: Logger) {
    this.#inner = inner
    this.#log = log
  }

  async setUp(pod: Pod): Promise<Map<string, string>> {
    const paths = await this.#inner.setUp(pod)
    if (sources(pod).length > 0) this.#pods.set(pod.metadata.uid ?? '', pod)
    return paths
  }

  async tearDownUid(uid: string): Promise<void> {
    this.#pods.delete(uid)
    await this.#inner.tearDownUid(uid)
  }

  /** Writes again the volumes of the pods that use a changed ConfigMap or Secret; resolves once a pass has taken these changes. */
  refresh(changed: readonly ChangedObject[]): Promise<void> {
    for (const c of changed) if (c.kind === 'configmap' || c.kind === 'secret') this.#pending.add(`${c.kind}/${c.namespace}/${c.name}`)
    if (this.#next === undefined && this.#pending.size > 0) {
      const next = this.#running.then(() => this.#pass())
      this.#next = next
      this.#running = next
    }
    return this.#next ?? this.#running
  }

  async #pass(): Promise<void> {
    this.#next = undefined
    const changed = this.#pending
    this.#pending = new Set()
    for (const [uid, pod] of this.#pods) {
      if (!this.#pods.has(uid) || !sources(pod).some((s) => changed.has(s))) continue
      await this.#inner.setUp(pod).catch((err: unknown) => this.#log.warn({ code: 'EDGED_VOLUME_SETUP_FAILED', pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: (err as Error).message }, 'refreshing configMap and secret volumes failed; kept as they were'))
    }
  }
}

/** The ConfigMaps and Secrets a pod's volumes show, as `<kind>/<namespace>/<name>`. */
function sources(pod: Pod): string[] {
  const ns = pod.metadata.namespace
  return (pod.spec.volumes ?? []).flatMap((v) => (v.configMap !== undefined ? [`configmap/${ns}/${v.configMap.name}`] : v.secret !== undefined ? [`secret/${ns}/${v.secret.secretName ?? ''}`] : []))
}
