/**
 * The edge's cloud link as local apps can see it: a retained message on
 * `$tern/nodes/<node>/cloud` (schemas/topics.ts), published when the link opens or closes and when
 * the node certificate is renewed, so a subscriber always has the current state. With a node
 * certificate it says when that expires and when renewal is due: a node whose renewal keeps failing
 * shows a `notAfter` coming closer, not only lines in a log.
 */
import type { Logger } from 'pino'
import type { Bus } from '../../broker/bus.js'
import { cloudLinkStatusTopic } from '../../schemas/topics.js'
import type { CertificateInfo } from '../identity/renewer.js'

export interface CloudLinkStatus {
  /** ms since the epoch, when this was published */
  timestamp: number
  node: string
  connected: boolean
  /** the node certificate in use (absent in shared-secret mode) */
  certificate?: CertificateInfo
}

export class LinkStatus {
  readonly #bus: Pick<Bus, 'publish'>
  readonly #node: string
  readonly #log: Logger
  #connected = false
  #certificate: CertificateInfo | undefined

  constructor(options: { bus: Pick<Bus, 'publish'>; node: string; log: Logger }) {
    this.#bus = options.bus
    this.#node = options.node
    this.#log = options.log
  }

  linked(connected: boolean): void {
    this.#connected = connected
    this.publish()
  }

  /** The node certificate in use (at start, and after each renewal). */
  certificate(certificate: CertificateInfo): void {
    this.#certificate = certificate
    this.publish()
  }

  publish(): void {
    const status: CloudLinkStatus = { timestamp: Date.now(), node: this.#node, connected: this.#connected, ...(this.#certificate === undefined ? {} : { certificate: this.#certificate }) }
    const topic = cloudLinkStatusTopic(this.#node)
    this.#bus.publish(topic, JSON.stringify(status), { qos: 1, retain: true }).catch((err: unknown) => this.#log.warn({ err, topic }, 'cloud link status not published'))
  }
}
