/**
 * Costs aedes 1.2 pays per message that Mosquitto does not, found by profiling the broker under
 * bench/broker.ts (`npm run bench -- --only broker --cpu-prof`). Clients receive the same packets
 * as before; only how they are grouped into TCP segments changes.
 */
import type { Client } from 'aedes'
import type { Socket } from 'node:net'

/** a chunk this long is written as it is, not copied into the turn's buffer */
export const COPY_LIMIT = 16 * 1024

type Chunk = Buffer | string
type Write = (chunk: unknown, encoding?: unknown, callback?: unknown) => boolean

/**
 * Sends everything written to a connection during one turn of the event loop as one buffer in
 * one system call, at most one turn later (at the next check phase). aedes delivers each message
 * from its own setImmediate callback and mqtt-packet writes a PUBLISH as five pieces (header,
 * length, topic length, topic, payload), so a subscriber receiving N messages cost N writev
 * system calls: a quarter of the broker's CPU time at 90k msg/s. Corking the socket for the turn
 * made that one writev of 5N pieces, each with its own stream bookkeeping and I/O vector: still
 * ~20 % of the broker's busy time in fan-in QoS 0 (one subscriber, 280k msg/s). The pieces are
 * now copied into one buffer (a chunk of COPY_LIMIT or more is written as it is, after what came
 * before it); writes with a callback, or an encoding other than UTF-8, are written as they are,
 * after the turn's buffer. With writes batched here, Nagle's algorithm only adds delay: over
 * loopback (MSS 64 KiB) it held small writes until an ACK or a full segment, 7-12 ms at 70k
 * msg/s (Mosquitto, Nagle on by default, shows the same), so it is switched off.
 *
 * Back-pressure is kept: write() returns false once what the socket holds plus the turn's
 * buffer reaches the high-water mark, and 'drain' follows, emitted by the socket or, if the
 * socket took the buffer without needing to drain, here. end() sends the turn's buffer first.
 * The socket cannot be corked (see the end).
 */
export function coalesceWrites(socket: Socket): void {
  socket.setNoDelay(true)
  const write = socket.write.bind(socket) as Write
  const end = socket.end.bind(socket) as (...args: unknown[]) => Socket
  let chunks: Chunk[] = []
  let bytes = 0
  let scheduled = false
  let owesDrain = false
  const emitDrain = (): boolean => socket.emit('drain')

  const flush = (): void => {
    scheduled = false
    if (chunks.length === 0) return
    const turn = chunks
    const size = bytes
    chunks = []
    bytes = 0
    const ok = write(turn.length === 1 && typeof turn[0] !== 'string' ? turn[0] : join(turn, size))
    if (owesDrain) {
      owesDrain = false
      if (ok) process.nextTick(emitDrain)
    }
  }

  socket.write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const copied = callback === undefined && (encoding === undefined || encoding === 'utf8') && !socket.writableEnded && !socket.destroyed
    if (copied && typeof chunk === 'string') bytes += Buffer.byteLength(chunk)
    else if (copied && Buffer.isBuffer(chunk) && chunk.length < COPY_LIMIT) bytes += chunk.length
    else {
      flush()
      return write(chunk, encoding, callback)
    }
    chunks.push(chunk)
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
    if (socket.writableLength + bytes < socket.writableHighWaterMark) return true
    owesDrain = true
    return false
  }

  socket.end = (...args: unknown[]): Socket => {
    flush()
    return end(...args)
  }
  // mqtt-packet corks a stream that can be corked and uncorks it on the next tick, for each
  // packet: with the pieces copied here that does nothing but queue a tick, and Node 20 makes a
  // Map each time it runs queued ticks after an immediate (processPromiseRejections), 6 % of the
  // broker's allocations in fan-in QoS 0. Nothing else corks these sockets.
  ;(socket as { cork?: unknown }).cork = undefined
}

function join(chunks: Chunk[], size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (const chunk of chunks) {
    if (typeof chunk === 'string') at += out.write(chunk, at)
    else {
      out.set(chunk, at)
      at += chunk.length
    }
  }
  return out
}

/** What mqtt-packet's parser reads through: a `bl` 6 BufferList (its buffers, in order). */
interface ReadList {
  _bufs: Buffer[]
  readUInt8(offset: number): number
  readUInt16BE(offset: number): number
  toString(encoding?: BufferEncoding, start?: number, end?: number): string
}

/**
 * Reads from the first buffer of the parser's list directly when what is read lies within it
 * (almost always: a socket read holds many whole packets). bl 6 answers each readUInt8,
 * readUInt16BE and toString by slicing a new Buffer view first, two to four views a PUBLISH
 * beside the payload's own: ~10 % of the broker's busy time in fan-in QoS 0. Reads that reach
 * past the first buffer go to bl as before. Returns whether `list` looked like a bl list.
 */
export function readListDirectly(list: unknown): boolean {
  const bl = list as Partial<ReadList> | undefined
  if (bl === undefined || !Array.isArray(bl._bufs) || typeof bl.readUInt8 !== 'function' || typeof bl.readUInt16BE !== 'function' || typeof bl.toString !== 'function') return false
  const l = bl as ReadList
  const readUInt8 = l.readUInt8.bind(l)
  const readUInt16BE = l.readUInt16BE.bind(l)
  const toString = l.toString.bind(l)
  l.readUInt8 = (offset) => {
    const first = l._bufs[0]
    return first !== undefined && offset >= 0 && offset < first.length ? (first[offset] as number) : readUInt8(offset)
  }
  l.readUInt16BE = (offset) => {
    const first = l._bufs[0]
    return first !== undefined && offset >= 0 && offset + 2 <= first.length ? first.readUInt16BE(offset) : readUInt16BE(offset)
  }
  l.toString = (encoding, start, end) => {
    const first = l._bufs[0]
    return first !== undefined && start !== undefined && end !== undefined && start >= 0 && start <= end && end <= first.length
      ? first.toString(encoding, start, end)
      : toString(encoding, start, end)
  }
  return true
}

/** readListDirectly for the parser aedes made for `client` (lib/client.js keeps it as `_parser`). */
export function parseDirectly(client: Client): boolean {
  return readListDirectly((client as unknown as { _parser?: { _list?: unknown } })._parser?._list)
}

interface AckCalls {
  outgoingClearMessageId(client: Client, packet: { cmd?: string }): Promise<unknown>
}

/**
 * A PUBACK or PUBCOMP from a clean-session client has nothing to clear: aedes sends QoS 1/2 to
 * such clients, and answers their PUBRECs, without storing anything (lib/client.js deliverQoS,
 * lib/handlers/pubrec.js). aedes-persistence-level still read LevelDB for every acknowledgement,
 * 40% of the broker's CPU time with 20 QoS 1 subscribers. Other calls go through unchanged, among
 * them aedes discarding a previous session's queue for a clean client (cmd `publish`).
 */
export function skipCleanSessionAcks<T>(persistence: T): T {
  const store = persistence as T & AckCalls
  const clear = store.outgoingClearMessageId.bind(store)
  store.outgoingClearMessageId = (client, packet) =>
    client.clean && (packet.cmd === 'puback' || packet.cmd === 'pubcomp') ? Promise.resolve(undefined) : clear(client, packet)
  return store
}

/**
 * Per-topic answers kept until the subscriptions change (`clear`). aedes matches every QoS 1
 * message's topic against the stored sessions' subscriptions, and the twin asks before each
 * document whether anyone subscribes: with a twin update costing four such matches, splitting
 * the topic into words each time was ~7% of the twin's CPU. Bounded: past `limit` topics it
 * starts over, and if it had answered fewer lookups than it held (more topics in use than it
 * keeps), it stops remembering for SKIP_FACTOR × `limit` lookups, then tries again.
 */
export class TopicMemo<T> {
  static readonly SKIP_FACTOR = 16
  readonly #answers = new Map<string, T>()
  readonly #limit: number
  #hits = 0
  #skip = 0

  constructor(limit = 20_000) {
    this.#limit = limit
  }

  get(topic: string, compute: (topic: string) => T): T {
    if (this.#skip > 0) {
      this.#skip--
      return compute(topic)
    }
    const known = this.#answers.get(topic)
    if (known !== undefined) {
      this.#hits++
      return known
    }
    const answer = compute(topic)
    if (this.#answers.size >= this.#limit) {
      if (this.#hits < this.#limit) this.#skip = this.#limit * TopicMemo.SKIP_FACTOR
      this.clear()
    }
    if (this.#skip === 0) this.#answers.set(topic, answer)
    return answer
  }

  clear(): void {
    this.#answers.clear()
    this.#hits = 0
  }
}

/** most topics whose subscribers the broker remembers at once (memoizeMatches) */
export const HOT_TOPICS = 1024

interface Matcher {
  match(topic: string, ...rest: unknown[]): unknown
  add(...args: unknown[]): unknown
  remove(...args: unknown[]): unknown
  clear(...args: unknown[]): unknown
}

/**
 * Remembers which subscribers match a published topic, for up to HOT_TOPICS topics, until the
 * subscriptions change. mqemitter asks its qlobber trie for every message, which splits the
 * topic into words and walks the trie each time: ~10 % of the broker's busy time in fan-in QoS 0
 * (20 topics, 340k msg/s), ~250 ns a message, against ~16 ns for a remembered answer. With more
 * topics in use than it keeps it mostly stops remembering (TopicMemo): 10-20 ns a message more
 * than the trie's ~440 ns (7,000 topics of 1,000 devices, a micro-benchmark).
 * (mqemitter 7 keeps the trie as `_matcher`.)
 */
export function memoizeMatches<E extends object>(mq: E): E {
  const matcher = (mq as { _matcher?: Partial<Matcher> })._matcher
  if (!isMatcher(matcher)) return mq // not the mqemitter this was written for: left as it is
  const memo = new TopicMemo<unknown>(HOT_TOPICS)
  const match = matcher.match.bind(matcher)
  matcher.match = (topic, ...rest) => (rest.length === 0 ? memo.get(topic, match) : match(topic, ...rest))
  for (const change of ['add', 'remove', 'clear'] as const) {
    const apply = matcher[change].bind(matcher)
    matcher[change] = (...args) => {
      memo.clear()
      return apply(...args)
    }
  }
  return mq
}

function isMatcher(m: Partial<Matcher> | undefined): m is Matcher {
  return m !== undefined && [m.match, m.add, m.remove, m.clear].every((f) => typeof f === 'function')
}
