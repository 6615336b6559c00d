/**
 * The pages watching live (server-sent events): each gets a snapshot when it connects, then the
 * changes its session may read. A page that does not read its stream is dropped once 1 MiB waits
 * for it (its browser reconnects and starts again from a snapshot), so a stalled phone costs the
 * node a bounded amount of memory and never delays anyone else.
 */
import type { ServerResponse } from 'node:http'
import { SECURITY_HEADERS } from './http.js'
import type { Session } from './sessions.js'

export const MAX_VIEWERS = 32
const MAX_BACKLOG_BYTES = 1024 * 1024
const HEARTBEAT_MS = 20_000

interface Viewer {
  readonly res: ServerResponse
  readonly session: Session
}

export class Viewers {
  readonly #viewers = new Set<Viewer>()
  #heartbeat: NodeJS.Timeout | undefined

  get size(): number {
    return this.#viewers.size
  }

  /** Starts a stream with `first` (lines already framed by `frame`); false when the table is full. */
  add(res: ServerResponse, session: Session, first: string): boolean {
    if (this.#viewers.size >= MAX_VIEWERS) return false
    const viewer = { res, session }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    res.write(`retry: 2000\n\n${first}`)
    this.#viewers.add(viewer)
    res.on('close', () => this.#viewers.delete(viewer))
    if (this.#heartbeat === undefined) {
      this.#heartbeat = setInterval(() => this.send(() => ': ping\n\n'), HEARTBEAT_MS)
      this.#heartbeat.unref()
    }
    return true
  }

  /** Sends each viewer what `message` gives for its session (nothing for undefined or ''). */
  send(message: (session: Session) => string | undefined): void {
    for (const viewer of this.#viewers) {
      const text = message(viewer.session)
      if (text === undefined || text === '') continue
      if (viewer.res.writableLength > MAX_BACKLOG_BYTES) {
        viewer.res.destroy()
        this.#viewers.delete(viewer)
        continue
      }
      viewer.res.write(text)
    }
  }

  /** Ends the streams of one session (logout) or all of them (stop). */
  close(session?: Session): void {
    for (const viewer of this.#viewers) {
      if (session !== undefined && viewer.session !== session) continue
      viewer.res.end()
      this.#viewers.delete(viewer)
    }
    if (this.#viewers.size === 0 && this.#heartbeat !== undefined) {
      clearInterval(this.#heartbeat)
      this.#heartbeat = undefined
    }
  }
}

/** One server-sent event. */
export function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}
