/**
 * `tern cloud`'s metrics and health listener (config `http`), loaded only when it is on; parts are
 * handed over as they start. Ready once the informers have synced and CloudHub listens.
 */
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { CloudController } from '../cloud-sync/cloud/controller.js'
import type { NodeLifecycle } from '../cloud-sync/cloud/node-lifecycle.js'
import type { CloudHub } from '../cloud-sync/link/cloud-hub.js'
import type { HttpListener } from '../schemas/http-listener.js'
import { controllerMetrics, hubMetrics, nodeMetrics } from './cloud/controllers.js'
import { kubeRequestMetrics } from './cloud/kube-requests.js'
import { MetricsServer } from './http-server.js'
import { processMetrics } from './process.js'
import { Registry } from './prom.js'
import { Readiness } from './readiness.js'

export class CloudObservability {
  readonly readiness = new Readiness({
    informers: 'the Device and DeviceModel informers have not synced',
    hub: 'CloudHub is not listening',
  })
  readonly server: MetricsServer
  readonly #registry = new Registry()
  readonly #unsubscribe: () => void

  constructor(options: { listener: HttpListener; version: string; log: Logger }) {
    processMetrics(this.#registry, options.version)
    this.#unsubscribe = kubeRequestMetrics(this.#registry)
    this.server = new MetricsServer({ listener: options.listener, registry: this.#registry, notReady: () => this.readiness.reasons(), log: options.log.child({ part: 'http' }) })
  }

  controller(controller: CloudController): void {
    controllerMetrics(this.#registry, controller)
    const { devices, models } = controller.informers
    this.readiness.met('informers')
    this.readiness.check(() => (devices.synced && models.synced ? undefined : 'the Device and DeviceModel informers have not synced'))
  }

  nodes(nodes: NodeLifecycle): void {
    nodeMetrics(this.#registry, nodes)
  }

  hub(hub: CloudHub): void {
    hubMetrics(this.#registry, hub)
    this.readiness.met('hub')
  }

  start(): Promise<AddressInfo> {
    return this.server.start()
  }

  stopping(): void {
    this.readiness.unmet('stopping', 'tern cloud is stopping')
  }

  async stop(): Promise<void> {
    this.#unsubscribe()
    await this.server.stop()
  }
}
