/**
 * `tern edge`'s metrics and health listener (config `http`), loaded only when it is on: the
 * composition root hands it each part as the part comes up, and the twin and its store the
 * observers it makes. Readiness: the node database open, the MQTT bus up (listeners bound or
 * the external broker connected), the devices loaded and the mappers started.
 */
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { EdgeBroker } from '../broker/broker.js'
import type { EdgeCloud } from '../cloud-sync/edge/edge-cloud.js'
import type { Edged } from '../edged/edged.js'
import type { HttpListener } from '../schemas/http-listener.js'
import type { DeviceTwin } from '../twin/device-twin.js'
import { brokerMetrics } from './edge/broker.js'
import { cloudLinkMetrics } from './edge/cloud-link.js'
import { edgedMetrics } from './edge/edged.js'
import { mapperMetrics, type CountingMapper } from './edge/mappers.js'
import { twinMetrics, type TwinMetrics } from './edge/twin.js'
import { MetricsServer } from './http-server.js'
import { processMetrics } from './process.js'
import { Registry } from './prom.js'
import { Readiness } from './readiness.js'

export class EdgeObservability {
  readonly readiness = new Readiness({
    bus: 'the MQTT bus is not up',
    twin: 'the device twin has not loaded its devices',
    mappers: 'the mappers are not started',
  })
  readonly twin: TwinMetrics
  readonly server: MetricsServer
  readonly #registry = new Registry()
  readonly #deviceSeries: number

  constructor(options: { listener: HttpListener; version: string; log: Logger }) {
    processMetrics(this.#registry, options.version)
    this.twin = twinMetrics(this.#registry)
    this.#deviceSeries = options.listener.deviceSeries
    this.server = new MetricsServer({ listener: options.listener, registry: this.#registry, notReady: () => this.readiness.reasons(), log: options.log.child({ part: 'http' }) })
  }

  // Each part's metrics exist once the part runs: a node without a cloud link or edged shows none of theirs.
  broker(broker: EdgeBroker): void {
    brokerMetrics(this.#registry, broker)
  }

  devices(twin: DeviceTwin): void {
    this.twin.devices(twin)
    this.readiness.met('twin')
  }

  mappers(mappers: readonly CountingMapper[]): void {
    mapperMetrics(this.#registry, mappers, this.#deviceSeries)
    this.readiness.met('mappers')
  }

  cloud(cloud: EdgeCloud): void {
    cloudLinkMetrics(this.#registry, cloud)
  }

  edged(edged: Edged): void {
    edgedMetrics(this.#registry, edged)
  }

  start(): Promise<AddressInfo> {
    return this.server.start()
  }

  /** From the first stop step on, the node says it is not ready. */
  stopping(): void {
    this.readiness.unmet('stopping', 'the node is stopping')
  }

  stop(): Promise<void> {
    return this.server.stop()
  }
}
