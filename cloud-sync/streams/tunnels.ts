/**
 * The cloud end of the nodes' stream tunnels: CloudHub hands over each authenticated tunnel
 * WebSocket (`/<projectId>/<node>/streams`, opened by the edge beside its session); a newer tunnel
 * of a node replaces the older one, and a node's tunnel is closed when its session ends. A node
 * has at most `maxPerNode` streams open: each holds a window of buffers at both ends and, for
 * exec/attach/port-forward, a session of the runtime on the node, so one user's scripts cannot
 * pile them up on a small edge device.
 */
import type { Logger } from 'pino'
import type WebSocket from 'ws'
import { Mux, type TunnelStream } from './mux.js'

export type Opened = { ok: true; stream: TunnelStream } | { ok: false; code: 'STREAM_NODE_UNAVAILABLE' | 'STREAM_LIMIT_REACHED'; message: string }

export class Tunnels {
  readonly #log: Logger
  readonly #byNode = new Map<string, Mux>()
  readonly #window: number | undefined
  readonly #maxPerNode: number

  /** `maxPerNode`: streams open at once per node (streams.maxPerNode) */
  constructor(options: { log: Logger; maxPerNode: number; window?: number }) {
    this.#log = options.log.child({ part: 'streams' })
    this.#window = options.window
    this.#maxPerNode = options.maxPerNode
  }

  accept(node: string, socket: WebSocket): void {
    const mux = new Mux(socket, { log: this.#log.child({ node }), ...(this.#window === undefined ? {} : { window: this.#window }) })
    const old = this.#byNode.get(node)
    this.#byNode.set(node, mux)
    old?.close(4000, 'replaced')
    socket.on('close', () => {
      if (this.#byNode.get(node) === mux) this.#byNode.delete(node)
      this.#log.info({ node }, 'stream tunnel closed')
    })
    this.#log.info({ node, replaced: old !== undefined }, 'stream tunnel opened')
  }

  /** A new stream to `node` carrying `request`, unless the node has no tunnel or its streams are at the limit. */
  open(node: string, request: unknown): Opened {
    const mux = this.#byNode.get(node)
    if (mux === undefined || mux.closed) return { ok: false, code: 'STREAM_NODE_UNAVAILABLE', message: `node ${node} has no stream tunnel open` }
    if (mux.size >= this.#maxPerNode) {
      this.#log.info({ node, code: 'STREAM_LIMIT_REACHED', open: mux.size }, 'stream refused: the node is at its limit')
      return { ok: false, code: 'STREAM_LIMIT_REACHED', message: `node ${node} has ${mux.size} streams open, its limit (streams.maxPerNode of tern cloud); end a kubectl logs -f, exec, attach or port-forward to this node and try again` }
    }
    return { ok: true, stream: mux.open(request) }
  }

  has(node: string): boolean {
    return this.#byNode.has(node)
  }

  closeNode(node: string, reason: string): void {
    this.#byNode.get(node)?.close(1000, reason)
    this.#byNode.delete(node)
  }

  stop(): void {
    for (const [node, mux] of [...this.#byNode]) {
      mux.close(1001, 'tern cloud stopping')
      this.#byNode.delete(node)
    }
  }
}
