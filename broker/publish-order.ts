/**
 * Messages on one topic reach subscribers in the order they were published [MQTT-4.6.0-6], whatever
 * their QoS and retain flag, as with Mosquitto.
 *
 * Why it is needed: aedes takes each message through asynchronous steps before it hands it to the
 * subscribers (aedes.js publishFuncs): a retained message is stored first, a QoS 1/2 message is
 * queued for the offline sessions it matches. A QoS 0 message needs neither and goes out at once,
 * and aedes dispatches every packet of a socket read together, so in a burst on one topic a QoS 0
 * message overtook the QoS 1 one published before it, and a non-retained one the retained one
 * being stored: a subscriber's last message was not the last one published.
 *
 * And a client's QoS 1 message was published only after its PUBACK had been written, a turn of the
 * event loop after it arrived (lib/handlers/publish.js), while a QoS 0 message that arrived after
 * it in the same read was published at once.
 *
 * Here a QoS 1 message from a client is published when it arrives (when aedes asks whether the
 * client may publish it, before the PUBACK), and aedes' own later publish of it only waits for that
 * one. A message that may wait takes its place in its topic's line when it is published; the
 * emitter hands it on only once every earlier message of that topic was handed on or failed before
 * it got there. A QoS 0, non-retained message with nothing waiting on its topic goes straight
 * through: aedes hands it on within the publish call. (QoS 2 messages are published once stored,
 * as aedes does: a retransmission must not be published twice.)
 */
import type { Aedes, AedesPublishPacket, Client, PublishPacket } from 'aedes'

type Done = (err?: Error) => void
/** aedes.publish as aedes calls it (its typings omit the client argument its handlers pass) */
export type PublishFn = (packet: PublishPacket, client: Client | null | Done, done?: Done) => void
/** aedes' message counter (aedes.js; not in its typings) */
interface AedesCounter {
  counter: number
}
type Emit = (packet: AedesPublishPacket, cb?: () => void) => void

interface Place {
  counter: number
  /** set when aedes hands the message to the emitter while an earlier one still waits */
  handOn: (() => void) | undefined
  /** it will not reach the emitter (its publish failed), or already went through */
  gone: boolean
}

/** A QoS 1 message published on arrival: how its publish ended, or who waits for it. */
interface Early {
  finished: boolean
  err: Error | undefined
  then: Done | undefined
}

/**
 * One topic's waiting messages, in publish order, found by the broker counter aedes gives each
 * (a binary search: counters grow in publish order; no map per line, as a line is made and
 * dropped for almost every QoS 1 message).
 */
interface Line {
  order: Place[]
  /** index of the first message still in the line (shifting a long array each time is quadratic) */
  head: number
}

export class PublishOrder {
  readonly #lines = new Map<string, Place | Line>()
  /** QoS 1 messages published on arrival, until aedes publishes them itself */
  readonly #early = new WeakMap<PublishPacket, Early>()
  #publish: PublishFn | undefined

  /** Puts the line in front of the emitter aedes hands messages to (its `mq`). */
  emitter<E extends { emit: Emit }>(mq: E): E {
    const emit = mq.emit.bind(mq)
    mq.emit = (packet, cb) => {
      const waiting = this.#lines.size === 0 ? undefined : this.#lines.get(packet.topic)
      if (waiting === undefined) return emit(packet, cb)
      if (!('order' in waiting)) {
        // the only message waiting on its topic: nothing is ahead of it
        if (waiting.counter === packet.brokerCounter && !waiting.gone) {
          waiting.gone = true
          this.#lines.delete(packet.topic)
        }
        return emit(packet, cb)
      }
      const place = placeOf(waiting, packet.brokerCounter)
      if (place === undefined || place.gone) return emit(packet, cb)
      place.handOn = () => emit(packet, cb)
      this.#advance(packet.topic, waiting)
    }
    return mq
  }

  /**
   * aedes' publish with every message in its topic's line; use it in place of aedes.publish. A QoS 1
   * message that `arrived` already is not published again: the call waits for that publish.
   */
  publishing(aedes: Aedes): PublishFn {
    const ordered = this.#ordered((aedes.publish as unknown as PublishFn).bind(aedes), aedes as unknown as AedesCounter)
    this.#publish = ordered
    return (packet, client, done) => {
      const early = this.#early.get(packet)
      if (early === undefined) return ordered(packet, client, done)
      this.#early.delete(packet)
      const callback = typeof client === 'function' ? client : done
      if (early.finished) callback?.(early.err)
      else early.then = callback
    }
  }

  /** A client's message that it may publish, as it arrives (aedes' authorizePublish): QoS 1 is published now. */
  arrived(packet: PublishPacket, client: Client): void {
    if (packet.qos !== 1 || this.#publish === undefined) return
    const early: Early = { finished: false, err: undefined, then: undefined }
    this.#early.set(packet, early)
    this.#publish(packet, client, (err) => {
      early.finished = true
      early.err = err
      early.then?.(err)
    })
  }

  /** `publish` with each message that may wait placed in its topic's line first. */
  #ordered(publish: PublishFn, numbered: AedesCounter): PublishFn {
    return (packet, client, done) => {
      const callback = typeof client === 'function' ? client : done
      const by = typeof client === 'function' ? null : client
      if (packet.qos === 0 && !packet.retain && !this.#lines.has(packet.topic)) return publish(packet, by, callback)
      // aedes-packet numbers the message it makes of this one: the next counter, unless it has one
      const own = (packet as Partial<AedesPublishPacket>).brokerCounter
      const counter = own !== undefined && own > 0 ? own : numbered.counter + 1
      const place: Place = { counter, handOn: undefined, gone: false }
      const waiting = this.#lines.get(packet.topic)
      if (waiting === undefined) this.#lines.set(packet.topic, place)
      else if ('order' in waiting) waiting.order.push(place)
      else this.#lines.set(packet.topic, { order: [waiting, place], head: 0 })
      publish(packet, by, (err) => {
        if (!place.gone) {
          // failed before it reached the emitter: it holds up nobody
          place.gone = true
          const current = this.#lines.get(packet.topic)
          if (current === place) this.#lines.delete(packet.topic)
          else if (current !== undefined && 'order' in current) this.#advance(packet.topic, current)
        }
        callback?.(err)
      })
    }
  }

  /** Hands on, from the head of the line, every message that was waiting only for earlier ones. */
  #advance(topic: string, line: Line): void {
    for (let head = line.order[line.head]; head !== undefined; head = line.order[line.head]) {
      if (!head.gone && head.handOn === undefined) break
      line.head++
      if (!head.gone) {
        head.gone = true
        head.handOn?.()
      }
    }
    if (line.head === line.order.length) {
      if (this.#lines.get(topic) === line) this.#lines.delete(topic)
    } else if (line.head > 1024 && line.head * 2 > line.order.length) {
      line.order = line.order.slice(line.head)
      line.head = 0
    }
  }
}

/** The place of the message numbered `counter` among the line's waiting ones, if it has one. */
function placeOf(line: Line, counter: number): Place | undefined {
  const { order } = line
  let lo = line.head
  let hi = order.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const place = order[mid] as Place
    if (place.counter === counter) return place
    if (place.counter < counter) lo = mid + 1
    else hi = mid - 1
  }
  // a counter the message brought along (brokerCounter) need not follow the others: look at every one
  for (let i = line.head; i < order.length; i++) if (order[i]?.counter === counter) return order[i]
  return undefined
}
