/**
 * The QoS 2 messages a clean-session client has sent and not yet released (PUBREL), kept in
 * memory instead of the session store. aedes stores each in LevelDB until its PUBREL
 * (lib/handlers/publish.js, pubrel.js) whatever the session, but a clean session's state ends
 * with its connection [MQTT-3.1.2-6], so nothing of it needs to outlive the process: on a full
 * disk the store refused the write and the client was disconnected, and otherwise it cost three
 * LevelDB operations a message. Persistent sessions are stored as before.
 */
import type { Client } from 'aedes'

interface IncomingCalls {
  incomingStorePacket(client: Client, packet: { messageId?: number }): Promise<unknown>
  incomingGetPacket(client: Client, packet: { messageId?: number }): Promise<unknown>
  incomingDelPacket(client: Client, packet: { messageId?: number }): Promise<unknown>
}

/** Wraps `persistence` (aedes' promise-style calls) so clean sessions' incoming QoS 2 state stays in memory. */
export function cleanIncomingInMemory<T>(persistence: T): T {
  const store = persistence as T & IncomingCalls
  const held = new WeakMap<Client, Map<number, unknown>>()
  const heldBy = (client: Client): Map<number, unknown> => {
    let packets = held.get(client)
    if (packets === undefined) held.set(client, (packets = new Map<number, unknown>()))
    return packets
  }
  const original = {
    store: store.incomingStorePacket.bind(store),
    get: store.incomingGetPacket.bind(store),
    del: store.incomingDelPacket.bind(store),
  }
  store.incomingStorePacket = async (client, packet) => {
    if (!client.clean) return original.store(client, packet)
    heldBy(client).set(packet.messageId ?? 0, { ...packet })
  }
  store.incomingGetPacket = async (client, packet) => {
    if (!client.clean) return original.get(client, packet)
    const found = held.get(client)?.get(packet.messageId ?? 0)
    if (found === undefined) throw new Error('no such packet') // as aedes-persistence-level answers
    return found
  }
  store.incomingDelPacket = async (client, packet) => {
    if (!client.clean) return original.del(client, packet)
    held.get(client)?.delete(packet.messageId ?? 0)
  }
  return store
}
