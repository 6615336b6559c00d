/**
 * The edge end of the Node spec downlink (`update` of `default/node/<node>`, cloud-sync/pod-messages.ts):
 * the spec is written to the node database, then handed to edged's admission, then acknowledged;
 * after a restart with no cloud the last spec received still applies (a cordoned node stays
 * cordoned). A spec for another node or of the wrong shape is refused with CLOUD_MESSAGE_INVALID.
 */
import type { Logger } from 'pino'
import type { NodeAdmission } from '../../edged/admission.js'
import type { NodeSpecUpdate } from '../../schemas/pod-link.js'
import type { LevelStore } from '../../twin/store.js'
import { errorResponse, Operations, response, type Envelope } from '../messages.js'
import { parseNodeSpecResource, POD_REPORT_ROUTE, validateNodeSpecUpdate } from '../pod-messages.js'
import type { Session } from '../session.js'

export interface NodeSpecSpaces extends Record<string, unknown> {
  nodespec: NodeSpecUpdate['spec']
}

const KEY = 'spec'

export class EdgeNodeSpec {
  readonly #o: { store: LevelStore<NodeSpecSpaces>; node: string; admission: NodeAdmission; log: Logger }
  #chain: Promise<void> = Promise.resolve()

  constructor(options: { store: LevelStore<NodeSpecSpaces>; node: string; admission: NodeAdmission; log: Logger }) {
    this.#o = options
  }

  /** Applies the spec kept from an earlier run. */
  async start(): Promise<void> {
    const kept = (await this.#o.store.loadAll('nodespec')).find((e) => e.key === KEY)?.value
    const checked = validateNodeSpecUpdate({ spec: kept ?? {} })
    if (kept !== undefined && checked.ok) this.#o.admission.set(checked.value.spec)
  }

  attach(session: Session): void {
    session.onMessage((message) => {
      if (parseNodeSpecResource(message.route.resource) === undefined) return
      this.#chain = this.#chain.then(() => this.#apply(session, message)).catch((err: unknown) => this.#o.log.error({ err }, 'applying the Node spec failed'))
    })
  }

  async #apply(session: Session, message: Envelope): Promise<void> {
    const named = parseNodeSpecResource(message.route.resource)
    const checked = validateNodeSpecUpdate(message.content)
    const problem = named !== this.#o.node ? `the spec of node ${named ?? ''}, not ${this.#o.node}` : message.route.operation !== Operations.update ? `operation ${message.route.operation} is not update` : checked.ok ? undefined : checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')
    if (problem !== undefined || !checked.ok) {
      this.#o.log.warn({ code: 'CLOUD_MESSAGE_INVALID', reason: problem }, 'Node spec refused')
      session.send(errorResponse(message, POD_REPORT_ROUTE.source, { code: 'CLOUD_MESSAGE_INVALID', reason: problem ?? '' }))
      return
    }
    const spec = checked.value.spec
    await this.#o.store.write([{ space: 'nodespec', type: 'put', key: KEY, value: spec }])
    const before = this.#o.admission.spec
    this.#o.admission.set(spec)
    if (before?.unschedulable !== spec.unschedulable) this.#o.log.info({ unschedulable: spec.unschedulable === true }, spec.unschedulable === true ? 'node cordoned: new pods are refused' : 'node schedulable: new pods are admitted')
    session.send(response(message, POD_REPORT_ROUTE.source))
  }
}
