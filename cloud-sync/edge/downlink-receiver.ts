/**
 * The edge end of an acked downlink, shared by the device sync (edge-sync.ts) and the workload
 * sync (workload-sync.ts): the messages a part claims are applied one at a time, in arrival
 * order, whichever session they came on; each is answered only after it was applied (written
 * durably), or with an error naming every problem when it is refused — it then changes nothing.
 */
import type { Logger } from 'pino'
import type { ErrorCode } from '../../schemas/errors.js'
import type { Problem } from '../../schemas/validate.js'
import { errorResponse, response, type Envelope } from '../messages.js'
import type { Session } from '../session.js'

/** `content`: the answer's, when it says more than that the message was applied (default "OK") */
export type Applied = { ok: true; content?: unknown } | { ok: false; code: ErrorCode; problems: Problem[] }

export interface DownlinkReceiverOptions {
  log: Logger
  /** `route.source` of the answers */
  source: string
  /** whether a message is this part's (others are left alone) */
  claims(message: Envelope): boolean
  apply(message: Envelope): Promise<Applied>
}

export class DownlinkReceiver {
  readonly #o: DownlinkReceiverOptions
  #chain: Promise<void> = Promise.resolve()
  #stopped = false

  constructor(options: DownlinkReceiverOptions) {
    this.#o = options
  }

  /** Applies the claimed messages of `session` from now on. */
  attach(session: Session): void {
    session.onMessage((message) => {
      if (!this.#o.claims(message)) return
      this.#chain = this.#chain.then(() => this.#handle(session, message)).catch((err: unknown) => this.#o.log.error({ err, resource: message.route.resource }, 'applying a cloud message failed'))
    })
  }

  /** Waits for the message being applied; later messages are dropped unanswered (the cloud re-sends). */
  async stop(): Promise<void> {
    this.#stopped = true
    await this.#chain
  }

  async #handle(session: Session, message: Envelope): Promise<void> {
    if (this.#stopped) return
    const outcome = await this.#o.apply(message)
    if (!outcome.ok) {
      const reason = reasonOf(outcome.problems)
      this.#o.log.warn({ code: outcome.code, operation: message.route.operation, resource: message.route.resource, problems: outcome.problems }, 'cloud message refused')
      session.send(errorResponse(message, this.#o.source, { code: outcome.code, reason }))
      return
    }
    session.send(response(message, this.#o.source, outcome.content))
  }
}

/** Problems as an error answer's `reason` gives them. */
export function reasonOf(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join('; ')
}

/** Problems of a message's content, with paths from the envelope. */
export function contentProblems(problems: readonly Problem[]): Problem[] {
  return problems.map((p) => ({ ...p, path: `/content${p.path === '/' ? '' : p.path}` }))
}
