/**
 * The few MQTT 3.1.1 packets the load generator speaks, encoded and framed by hand. A general
 * codec (mqtt-packet, under MQTT.js) builds an object per packet and copies every payload; at
 * 100k+ messages/s on a 2-core machine that would make the generator, not the broker, the
 * bottleneck. Here a PUBLISH is a template copied into a batch buffer with its message id and
 * timestamp patched in place, and received frames are scanned in the socket's own buffers.
 */

export const PUBLISH = 3
export const PUBACK = 4
export const CONNACK = 2
export const SUBACK = 9

function remainingLength(n: number): number[] {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}

function utf8(s: string): number[] {
  const b = Buffer.from(s, 'utf8')
  return [b.length >> 8, b.length & 0xff, ...b]
}

function packet(firstByte: number, body: number[]): Buffer {
  return Buffer.from([firstByte, ...remainingLength(body.length), ...body])
}

/** CONNECT, MQTT 3.1.1, no credentials. keepalive 0 disables the broker's keep-alive timer. */
export function connectPacket(clientId: string, clean = true, keepaliveSec = 0): Buffer {
  return packet(0x10, [...utf8('MQTT'), 4, clean ? 0x02 : 0, keepaliveSec >> 8, keepaliveSec & 0xff, ...utf8(clientId)])
}

export function subscribePacket(messageId: number, filter: string, qos: 0 | 1): Buffer {
  return packet(0x82, [messageId >> 8, messageId & 0xff, ...utf8(filter), qos])
}

export const DISCONNECT = Buffer.from([0xe0, 0x00])

export interface PublishTemplate {
  /** One complete PUBLISH packet; copy it, then patch the copy. */
  bytes: Buffer
  /** Offset of the 2-byte message id (QoS 1), or -1. */
  messageIdAt: number
  /** Offset of the payload; its first 8 bytes carry the send time (float64 ms). */
  payloadAt: number
}

export function publishTemplate(topic: string, qos: 0 | 1, payloadBytes: number): PublishTemplate {
  if (payloadBytes < 8) throw new Error('the payload needs at least 8 bytes for the send timestamp')
  const t = utf8(topic)
  const idBytes = qos === 1 ? 2 : 0
  const rl = remainingLength(t.length + idBytes + payloadBytes)
  const bytes = Buffer.alloc(1 + rl.length + t.length + idBytes + payloadBytes, 0x61)
  bytes[0] = 0x30 | (qos << 1)
  Buffer.from([...rl, ...t]).copy(bytes, 1)
  const messageIdAt = qos === 1 ? 1 + rl.length + t.length : -1
  return { bytes, messageIdAt, payloadAt: 1 + rl.length + t.length + idBytes }
}

/** PUBACKs for `ids`, in one buffer (one write per received chunk, not per message). */
export function pubacks(ids: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(ids.length * 4)
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] ?? 0
    out[i * 4] = 0x40
    out[i * 4 + 1] = 2
    out[i * 4 + 2] = id >> 8
    out[i * 4 + 3] = id & 0xff
  }
  return out
}

/**
 * Called once per complete frame: `type` is the packet type (first byte >> 4), `flags` its low
 * nibble, and the frame body is `buf[start, end)`. The buffer is only valid during the call.
 */
export type FrameHandler = (type: number, flags: number, buf: Buffer, start: number, end: number) => void

/** Splits a byte stream into MQTT frames without copying, except for a frame cut by a chunk boundary. */
export class FrameReader {
  #rest: Buffer | undefined
  readonly #onFrame: FrameHandler

  constructor(onFrame: FrameHandler) {
    this.#onFrame = onFrame
  }

  push(chunk: Buffer): void {
    const buf = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk])
    this.#rest = undefined
    let pos = 0
    const n = buf.length
    while (pos < n) {
      let len = 0
      let mul = 1
      let i = pos + 1
      let complete = false
      for (; i < n && i < pos + 5; i++) {
        const byte = buf[i] as number
        len += (byte & 0x7f) * mul
        mul *= 128
        if ((byte & 0x80) === 0) {
          complete = true
          i++
          break
        }
      }
      if (!complete && i >= pos + 5) throw new Error('malformed remaining length from the broker')
      if (!complete || i + len > n) break
      const first = buf[pos] as number
      this.#onFrame(first >> 4, first & 0x0f, buf, i, i + len)
      pos = i + len
    }
    if (pos < n) this.#rest = buf.subarray(pos)
  }
}
