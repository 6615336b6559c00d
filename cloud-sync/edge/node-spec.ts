/**
 * The edge end of the Node spec downlink (`update` of `default/node/<node>`, cloud-sync/pod-messages.ts):
 * the spec and labels are written to the node database, then handed to edged's admission, then
 * acknowledged; after a restart with no cloud the last ones received still apply (a cordoned node
 * stays cordoned). A spec for another node or of the wrong shape is refused with CLOUD_MESSAGE_INVALID.
 */
import type { Logger } from 'pino'
import type { NodeAdmission } from '../../edged/admission.js'
import type { NodeSpecUpdate } from '../../schemas/pod-link.js'
import type { LevelStore } from '../../twin/store.js'
import { errorResponse, Operations, response, type Envelope } from '../messages.js'
import { parseNodeSpecResource, POD_REPORT_ROUTE, validateNodeSpecUpdate } from '../pod-messages.js'
import type { Session } from '../session.js'

export interface NodeSpecSpaces extends Record<string, unknown> {
  /** key `node`: the update as received; key `spec`: the spec alone, as older versions kept it */
  nodespec: NodeSpecUpdate | NodeSpecUpdate['spec']
}

const KEY = 'node'
const OLD_KEY = 'spec'

export class EdgeNodeSpec {
  readonly #o: { store: LevelStore<NodeSpecSpaces>; node: string; admission: NodeAdmission; log: Logger }
  #chain: Promise<void> = Promise.resolve()

  constructor(options: { store: LevelStore<NodeSpecSpaces>; node: string; admission: NodeAdmission; log: Logger }) {
    this.#o = options
  }

  /** Applies the spec kept from an earlier run. */
  async start(): Promise<void> {
    const entries = await this.#o.store.loadAll('nodespec')
    const kept = entries.find((e) => e.key === KEY)?.value ?? entries.find((e) => e.key === OLD_KEY)?.value
    if (kept === undefined) return
    const checked = validateNodeSpecUpdate(entries.some((e) => e.key === KEY) ? kept : { spec: kept })
    if (checked.ok) this.#use(checked.value)
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
    await this.#o.store.write([
      { space: 'nodespec', type: 'put', key: KEY, value: checked.value },
      { space: 'nodespec', type: 'del', key: OLD_KEY },
    ])
    const before = this.#o.admission.spec
    const labelsBefore = JSON.stringify(this.#o.admission.labels)
    this.#use(checked.value)
    if (JSON.stringify(checked.value.labels) !== labelsBefore) this.#o.log.debug({ labels: checked.value.labels }, 'Node labels received: new pods are admitted against them')
    if (before?.unschedulable !== spec.unschedulable) this.#o.log.info({ unschedulable: spec.unschedulable === true }, spec.unschedulable === true ? 'node cordoned: new pods are refused' : 'node schedulable: new pods are admitted')
    session.send(response(message, POD_REPORT_ROUTE.source))
  }

  #use(update: NodeSpecUpdate): void {
    this.#o.admission.set(update.spec)
    // a cloud that sends no labels leaves node affinity unchecked rather than checked against none
    this.#o.admission.labels = update.labels
  }
}
