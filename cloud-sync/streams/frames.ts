/**
 * The stream tunnel's frames (pure): one WebSocket binary message is one frame, a type byte, the
 * stream id (uint32, big-endian) and the payload. The cloud opens streams, the edge answers each
 * once (REPLY) and both then send DATA within the credit the other side granted (CREDIT), end their
 * half (END) or abort the stream (RESET). KubeEdge's tunnel multiplexes streams the same way but
 * without credit, so one stalled kubectl there holds the whole tunnel.
 */
export type { StreamReply, StreamRequest } from '../../schemas/stream-tunnel.js'

export const FrameType = {
  /** cloud → edge, JSON StreamRequest (schemas/stream-tunnel.ts) */
  open: 1,
  /** edge → cloud, JSON StreamReply: the answer to OPEN, before any DATA */
  reply: 2,
  data: 3,
  /** uint32 bytes more the receiver takes from the sender */
  credit: 4,
  /** the sender sends no more DATA on this stream */
  end: 5,
  /** JSON {code, message}: the stream is aborted both ways */
  reset: 6,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

export interface Frame {
  type: FrameType
  id: number
  payload: Buffer
}

const HEADER = 5

export function encodeFrame(type: FrameType, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const frame = Buffer.allocUnsafe(HEADER + payload.length)
  frame.writeUInt8(type, 0)
  frame.writeUInt32BE(id, 1)
  payload.copy(frame, HEADER)
  return frame
}

export function encodeJson(type: FrameType, id: number, body: unknown): Buffer {
  return encodeFrame(type, id, Buffer.from(JSON.stringify(body), 'utf8'))
}

export function encodeCredit(id: number, bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4)
  payload.writeUInt32BE(bytes, 0)
  return encodeFrame(FrameType.credit, id, payload)
}

const TYPES = new Set<number>(Object.values(FrameType))

/** The frame in `data`, or undefined when it is not one (too short, unknown type). */
export function decodeFrame(data: Buffer): Frame | undefined {
  if (data.length < HEADER) return undefined
  const type = data.readUInt8(0)
  if (!TYPES.has(type)) return undefined
  return { type: type as FrameType, id: data.readUInt32BE(1), payload: data.subarray(HEADER) }
}
