/**
 * Streams multiplexed over one stream-tunnel WebSocket (frames.ts), each a Duplex with credit flow
 * control: a side sends DATA only within the bytes the other side granted, and grants more only as
 * its consumer takes what it has (the readable side drained below the window). A stalled kubectl
 * therefore holds at most one window of its stream at the cloud and one at the edge, the tunnel
 * keeps carrying the other streams, and the producer at the edge (a log file, the runtime's
 * streaming server) is paused by ordinary stream back-pressure.
 */
import { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import WebSocket from 'ws'
import { TernError } from '../../schemas/tern-error.js'
import { decodeFrame, encodeCredit, encodeFrame, encodeJson, FrameType, type Frame, type StreamReply } from './frames.js'

/** Bytes a side may send on one stream before the receiver grants more (default). */
export const DEFAULT_WINDOW = 256 * 1024
/** Largest DATA payload: streams interleave on the tunnel at this grain. */
export const MAX_DATA = 32 * 1024
/** Largest payload of another frame (a request with its headers, a reply, a reset). */
export const MAX_CONTROL = 1024 * 1024 - 5

export class TunnelStream extends Duplex {
  readonly id: number
  readonly #mux: Mux
  readonly #window: number
  /** bytes this side may still send */
  #credit: number
  #pending: { chunk: Buffer; done: (err?: Error | null) => void } | undefined
  #received = 0
  #granted: number
  #ended = false
  #peerGone = false

  constructor(mux: Mux, id: number, window: number) {
    super({ readableHighWaterMark: window, writableHighWaterMark: MAX_DATA, allowHalfOpen: true })
    this.#mux = mux
    this.id = id
    this.#window = window
    this.#credit = window
    this.#granted = window
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#pending = { chunk, done }
    this.#flush()
  }

  #flush(): void {
    const pending = this.#pending
    if (pending === undefined) return
    while (this.#credit > 0 && pending.chunk.length > 0) {
      const n = Math.min(this.#credit, MAX_DATA, pending.chunk.length)
      this.#mux.send(encodeFrame(FrameType.data, this.id, pending.chunk.subarray(0, n)))
      this.#credit -= n
      pending.chunk = pending.chunk.subarray(n)
    }
    if (pending.chunk.length === 0) {
      this.#pending = undefined
      pending.done()
    }
  }

  /** The edge's one answer to the stream's request, before any DATA. */
  reply(body: StreamReply): void {
    this.#mux.send(encodeJson(FrameType.reply, this.id, body))
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#mux.send(encodeFrame(FrameType.end, this.id))
    this.#ended = true
    done()
  }

  override _read(): void {
    this.#grant()
  }

  // Readable calls _read once and then waits for a push, which never comes while the peer has no
  // credit: credit is granted as the consumer takes data, after every read.
  override read(size?: number): unknown {
    const chunk: unknown = super.read(size)
    this.#grant()
    return chunk
  }

  /** Grants the peer what the consumer has taken, in batches of a quarter window. */
  #grant(): void {
    if (this.destroyed) return
    const target = this.#received - this.readableLength + this.#window
    const more = target - this.#granted
    if (more >= this.#window / 4) {
      this.#granted = target
      this.#mux.send(encodeCredit(this.id, more))
    }
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.#mux.forget(this.id)
    const pending = this.#pending
    this.#pending = undefined
    pending?.done(err ?? new Error('stream destroyed'))
    if (!this.#peerGone && !(this.#ended && this.readableEnded)) {
      this.#mux.send(encodeJson(FrameType.reset, this.id, { code: err instanceof TernError ? err.code : 'STREAM_CLOSED', message: err?.message ?? 'closed' }))
    }
    done(err)
  }

  /** @internal a frame for this stream */
  receive(frame: Frame): void {
    switch (frame.type) {
      case FrameType.data:
        this.#received += frame.payload.length
        if (this.#received > this.#granted) {
          this.destroy(new TernError('STREAM_PROTOCOL_ERROR', `stream ${this.id}: the peer sent ${this.#received - this.#granted} bytes beyond its credit`))
          return
        }
        this.push(ownBuffer(frame.payload))
        this.#grant()
        return
      case FrameType.credit:
        if (frame.payload.length !== 4) return
        this.#credit += frame.payload.readUInt32BE(0)
        // a receiver grants what its consumer took, so what may be in flight never exceeds its window
        if (this.#credit > this.#window) {
          this.destroy(new TernError('STREAM_PROTOCOL_ERROR', `stream ${this.id}: the peer granted credit beyond the window`))
          return
        }
        this.#flush()
        return
      case FrameType.end:
        this.push(null)
        return
      case FrameType.reset: {
        this.#peerGone = true
        const said = parseJson(frame.payload) as { code?: unknown; message?: unknown } | undefined
        this.destroy(new TernError('STREAM_CLOSED', `the peer reset the stream: ${typeof said?.message === 'string' ? said.message : 'no reason'}`))
        return
      }
      case FrameType.reply:
        this.emit('reply', parseJson(frame.payload))
        return
      case FrameType.open:
        return
    }
  }

  /** @internal the tunnel closed under the stream */
  lost(reason: string): void {
    this.#peerGone = true
    this.destroy(new TernError('STREAM_CLOSED', `the stream tunnel closed: ${reason}`))
  }
}

export interface MuxOptions {
  /** the edge: a new stream the cloud opened, with its (unvalidated) request */
  onOpen?(stream: TunnelStream, request: unknown): void
  window?: number
  log: Logger
}

/** One end of a stream tunnel. The cloud opens streams (odd ids); the edge answers them. */
export class Mux {
  readonly #socket: WebSocket
  readonly #o: MuxOptions
  readonly #streams = new Map<number, TunnelStream>()
  #nextId = 1
  #closed: string | undefined

  constructor(socket: WebSocket, options: MuxOptions) {
    this.#socket = socket
    this.#o = options
    socket.binaryType = 'nodebuffer'
    socket.on('message', (data: Buffer, isBinary: boolean) => this.#receive(data, isBinary))
    socket.on('close', (code, reason) => this.#lost(`${code} ${reason.toString('utf8')}`.trim()))
    socket.on('error', (err) => options.log.debug({ err }, 'stream tunnel error; closing'))
  }

  /** Streams open now. */
  get size(): number {
    return this.#streams.size
  }

  get closed(): boolean {
    return this.#closed !== undefined
  }

  /** Opens a stream carrying `request` (the cloud side). */
  open(request: unknown): TunnelStream {
    const id = this.#nextId
    this.#nextId = (this.#nextId + 2) % 0x1_0000_0000
    const stream = new TunnelStream(this, id, this.#o.window ?? DEFAULT_WINDOW)
    if (this.#closed !== undefined) {
      const closed = this.#closed
      process.nextTick(() => stream.lost(closed))
      return stream
    }
    this.#streams.set(id, stream)
    this.send(encodeJson(FrameType.open, id, request))
    return stream
  }

  /** @internal */
  send(frame: Buffer): void {
    if (this.#closed === undefined && this.#socket.readyState === WebSocket.OPEN) this.#socket.send(frame, { binary: true })
  }

  /** @internal */
  forget(id: number): void {
    this.#streams.delete(id)
  }

  /** Closes the tunnel; every stream on it is destroyed. */
  close(code = 1000, reason = 'closing'): void {
    if (this.#socket.readyState === WebSocket.OPEN || this.#socket.readyState === WebSocket.CONNECTING) this.#socket.close(code, reason)
    this.#lost(reason)
  }

  #receive(data: Buffer, isBinary: boolean): void {
    const frame = isBinary ? decodeFrame(data) : undefined
    if (frame === undefined || frame.payload.length > (frame.type === FrameType.data ? MAX_DATA : MAX_CONTROL)) {
      this.#o.log.warn({ code: 'STREAM_PROTOCOL_ERROR', bytes: data.length }, 'a stream tunnel frame is not valid or larger than the protocol allows; closing the tunnel')
      this.close(1002, 'invalid frame')
      return
    }
    const stream = this.#streams.get(frame.id)
    if (stream !== undefined) {
      stream.receive(frame)
      return
    }
    // A frame of a stream this side closed (it said so then, with END or RESET) or never had: no
    // answer, so that a peer sending such frames without reading ours cannot make this side buffer.
    if (frame.type !== FrameType.open || this.#o.onOpen === undefined) return
    const opened = new TunnelStream(this, frame.id, this.#o.window ?? DEFAULT_WINDOW)
    this.#streams.set(frame.id, opened)
    this.#o.onOpen(opened, parseJson(frame.payload))
  }

  #lost(reason: string): void {
    if (this.#closed !== undefined) return
    this.#closed = reason
    for (const stream of [...this.#streams.values()]) stream.lost(reason)
    this.#streams.clear()
  }
}

/**
 * A DATA payload to keep until the consumer takes it. ws hands each message over in a buffer of its
 * own (the frame's bytes gathered from the socket's reads) or as a view into one read: a payload
 * filling most of its buffer is kept as it is, a small one copied, so that waiting bytes never hold
 * much more memory than the window counts (a copy of every payload cost the cloud ~0.2 s of CPU
 * and as much garbage collection per 100 MB of exec output).
 */
function ownBuffer(payload: Buffer): Buffer {
  return payload.length * 2 >= payload.buffer.byteLength ? payload : Buffer.from(payload)
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}
