/**
 * The cloud end of the nodes' stream tunnels: CloudHub hands over each authenticated tunnel
 * WebSocket (`/<projectId>/<node>/streams`, opened by the edge beside its session); a newer tunnel
 * of a node replaces the older one, and a node's tunnel is closed when its session ends.
 */
import type { Logger } from 'pino'
import type WebSocket from 'ws'
import { Mux, type TunnelStream } from './mux.js'

export class Tunnels {
  readonly #log: Logger
  readonly #byNode = new Map<string, Mux>()
  readonly #window: number | undefined

  constructor(options: { log: Logger; window?: number }) {
    this.#log = options.log.child({ part: 'streams' })
    this.#window = options.window
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

  /** A new stream to `node` carrying `request`, or undefined when the node has no tunnel. */
  open(node: string, request: unknown): TunnelStream | undefined {
    const mux = this.#byNode.get(node)
    if (mux === undefined || mux.closed) return undefined
    return mux.open(request)
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
