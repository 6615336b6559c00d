/**
 * The cloud side of what edge nodes' kubelets write (DESIGN.md §7): edge Nodes watched (an
 * informer), pod statuses and events written (pod-uplink.ts, checked against the workload
 * downlink's pod informer) and each node's spec sent down for admission (node-spec.ts), composed
 * with one lifecycle. CloudHub hands each
 * connected edge session to `attach()`.
 */
import type { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
import * as checks from '../../schemas/generated/validators.js'
import type { EdgeNodeObject } from '../../schemas/pod-link.js'
import { validator } from '../../schemas/validate.js'
import type { Session } from '../session.js'
import { ClientNodeCoreApi, type CoreApi, type CoreResource } from './core-api.js'
import { Informer } from './informers.js'
import { NodeSpecDownlink } from './node-spec.js'
import { PodUplink, type BoundPods, type PodRejection } from './pod-uplink.js'
import { TokenBucket, type BackoffOptions } from './timing.js'

export interface PodControllerOptions {
  /** the cluster (a real client-node implementation is built from it) … */
  kube?: KubeConfig
  /** … or the API seam itself */
  api?: CoreApi
  /** pods bound to a node (the workload downlink's informer, started and stopped by its owner) */
  pods: BoundPods
  /** the status budget shared with Device status (CloudController's) */
  budget: TokenBucket
  events?: { qps: number; burst: number }
  workers?: number
  retry?: BackoffOptions
  log: Logger
  clock?: Clock
}

export class PodController {
  readonly nodes: Informer<EdgeNodeObject, CoreResource>
  readonly #uplink: PodUplink
  readonly #downlink: NodeSpecDownlink

  constructor(options: PodControllerOptions) {
    const api = options.api ?? new ClientNodeCoreApi(options.kube as KubeConfig)
    const clock = options.clock ?? realClock
    const log = options.log.child({ part: 'cloud', controller: 'pods' })
    this.nodes = new Informer<EdgeNodeObject, CoreResource>({ api, resource: 'edge-nodes', validate: validator(checks.EdgeNodeObject), log: log.child({ informer: 'nodes' }), clock })
    const events = options.events ?? { qps: 5, burst: 50 }
    this.#uplink = new PodUplink({
      api,
      pods: options.pods,
      statusBucket: options.budget,
      eventBucket: new TokenBucket({ ...events, clock }),
      log,
      clock,
      workers: options.workers ?? 8,
      retry: options.retry ?? { initialMs: 500, maxMs: 30_000 },
    })
    this.#downlink = new NodeSpecDownlink({ nodes: this.nodes, log })
  }

  start(): void {
    this.#uplink.start()
    this.nodes.start()
  }

  async stop(): Promise<void> {
    await this.#uplink.stop()
    await this.nodes.stop()
  }

  attach(session: Session): void {
    this.#uplink.attach(session)
    this.#downlink.attach(session)
  }

  /** Writes a kubelet's refusal of a pod no node can be sent (PodUplink.reject). */
  reject(pod: PodRejection): void {
    this.#uplink.reject(pod)
  }

  metrics(): ReturnType<PodUplink['metrics']> {
    return this.#uplink.metrics()
  }
}
