/**
 * The QoS each delivery goes out at, as MQTT 3.1.1 (and Mosquitto) has it, where aedes 1.2 differs:
 * - [MQTT-3.8.4-6] the lower of the published QoS and the QoS granted to the subscription. aedes
 *   only lowers it when the subscription filter is the topic itself, so through a wildcard a QoS 2
 *   message reached a QoS 1 subscriber at QoS 2 (and a retained QoS 2 one a QoS 0 subscriber).
 * - [MQTT-3.3.5-1] with overlapping subscriptions, the highest QoS granted to those that match.
 *   aedes delivers through whichever subscription fires first and drops the others as duplicates,
 *   so `#` at QoS 0 beside `a/+` at QoS 1 delivered a QoS 1 message on `a/b` at QoS 0.
 * Messages queued for offline clients are lowered where they are queued (persistence.ts).
 * Still as aedes does it: when the topic itself is also subscribed, aedes applies that
 * subscription's QoS last, so `a/b` at QoS 0 beside `a/+` at QoS 1 still delivers at QoS 0.
 */
import type { AedesPublishPacket, Client } from 'aedes'
import { topicMatches } from './topics.js'

type Deliver = (packet: AedesPublishPacket, done: () => void) => void

/** What aedes' Client (lib/client.js) has beyond its typings. */
interface ClientInternals {
  /** filter → subscription, restored ones included. */
  subscriptions: Record<string, { qos: number }>
  deliver0: Deliver
  deliverQoS: Deliver
}

const internals = (client: Client): ClientInternals => client as unknown as ClientInternals

/** The highest QoS granted to a subscription (filter → granted QoS) matching `topic`, or undefined. */
export function grantedQos(subscriptions: Readonly<Record<string, { qos: number }>>, topic: string): number | undefined {
  let granted: number | undefined
  for (const filter in subscriptions) {
    const qos = subscriptions[filter]?.qos ?? 0
    if ((granted === undefined || qos > granted) && topicMatches(filter, topic)) granted = qos
  }
  return granted
}

/** The packet to forward to `client`: its QoS lowered to what the client's subscriptions grant. */
export function atGrantedQos(client: Client, packet: AedesPublishPacket): AedesPublishPacket {
  if (packet.qos === 0) return packet
  const subscriptions = internals(client).subscriptions
  // The common case, every subscription granting at least the message's QoS, needs no matching.
  let lowest = 2
  for (const filter in subscriptions) lowest = Math.min(lowest, subscriptions[filter]?.qos ?? 0)
  if (lowest >= packet.qos) return packet
  const granted = grantedQos(subscriptions, packet.topic)
  // A copy: the packet object belongs to aedes.
  return granted === undefined || granted >= packet.qos ? packet : { ...packet, qos: granted as 0 | 1 }
}

/**
 * Lets a QoS 0 subscription hand a QoS 1/2 message to the client's acknowledged path when an
 * overlapping subscription grants more, so the one delivery aedes makes carries the highest grant.
 * Must run before the client's first subscription: aedes binds `deliver0` when it subscribes.
 */
export function deliverAtHighestGrant(client: Client): void {
  const own = internals(client)
  const deliver0 = own.deliver0
  own.deliver0 = (packet, done) => {
    // deliverQoS sends QoS 0 packets back here, and this passes them to the original.
    if (packet.qos > 0 && (grantedQos(own.subscriptions, packet.topic) ?? 0) > 0) own.deliverQoS(packet, done)
    else deliver0(packet, done)
  }
}
