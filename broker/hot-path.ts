/**
 * Two costs aedes 1.2 pays per message that Mosquitto does not, found by profiling the broker
 * under bench/broker.ts (`npm run bench -- --only broker --cpu-prof`). Clients receive the same
 * packets as before; only how they are grouped into TCP segments changes.
 */
import type { Client } from 'aedes'
import type { Socket } from 'node:net'

/**
 * Lets one socket write carry every packet queued for a connection during one turn of the event
 * loop, and sends it at once. aedes delivers each message from its own setImmediate callback and
 * mqtt-packet uncorks the socket at the end of each (process.nextTick), so a subscriber receiving
 * N messages cost N writev system calls: a quarter of the broker's CPU time at 90k msg/s. Corked
 * from the first write until the next check phase, the packets leave together, at most one
 * event-loop turn later. With writes batched here, Nagle's algorithm only adds delay: over
 * loopback (MSS 64 KiB) it held small writes until an ACK or a full segment, 7-12 ms at 70k
 * msg/s (Mosquitto, Nagle on by default, shows the same), so it is switched off.
 * Back-pressure is unchanged: write() still returns false past the high-water mark, and 'drain'
 * follows the flush.
 */
export function coalesceWrites(socket: Socket): void {
  socket.setNoDelay(true)
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
  let corked = false
  const flush = (): void => {
    corked = false
    socket.uncork() // a no-op if end() has already uncorked it
  }
  socket.write = (...args: unknown[]): boolean => {
    if (!corked) {
      corked = true
      socket.cork()
      setImmediate(flush)
    }
    return write(...args)
  }
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
 * starts over.
 */
export class TopicMemo<T> {
  readonly #answers = new Map<string, T>()
  readonly #limit: number

  constructor(limit = 20_000) {
    this.#limit = limit
  }

  get(topic: string, compute: (topic: string) => T): T {
    const known = this.#answers.get(topic)
    if (known !== undefined) return known
    const answer = compute(topic)
    if (this.#answers.size >= this.#limit) this.#answers.clear()
    this.#answers.set(topic, answer)
    return answer
  }

  clear(): void {
    this.#answers.clear()
  }
}
