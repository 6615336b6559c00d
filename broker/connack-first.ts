/**
 * [MQTT-3.2.0-1] The first packet the server sends a client is its CONNACK. aedes 1.2 restores a
 * persistent session's subscriptions before it answers the CONNECT (lib/handlers/connect.js:
 * restoreSubs, then storeWill, registerClient, ... doConnack), and a message published meanwhile
 * went out through a restored subscription before the CONNACK: mqtt.js then never took the
 * CONNACK and the connection hung. The window was a LevelDB round trip, and as long as restoring
 * many subscriptions takes (many-subscriptions.ts). Such messages are now held and sent, in order,
 * right after a CONNACK 0; mqemitter is not kept waiting for them.
 */
import type { Aedes, AedesPublishPacket, Client } from 'aedes'

type Deliver = (packet: AedesPublishPacket, done: () => void) => void

interface ClientInternals {
  connackSent: boolean
  deliver0: Deliver
  deliverQoS: Deliver
}

const held = new WeakMap<Client, Array<() => void>>()

/** Holds `client`'s deliveries until its CONNACK is sent. Must run before its subscriptions are restored. */
export function connackFirst(client: Client): void {
  const own = client as unknown as ClientInternals
  for (const name of ['deliver0', 'deliverQoS'] as const) {
    const deliver = own[name]
    own[name] = (packet, done) => {
      if (own.connackSent) return deliver(packet, done)
      let waiting = held.get(client)
      if (waiting === undefined) held.set(client, (waiting = []))
      waiting.push(() => deliver(packet, () => {}))
      done()
    }
  }
}

/** Sends what was held for each client once its CONNACK is out; dropped if it was a refusal. */
export function releaseAfterConnack(aedes: Aedes): void {
  aedes.on('connackSent', (connack, client) => {
    const waiting = held.get(client)
    if (waiting === undefined) return
    held.delete(client)
    if (connack.returnCode === 0) for (const send of waiting) send()
  })
}
