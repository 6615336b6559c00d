/**
 * The JSON documents of the stream tunnel (cloud-sync/streams/frames.ts frames them): what the
 * cloud asks of the edge on a new stream, a kubelet request already routed to the node, and the
 * edge's one answer. Both ends validate what they receive.
 */
import { Type, type Static } from '@sinclair/typebox'

const name = Type.String({ minLength: 1, maxLength: 253 })
const pair = Type.Tuple([Type.String({ maxLength: 256 }), Type.String({ maxLength: 16_384 })])
const common = {
  namespace: Type.String({ minLength: 1, maxLength: 63 }),
  pod: name,
  uid: Type.Optional(Type.String({ maxLength: 128 })),
}

export const StreamRequest = Type.Union([
  Type.Object({
    kind: Type.Literal('logs'),
    ...common,
    container: name,
    /** the kubelet's containerLogs query: follow, previous, tailLines, timestamps, sinceSeconds, sinceTime, limitBytes */
    query: Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 })),
  }),
  Type.Object({
    kind: Type.Union([Type.Literal('exec'), Type.Literal('attach'), Type.Literal('portforward')]),
    ...common,
    /** '' for portforward */
    container: Type.String({ maxLength: 253 }),
    /** the query as the API server sent it (command, input/output/error/tty, port) */
    query: Type.Array(pair, { maxItems: 1024 }),
    /** the upgrade request's method and headers, forwarded to the runtime's streaming server */
    method: Type.String({ minLength: 1, maxLength: 16 }),
    headers: Type.Array(pair, { maxItems: 256 }),
  }),
])
export type StreamRequest = Static<typeof StreamRequest>

/**
 * `status` 200 for logs (DATA is the log text), 101 for an upgrade (DATA is the raw connection to
 * the runtime's streaming server from its HTTP response on); otherwise an error the cloud answers
 * the API server with, and the stream ends.
 */
export const StreamReply = Type.Object({
  status: Type.Integer({ minimum: 100, maximum: 599 }),
  code: Type.Optional(Type.String({ maxLength: 64 })),
  message: Type.Optional(Type.String({ maxLength: 4096 })),
})
export type StreamReply = Static<typeof StreamReply>
