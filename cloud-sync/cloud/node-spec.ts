/**
 * Sends each connected edge node its own Node's spec and labels (`update` of
 * `default/node/<node>`, content `{spec: {unschedulable, taints}, labels}`) for edged's admission,
 * as a kubelet reads its Node: on connect and whenever `kubectl cordon`/`uncordon`, a taint or a
 * `kubectl label node` moves them. Only the newest of a node is in flight; an older one still
 * being re-sent is cancelled.
 */
import type { Logger } from 'pino'
import type { EdgeNodeObject, NodeSpecUpdate } from '../../schemas/pod-link.js'
import { message, Operations } from '../messages.js'
import { nodeSpecResource } from '../pod-messages.js'
import type { Session } from '../session.js'
import type { CoreResource } from './core-api.js'
import type { Informer } from './informers.js'

/** KubeEdge's EdgeController sends Node changes as source `edgecontroller`, group `resource`. */
const ROUTE = { source: 'edgecontroller', group: 'resource' } as const

export function specOf(node: EdgeNodeObject | undefined): NodeSpecUpdate['spec'] {
  return { unschedulable: node?.spec?.unschedulable === true, taints: node?.spec?.taints ?? [] }
}

/** What the edge is sent of its Node. */
export function nodeUpdateOf(node: EdgeNodeObject | undefined): NodeSpecUpdate {
  return { spec: specOf(node), labels: node?.metadata.labels ?? {} }
}

export class NodeSpecDownlink {
  readonly #nodes: Informer<EdgeNodeObject, CoreResource>
  readonly #log: Logger
  readonly #sessions = new Map<string, { session: Session; sent: string | undefined; inFlight: ReturnType<typeof message> | undefined }>()

  constructor(options: { nodes: Informer<EdgeNodeObject, CoreResource>; log: Logger }) {
    this.#nodes = options.nodes
    this.#log = options.log
    this.#nodes.onChange((old, current) => {
      const name = (current ?? old)?.metadata.name
      if (name !== undefined) this.#send(name)
    })
  }

  attach(session: Session): void {
    this.#sessions.set(session.node, { session, sent: undefined, inFlight: undefined })
    session.onClose(() => {
      if (this.#sessions.get(session.node)?.session === session) this.#sessions.delete(session.node)
    })
    void this.#nodes.whenSynced().then(() => this.#send(session.node))
  }

  #send(node: string): void {
    const state = this.#sessions.get(node)
    if (state === undefined || !state.session.open || !this.#nodes.synced) return
    const content = nodeUpdateOf(this.#nodes.get('', node))
    const text = JSON.stringify(content)
    if (state.sent === text) return
    state.sent = text
    if (state.inFlight !== undefined) state.session.cancel(state.inFlight)
    const update = message({ ...ROUTE, operation: Operations.update, resource: nodeSpecResource(node) }, content)
    state.inFlight = update
    state.session.request(update).then(
      (answer) => {
        if (state.inFlight === update) state.inFlight = undefined
        if (answer.route.operation === Operations.error) this.#log.warn({ node, answer: answer.content }, 'the edge refused its Node spec')
      },
      () => undefined, // superseded, or the link closed: sent again on the next connect
    )
  }
}
