/**
 * configMap and secret volumes follow their objects (the kubelet's volume manager remounts them on
 * its syncs): the pods whose volumes are set up are remembered, and `refresh()` — called when the
 * cloud's ConfigMaps or Secrets change — writes their configMap and secret volumes again (the
 * AtomicWriter writes only what changed, in one step). emptyDir and hostPath are never touched.
 */
import type { Logger } from 'pino'
import type { Pod } from '../../schemas/pod.js'
import type { Volumes } from '../kuberuntime/parts.js'

export class RefreshingVolumes implements Volumes {
  readonly #inner: Volumes
  readonly #log: Logger
  readonly #pods = new Map<string, Pod>()
  #running: Promise<void> = Promise.resolve()

  constructor(inner: Volumes, log: Logger) {
    this.#inner = inner
    this.#log = log
  }

  async setUp(pod: Pod): Promise<Map<string, string>> {
    const paths = await this.#inner.setUp(pod)
    if ((pod.spec.volumes ?? []).some((v) => v.configMap !== undefined || v.secret !== undefined)) this.#pods.set(pod.metadata.uid ?? '', pod)
    return paths
  }

  async tearDownUid(uid: string): Promise<void> {
    this.#pods.delete(uid)
    await this.#inner.tearDownUid(uid)
  }

  /** Writes the configMap and secret volumes of every pod set up again, one pass at a time. */
  refresh(): Promise<void> {
    this.#running = this.#running.then(async () => {
      for (const [uid, pod] of this.#pods) {
        if (!this.#pods.has(uid)) continue
        await this.#inner.setUp(pod).catch((err: unknown) => this.#log.warn({ code: 'EDGED_VOLUME_SETUP_FAILED', pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: (err as Error).message }, 'refreshing configMap and secret volumes failed; kept as they were'))
      }
    })
    return this.#running
  }
}
