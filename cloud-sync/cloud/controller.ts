/**
 * The cloud side of `tern cloud`: Device/DeviceModel informers, the downstream controller (changes
 * → edge nodes) and the upstream controller (edge reports → Device status), composed with one
 * lifecycle. CloudHub hands each connected edge session to `attach()`:
 *
 *   const cloud = new CloudController({ kube: loadKubeConfig(flags.kubeconfig), log })
 *   await cloud.start()
 *   const hub = new CloudHub({ ..., onSession: (session) => cloud.attach(session) })
 *
 * Options and defaults:
 * - `kube`: a client-node KubeConfig (see `loadKubeConfig`: explicit file, else KUBECONFIG or
 *   ~/.kube/config, else in-cluster), or `api`: any {@link KubeApi} (tests).
 * - `qps` 50, `burst` 100: the status-write rate limit; `workers` 4: patches in flight.
 * - `syncTimeoutMs` 0: when > 0, `start()` waits at most this long for the first lists and
 *   rejects with CLOUD_KUBE_UNAVAILABLE (the informers keep retrying); 0 = do not wait.
 * - `workloadApi`: pods, ConfigMaps and Secrets (built from `kube` when not given; without
 *   either, no workloads go down).
 */
import type { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import type { Clock } from '../../mappers/runtime/clock.js'
import { TernError } from '../../schemas/tern-error.js'
import type { Session } from '../session.js'
import { Downstream, type DownstreamMetrics } from './downstream.js'
import { DeviceInformers } from './informers.js'
import { ClientNodeKubeApi, type KubeApi } from './kube-api.js'
import { TokenBucket, type BackoffOptions } from './timing.js'
import { realClock } from '../../mappers/runtime/clock.js'
import { Upstream, type UpstreamMetrics } from './upstream.js'
import { ClientNodeWorkloadApi, type WorkloadApi } from './workload-api.js'
import { Workloads } from './workloads.js'
import { servePodDeletes } from './pod-deletes.js'
import { RefusalLog } from '../refusal-log.js'

export interface CloudControllerOptions {
  log: Logger
  /** the cluster to use (a real client-node implementation is built from it) … */
  kube?: KubeConfig
  /** … or the API seam itself */
  api?: KubeApi
  /** the pods/ConfigMaps/Secrets seam (default: built from `kube`) */
  workloadApi?: WorkloadApi
  clock?: Clock
  qps?: number
  burst?: number
  workers?: number
  /** informer list/watch back-off (default 500 ms doubling to 30 s) */
  informerBackoff?: BackoffOptions
  /** status patch retry back-off (default 500 ms doubling to 30 s) */
  retry?: BackoffOptions
  /** first delay before a resync the edge refused is sent again (default 1000 ms, doubling to 30 s) */
  resyncRetryMs?: number
  syncTimeoutMs?: number
}

export interface CloudMetrics {
  downstream: DownstreamMetrics
  /** the workload downlink (absent without a workload API) */
  workloads?: DownstreamMetrics
  upstream: UpstreamMetrics
  /** lists done by the informers (the first ones plus relists after 410 Gone) */
  lists: { devices: number; devicemodels: number }
}

export class CloudController {
  readonly informers: DeviceInformers
  /** pods, ConfigMaps and Secrets down to the nodes (undefined without a workload API) */
  readonly workloads: Workloads | undefined
  /** the status budget (`qps`, `burst`): Device status patches and, through it, pod status patches */
  readonly budget: TokenBucket
  readonly #downstream: Downstream
  readonly #upstream: Upstream
  readonly #o: CloudControllerOptions
  /** the pods/ConfigMaps/Secrets seam (undefined without one) */
  readonly workloadApi: WorkloadApi | undefined
  readonly #log: Logger
  /** refusals of final deletes, once per node, code and episode across the node's sessions */
  readonly #deleteRefusals: RefusalLog
  #state: 'new' | 'started' | 'stopped' = 'new'

  constructor(options: CloudControllerOptions) {
    const api = options.api ?? (options.kube === undefined ? undefined : new ClientNodeKubeApi(options.kube))
    if (api === undefined) throw new TernError('CLOUD_CONFIG_INVALID', 'CloudController needs `kube` or `api`')
    const log = options.log.child({ part: 'cloud' })
    this.#o = options
    this.informers = new DeviceInformers({ api, log, clock: options.clock, backoff: options.informerBackoff })
    this.#downstream = new Downstream({
      informers: this.informers,
      log: log.child({ controller: 'downstream' }),
      clock: options.clock,
      ...(options.resyncRetryMs === undefined ? {} : { resyncRetryMs: options.resyncRetryMs }),
    })
    const workloadApi = options.workloadApi ?? (options.kube === undefined ? undefined : new ClientNodeWorkloadApi(options.kube))
    this.workloadApi = workloadApi
    this.#log = log
    this.#deleteRefusals = new RefusalLog(log.child({ controller: 'pod-deletes' }), () => (options.clock ?? realClock).now())
    this.workloads =
      workloadApi === undefined
        ? undefined
        : new Workloads({
            api: workloadApi,
            log,
            clock: options.clock,
            ...(options.informerBackoff === undefined ? {} : { backoff: options.informerBackoff }),
            ...(options.resyncRetryMs === undefined ? {} : { resyncRetryMs: options.resyncRetryMs }),
          })
    const limits = { qps: options.qps, burst: options.burst, workers: options.workers, retry: options.retry }
    const defined = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined))
    this.budget = new TokenBucket({ qps: options.qps ?? 50, burst: options.burst ?? 100, clock: options.clock ?? realClock })
    this.#upstream = new Upstream({ informers: this.informers, api, log: log.child({ controller: 'upstream' }), clock: options.clock, ...defined, bucket: this.budget })
  }

  async start(): Promise<void> {
    if (this.#state === 'started') return
    this.#state = 'started'
    this.#downstream.start()
    this.#upstream.start()
    this.informers.start()
    this.workloads?.start()
    const timeout = this.#o.syncTimeoutMs ?? 0
    if (timeout <= 0) return
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TernError('CLOUD_KUBE_UNAVAILABLE', `no Device/DeviceModel/Pod/ConfigMap/Secret list from the API server within ${timeout} ms`)), timeout)
    })
    try {
      await Promise.race([Promise.all([this.informers.whenSynced(), this.workloads?.whenSynced()]), expired])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Idempotent; safe after a failed start. Sessions stay open (CloudHub owns them). */
  async stop(): Promise<void> {
    if (this.#state !== 'started') return
    this.#state = 'stopped'
    this.#downstream.stop()
    await this.workloads?.stop()
    await this.#upstream.stop()
    await this.informers.stop()
  }

  /** Serves one connected edge node: resyncs (devices, then workloads) + changes down, reports up. */
  attach(session: Session): void {
    if (this.#state !== 'started') return
    this.#upstream.attach(session)
    const workloads = this.workloads
    if (workloads !== undefined && this.workloadApi !== undefined) servePodDeletes(session, { workloads, api: this.workloadApi, log: this.#log.child({ controller: 'pod-deletes' }), refusals: this.#deleteRefusals })
    void this.#downstream.attach(session).then(() => (workloads === undefined || !session.open ? undefined : workloads.attach(session)))
  }

  metrics(): CloudMetrics {
    return {
      downstream: this.#downstream.metrics(),
      ...(this.workloads === undefined ? {} : { workloads: this.workloads.metrics() }),
      upstream: this.#upstream.metrics(),
      lists: { devices: this.informers.devices.lists, devicemodels: this.informers.models.lists },
    }
  }
}
