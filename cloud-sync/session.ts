/**
 * One connected cloud–edge session, independent of the transport: a {@link Wire} carries text
 * frames (a WebSocket in CloudHub/EdgeHub, an in-memory pair in tests). The session parses and
 * validates every frame, matches answers to requests by `parent_msg_id`, and re-sends a request
 * until it is answered or the session ends (the peer drops duplicates by `msg_id` or applies them
 * idempotently): after `resendMs`, then at doubling intervals up to `resendMaxMs`, so a peer that is
 * slow to answer (a cloud working through its status budget) is not flooded with copies. A frame
 * that is not an envelope is logged and answered with an error; it never ends the session.
 */
import type { Logger } from 'pino'
import { MAX_NESTING, MSG_ID_MAX_LENGTH } from '../schemas/cloud-link-limits.js'
import { TernError } from '../schemas/tern-error.js'
import { nestedDeeperThan } from './json-depth.js'
import { RefusalLog } from './refusal-log.js'
import { realClock, type Clock, type TimerHandle } from '../mappers/runtime/clock.js'
import { errorResponse, isAnswer, Operations, validateEnvelope, type Envelope } from './messages.js'

export interface Wire {
  send(text: string): void
  close(code?: number, reason?: string): void
  onText(handler: (text: string) => void): void
  onClose(handler: (code: number, reason: string) => void): void
}

export interface SessionOptions {
  /** the edge node at the other end (cloud side) or this node (edge side) */
  node: string
  /** `route.source` of the answers this end sends */
  source: string
  /** what the node proved itself with (cloud side: its certificate's serial) */
  identity?: string
  /** cloud side: what the edge announced it takes beyond KubeEdge's protocol (link/protocol.ts Capabilities) */
  capabilities?: ReadonlySet<string>
  /** bound to the node by its owner (CloudHub, EdgeHub), so the session does not log `node` again */
  log: Logger
  /** re-send an unanswered request after this many ms (KubeEdge: 5 s), then at doubling intervals */
  resendMs?: number
  /** the longest interval between re-sends of one request (default 60 s) */
  resendMaxMs?: number
  /** time and timers (re-sends, keepalive checks, the refusal log) */
  clock?: Clock
}

interface Pending {
  message: Envelope
  text: string
  resolve(answer: Envelope): void
  reject(err: Error): void
  timer: TimerHandle
}

export class Session {
  readonly node: string
  readonly identity: string | undefined
  readonly capabilities: ReadonlySet<string>
  readonly #wire: Wire
  readonly #o: Required<Omit<SessionOptions, 'node' | 'identity' | 'capabilities'>>
  readonly #pending = new Map<string, Pending>()
  readonly #messageHandlers: Array<(message: Envelope) => void> = []
  readonly #keepaliveHandlers: Array<(message: Envelope) => void> = []
  readonly #closeHandlers: Array<(code: number, reason: string) => void> = []
  /** malformed frames: logged once per episode, every one answered */
  readonly #refusals: RefusalLog
  #open = true
  #resends = 0
  /** time of the last frame received, for keepalive checks */
  lastReceivedAt: number

  constructor(wire: Wire, options: SessionOptions) {
    this.node = options.node
    this.identity = options.identity
    this.capabilities = options.capabilities ?? new Set()
    this.#wire = wire
    const { identity: _identity, capabilities: _capabilities, ...rest } = options
    this.#o = { resendMs: 5000, resendMaxMs: 60_000, clock: realClock, ...rest }
    this.lastReceivedAt = this.#o.clock.now()
    this.#refusals = new RefusalLog(this.#o.log, () => this.#o.clock.now())
    wire.onText((text) => this.#receive(text))
    wire.onClose((code, reason) => this.#closed(code, reason))
  }

  get open(): boolean {
    return this.#open
  }

  /** Copies of requests sent again because they were not answered in time, since the session opened. */
  get resends(): number {
    return this.#resends
  }

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.#pending.size
  }

  /** Sends a message that needs no answer (answers, keepalives). Dropped when the session is closed. */
  send(message: Envelope): void {
    if (!this.#open) return
    this.#wire.send(JSON.stringify(message))
  }

  /**
   * Sends a state-changing message and resolves with its answer (`response` or `error`),
   * re-sending it until then; rejects with CLOUD_LINK_CLOSED if the session ends first.
   */
  request(message: Envelope): Promise<Envelope> {
    if (!this.#open) return Promise.reject(linkClosed(this.node))
    return new Promise((resolve, reject) => {
      const text = JSON.stringify(message)
      let interval = this.#o.resendMs
      const resend = (): void => {
        if (!this.#open) return
        this.#resends++
        this.#wire.send(text)
        interval = Math.min(interval * 2, Math.max(this.#o.resendMs, this.#o.resendMaxMs))
        pending.timer = this.#o.clock.setTimeout(resend, interval)
      }
      const pending: Pending = { message, text, resolve, reject, timer: this.#o.clock.setTimeout(resend, this.#o.resendMs) }
      this.#pending.set(message.header.msg_id, pending)
      this.#wire.send(text)
    })
  }

  /** Stops re-sending `message` (superseded by a newer one); its promise rejects with CLOUD_REQUEST_SUPERSEDED. */
  cancel(message: Envelope): void {
    const pending = this.#pending.get(message.header.msg_id)
    if (pending === undefined) return
    this.#o.clock.clearTimeout(pending.timer)
    this.#pending.delete(message.header.msg_id)
    pending.reject(new TernError('CLOUD_REQUEST_SUPERSEDED', `request ${message.header.msg_id} was superseded`))
  }

  /** Handlers for every message that is not an answer to one of our requests or a keepalive. */
  onMessage(handler: (message: Envelope) => void): void {
    this.#messageHandlers.push(handler)
  }

  /** Handlers for keepalive messages (the hubs answer and watch them; they never reach `onMessage`). */
  onKeepalive(handler: (message: Envelope) => void): void {
    this.#keepaliveHandlers.push(handler)
  }

  onClose(handler: (code: number, reason: string) => void): void {
    if (!this.#open) queueMicrotask(() => handler(1000, 'closed'))
    else this.#closeHandlers.push(handler)
  }

  close(code = 1000, reason = ''): void {
    if (!this.#open) return
    this.#wire.close(code, reason)
    this.#closed(code, reason)
  }

  #receive(text: string): void {
    this.lastReceivedAt = this.#o.clock.now()
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch (err) {
      this.#refusals.warn(this.node, 'CLOUD_MESSAGE_INVALID', { reason: (err as Error).message }, 'frame is not JSON; answered with an error')
      this.#refuse(undefined, `frame is not JSON: ${(err as Error).message}`)
      return
    }
    if (nestedDeeperThan(doc, MAX_NESTING)) {
      this.#refusals.warn(this.node, 'CLOUD_MESSAGE_INVALID', { maxNesting: MAX_NESTING }, 'frame nests too deep; answered with an error')
      this.#refuse(doc, `frame nests arrays and objects deeper than ${MAX_NESTING} levels`)
      return
    }
    const checked = validateEnvelope(doc)
    if (!checked.ok) {
      this.#refusals.warn(this.node, 'CLOUD_MESSAGE_INVALID', { problems: checked.problems }, 'frame is not a message envelope; answered with an error')
      this.#refuse(doc, checked.problems.map((p) => `${p.path}: ${p.message}`).join('; '))
      return
    }
    const message = checked.value
    if (isAnswer(message)) {
      const pending = this.#pending.get(message.header.parent_msg_id as string)
      if (pending === undefined) return // an answer to a re-sent request that was already answered
      this.#o.clock.clearTimeout(pending.timer)
      this.#pending.delete(message.header.parent_msg_id as string)
      pending.resolve(message)
      return
    }
    const handlers = message.route.operation === Operations.keepalive ? this.#keepaliveHandlers : this.#messageHandlers
    for (const handler of handlers) {
      try {
        handler(message)
      } catch (err) {
        this.#o.log.error({ err, resource: message.route.resource }, 'message handler threw')
      }
    }
  }

  /**
   * Answers a frame that is not a message envelope, so the peer learns its frame was dropped.
   * The answer names the frame's `msg_id` when it has one that is a valid ID, and `""` otherwise:
   * either way it is an answer (`parent_msg_id` set), which a tern peer matches against its pending
   * requests and never dispatches or answers, so two ends cannot trade errors forever.
   */
  #refuse(doc: unknown, reason: string): void {
    const id = (doc as { header?: { msg_id?: unknown } } | null | undefined)?.header?.msg_id
    const parent = typeof id === 'string' && id.length <= MSG_ID_MAX_LENGTH ? id : ''
    this.send(errorResponse({ header: { msg_id: parent, timestamp: 0 }, route: { source: '', group: '', operation: 'invalid', resource: '' } }, this.#o.source, { code: 'CLOUD_MESSAGE_INVALID', reason }))
  }

  #closed(code: number, reason: string): void {
    if (!this.#open) return
    this.#open = false
    for (const pending of this.#pending.values()) {
      this.#o.clock.clearTimeout(pending.timer)
      pending.reject(linkClosed(this.node))
    }
    this.#pending.clear()
    for (const handler of this.#closeHandlers.splice(0)) handler(code, reason)
  }
}

function linkClosed(node: string): TernError {
  return new TernError('CLOUD_LINK_CLOSED', `the cloud link of node ${node} closed before the request was answered`)
}

/** Two connected in-memory wires (tests, benchmarks): what one sends, the other receives, asynchronously. */
export function wirePair(): [Wire, Wire] {
  const make = (): Wire & { peer?: Wire & { deliver(text: string): void; shut(code: number, reason: string): void }; deliver(text: string): void; shut(code: number, reason: string): void } => {
    const texts: Array<(text: string) => void> = []
    const closes: Array<(code: number, reason: string) => void> = []
    let open = true
    const wire = {
      peer: undefined as never,
      send(text: string) {
        if (!open) throw new Error('wire closed')
        const peer = wire.peer as { deliver(text: string): void } | undefined
        setImmediate(() => peer?.deliver(text))
      },
      close(code = 1000, reason = '') {
        const peer = wire.peer as { shut(code: number, reason: string): void } | undefined
        wire.shut(code, reason)
        setImmediate(() => peer?.shut(code, reason))
      },
      onText: (h: (text: string) => void) => void texts.push(h),
      onClose: (h: (code: number, reason: string) => void) => void closes.push(h),
      deliver(text: string) {
        if (open) for (const h of texts) h(text)
      },
      shut(code: number, reason: string) {
        if (!open) return
        open = false
        for (const h of closes) h(code, reason)
      },
    }
    return wire
  }
  const a = make()
  const b = make()
  a.peer = b
  b.peer = a
  return [a, b]
}
