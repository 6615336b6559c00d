/** One raw MQTT connection of the load generator: a TCP socket to 127.0.0.1 and a frame reader. */
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { CONNACK, DISCONNECT, FrameReader, SUBACK, connectPacket, subscribePacket } from './mqtt-wire.js'

const HANDSHAKE_TIMEOUT_MS = 10_000

/** Receives every frame except the handshake's; `now` is when the chunk holding it arrived. */
export type HotHandler = (type: number, flags: number, buf: Buffer, start: number, end: number, now: number) => void

export class Connection {
  readonly socket: Socket
  #now = 0
  #waiting: { type: number; resolve: (rc: number) => void } | undefined
  #failure: Error | undefined
  #onFailure: (err: Error) => void = () => undefined
  #afterChunk: () => void = () => undefined
  #hot: HotHandler = () => undefined

  private constructor(socket: Socket) {
    this.socket = socket
    const reader = new FrameReader((type, flags, buf, start, end) => {
      const waiting = this.#waiting
      if (waiting !== undefined && type === waiting.type) {
        this.#waiting = undefined
        // CONNACK: return code in byte 2; SUBACK: granted QoS (0x80 = refused) in byte 3.
        waiting.resolve(buf[type === CONNACK ? start + 1 : start + 2] ?? 0xff)
      } else {
        this.#hot(type, flags, buf, start, end, this.#now)
      }
    })
    socket.on('data', (chunk: Buffer) => {
      this.#now = performance.now()
      try {
        reader.push(chunk)
      } catch (err) {
        this.#fail(err as Error)
        return
      }
      this.#afterChunk()
    })
    socket.on('error', (err) => this.#fail(err))
    socket.on('close', () => this.#fail(new Error('connection closed by the broker')))
  }

  /** Connects with a clean session and waits for a CONNACK that accepts it. */
  static async open(port: number, clientId: string): Promise<Connection> {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true })
    const conn = new Connection(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const rc = await conn.#request(connectPacket(clientId), CONNACK)
    if (rc !== 0) throw new Error(`broker refused ${clientId} with CONNACK return code ${rc}`)
    return conn
  }

  async subscribe(filter: string, qos: 0 | 1): Promise<void> {
    const granted = await this.#request(subscribePacket(1, filter, qos), SUBACK)
    if (granted !== qos) throw new Error(`SUBSCRIBE ${filter} at QoS ${qos} was answered with ${granted}`)
  }

  /** Installs the per-frame handler and a callback after each received chunk (to batch replies). */
  handle(hot: HotHandler, afterChunk: () => void, onFailure: (err: Error) => void): void {
    this.#hot = hot
    this.#afterChunk = afterChunk
    this.#onFailure = onFailure
    if (this.#failure !== undefined) onFailure(this.#failure)
  }

  get failure(): Error | undefined {
    return this.#failure
  }

  /** DISCONNECT, then wait (bounded) for the socket to close. */
  async close(): Promise<void> {
    this.#onFailure = () => undefined
    this.#failure ??= new Error('closed')
    const socket = this.socket
    if (socket.destroyed) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy()
        resolve()
      }, 2000)
      socket.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      socket.end(DISCONNECT)
    })
  }

  #fail(err: Error): void {
    if (this.#failure !== undefined) return
    this.#failure = err
    this.#onFailure(err)
  }

  #request(packet: Buffer, replyType: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.destroy()
        reject(new Error(`no reply of type ${replyType} within ${HANDSHAKE_TIMEOUT_MS} ms`))
      }, HANDSHAKE_TIMEOUT_MS)
      this.socket.once('close', () => reject(new Error('connection closed during the handshake')))
      this.#waiting = {
        type: replyType,
        resolve: (rc) => {
          clearTimeout(timer)
          resolve(rc)
        },
      }
      this.socket.write(packet)
    })
  }
}
