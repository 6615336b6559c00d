/**
 * The broker's session store: aedes-persistence-level in the node LevelDB, with the MQTT 3.1.1
 * session rules that aedes 1.2 leaves to chance:
 * - [MQTT-3.1.2-6] a clean session discards the previous session's queued messages before the
 *   CONNACK. aedes drops them one by one while streaming them to the new connection, so a client
 *   that disconnected quickly left them for its next persistent session.
 * - [MQTT-3.2.2-2] Session Present is 1 whenever a persistent session exists, "even if the rest of
 *   the Session state is empty" (§3.1.2.4). aedes derives it from stored subscriptions only, so a
 *   session without any was reported absent. Sessions are recorded here, and a session without
 *   subscriptions is handed to aedes as the single subscription SESSION_MARKER, which the broker
 *   refuses when aedes restores it: aedes then reports the session and subscribes nothing.
 * - A message queued for an offline client is stored as it will go out: [MQTT-3.8.4-6] at the
 *   lower of the published QoS and the highest QoS the client's matching subscriptions grant, and
 *   [MQTT-3.3.1-9] with RETAIN 0, since it matched an established subscription. aedes stored and
 *   later sent the message as published.
 * Beyond the protocol: an offline session keeps at most `maxQueuedMessages` / `maxQueuedBytes`
 * (offline-queue.ts), and a full disk costs only what needs the disk (store-health.ts): a message
 * that cannot be queued, retained or a will that cannot be kept across a restart is dropped and
 * counted, and the clients and sessions that need no disk go on.
 */
import levelPersistence from 'aedes-persistence-level'
import type { AedesPublishPacket, Client } from 'aedes'
import { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { BrokerDb } from './broker.js'
import { TopicMemo } from './hot-path.js'
import { inCallOrder } from './in-call-order.js'
import { oneWritePerSubscribe, removeInSlices, retainedFor } from './many-subscriptions.js'
import { OfflineQueues, type QueueLimits } from './offline-queue.js'
import { newestRetainedWins } from './retained-writes.js'
import { StoreHealth } from './store-health.js'

/** Stands for "a session without subscriptions"; never a real subscription (see above): a client
 * that subscribes to it gets 0x80. */
export const SESSION_MARKER = '$tern/session'

type StoredSubscription = { topic: string; qos?: number }


/** The promise-style persistence calls aedes 1.x makes that are changed here. */
interface SessionCalls {
  subscriptionsByClient(client: Client): Promise<StoredSubscription[]>
  cleanSubscriptions(client: Client): Promise<unknown>
  subscriptionsByTopic(topic: string): Promise<StoredSubscription[]>
  addSubscriptions(client: Client, subs: readonly StoredSubscription[]): Promise<unknown>
  removeSubscriptions(client: Client, topics: readonly string[]): Promise<unknown>
  outgoingEnqueue(sub: { clientId: string }, packet: AedesPublishPacket): Promise<unknown>
  outgoingEnqueueCombi(subs: ReadonlyArray<{ clientId: string; qos?: number }>, packet: AedesPublishPacket): Promise<unknown>
  outgoingStream(client: Client): Readable
  createRetainedStream(pattern: string): Readable
  createRetainedStreamCombi(patterns: readonly string[]): Readable
  outgoingUpdate(client: Client, packet: AedesPublishPacket): Promise<unknown>
  outgoingClearMessageId(client: Client, packet: AedesPublishPacket): Promise<AedesPublishPacket | undefined>
  storeRetained(packet: AedesPublishPacket): Promise<unknown>
  putWill(client: Client, packet: unknown): Promise<unknown>
  /** the aedes instance, once aedes has set itself up with this persistence */
  readonly broker?: { clients: Record<string, unknown> }
}

export interface SessionStore {
  /** what aedes is given as its `persistence` */
  persistence: unknown
  health: StoreHealth
  queues: OfflineQueues
}

const payloadBytes = (packet: { payload?: Buffer | string }): number =>
  typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : (packet.payload?.length ?? 0)

/** A queued packet has no message id until first sent; any id lets the id-keyed delete find it. */
const DISCARD_ID = 1

/** The aedes persistence for `db`; sessions live under the `mqtt` and `mqtt-sessions` sublevels. */
export function sessionPersistence(db: BrokerDb, limits: QueueLimits, log: Logger): SessionStore {
  const sessions = db.sublevel<string, boolean>('mqtt-sessions', { valueEncoding: 'json' })
  const store = levelPersistence(db.sublevel('mqtt', { valueEncoding: 'buffer' })) as SessionCalls
  const probes = db.sublevel<string, number>('mqtt-health', { valueEncoding: 'json' })
  const location = (db as { location?: unknown }).location
  const health = new StoreHealth(log, () => probes.put('probe', Date.now()), typeof location === 'string' ? location : undefined)
  const queues = new OfflineQueues(limits, log, async (clientId) => {
    let messages = 0
    let bytes = 0
    for await (const queued of store.outgoingStream({ id: clientId } as Client) as AsyncIterable<AedesPublishPacket>) {
      messages++
      bytes += payloadBytes(queued)
    }
    return { messages, bytes }
  })
  /** `write`, unless the store cannot write: then recorded (and logged once) and skipped. */
  const unlessStoreFull = async (what: string, write: () => Promise<unknown>): Promise<void> => {
    try {
      await write()
    } catch (err) {
      if (!health.failed(err, what)) throw err
    }
  }

  /** payload bytes of the messages sent to each client and not yet acknowledged, by message id (see outgoingUpdate) */
  const sentBytes = new Map<string, Map<number, number>>()

  // aedes asks for this on every CONNECT with clean=false, and only then.
  const subscriptionsByClient = store.subscriptionsByClient.bind(store)
  store.subscriptionsByClient = async (client) => {
    const [subs, known] = await Promise.all([subscriptionsByClient(client), sessions.get(client.id)])
    if (known === undefined) await sessions.put(client.id, true)
    return subs.length === 0 && known !== undefined ? [{ topic: SESSION_MARKER, qos: 0 }] : subs
  }

  // aedes calls this on every CONNECT with clean=true, before the CONNACK.
  store.cleanSubscriptions = async (client) => {
    const stored = await subscriptionsByClient(client)
    await removeInSlices((c, topics) => store.removeSubscriptions(c, topics), client, stored.map((sub) => sub.topic))
    // a clean session that had no persistent one writes nothing (it needs no disk)
    if ((await sessions.get(client.id)) !== undefined) await sessions.del(client.id)
    for await (const queued of store.outgoingStream(client) as AsyncIterable<AedesPublishPacket>) {
      const packet = { ...queued, messageId: queued.messageId ?? DISCARD_ID }
      await store.outgoingUpdate(client, packet)
      await store.outgoingClearMessageId(client, packet)
    }
    sentBytes.delete(client.id)
  }

  // aedes asks for every QoS 1/2 message; the answer holds until a stored subscription changes,
  // which happens only inside these three calls (cleanSubscriptions removes through
  // removeSubscriptions), each changing the matcher synchronously.
  const byTopic = new TopicMemo<Promise<StoredSubscription[]>>()
  const subscriptionsByTopic = store.subscriptionsByTopic.bind(store)
  store.subscriptionsByTopic = (topic) => byTopic.get(topic, subscriptionsByTopic)
  for (const change of ['addSubscriptions', 'removeSubscriptions', 'cleanSubscriptions'] as const) {
    const original = store[change].bind(store) as (...args: unknown[]) => Promise<unknown>
    store[change] = async (...args: unknown[]) => {
      byTopic.clear()
      try {
        return await original(...args)
      } finally {
        byTopic.clear()
      }
    }
  }

  store.addSubscriptions = oneWritePerSubscribe(store.addSubscriptions.bind(store))
  const createRetainedStreamCombi = store.createRetainedStreamCombi.bind(store)
  store.createRetainedStreamCombi = (patterns) =>
    patterns.length <= 1 ? createRetainedStreamCombi(patterns) : Readable.from(retainedFor(store.createRetainedStream('#') as AsyncIterable<AedesPublishPacket>, patterns))

  // aedes hands a QoS 1/2 message to its subscribers once this answers
  store.outgoingEnqueueCombi = inCallOrder((subs, packet) => (subs.length === 0 ? undefined : enqueueOffline(subs, packet)))
  const enqueueOffline = async (subs: Parameters<typeof store.outgoingEnqueueCombi>[0], packet: AedesPublishPacket): Promise<void> => {
    // One queue entry per client (aedes keys them by message), at its highest matching grant.
    const granted = new Map<string, number>()
    for (const sub of subs) granted.set(sub.clientId, Math.max(granted.get(sub.clientId) ?? 0, sub.qos ?? 0))
    const bytes = payloadBytes(packet)
    await Promise.all(
      [...granted].map(async ([clientId, qos]) => {
        if (!(await queues.admit(clientId, bytes, store.broker?.clients[clientId] !== undefined))) return
        try {
          await store.outgoingEnqueue({ clientId }, { ...packet, qos: Math.min(qos, packet.qos) as AedesPublishPacket['qos'], retain: false })
        } catch (err) {
          await queues.released(clientId, bytes)
          if (!health.failed(err, 'queue a message for a persistent session')) throw err
          queues.droppedUnavailable()
        }
      }),
    )
  }
  // A QoS 2 message is replaced in the store by its PUBREL (aedes' pubrec handler), which has no
  // payload: its bytes are released then, known from when it was sent (client id -> message id -> bytes).
  const outgoingUpdate = store.outgoingUpdate.bind(store)
  store.outgoingUpdate = async (client, packet) => {
    try {
      await outgoingUpdate(client, packet)
    } catch (err) {
      // A client resuming its session gets messages from its restored subscriptions before aedes
      // registers it as connected, so one may have been dropped as for an offline session: it
      // goes out unstored, as a message over the limit (aedes would close the connection).
      if (packet.cmd === 'publish' && (err as Error).message === 'no such packet' && queues.dropping(client.id)) return
      throw err
    }
    const id = packet.messageId
    if (id === undefined) return
    const sent = sentBytes.get(client.id) ?? new Map<number, number>()
    if (packet.cmd === 'publish') sentBytes.set(client.id, sent.set(id, payloadBytes(packet)))
    else if (packet.cmd === 'pubrel' && sent.has(id)) {
      await queues.released(client.id, sent.get(id) ?? 0, 0)
      sent.delete(id)
    }
  }
  // aedes writes each message to a persistent session's client once this answers
  const updateInOrder = new WeakMap<Client, SessionCalls['outgoingUpdate']>()
  const updateOne = store.outgoingUpdate.bind(store)
  store.outgoingUpdate = (client, packet) => {
    let update = updateInOrder.get(client)
    if (update === undefined) updateInOrder.set(client, (update = inCallOrder(updateOne)))
    return update(client, packet)
  }
  const outgoingClearMessageId = store.outgoingClearMessageId.bind(store)
  store.outgoingClearMessageId = async (client, packet) => {
    const cleared = await outgoingClearMessageId(client, packet)
    if (cleared === undefined) return cleared
    await queues.released(client.id, payloadBytes(cleared)) // a PUBREL: 0 bytes, released before
    if (cleared.messageId !== undefined) sentBytes.get(client.id)?.delete(cleared.messageId)
    return cleared
  }

  // Live subscribers get a retained message and a client's will works without the store; only
  // keeping them across a restart needs it.
  const storeRetained = store.storeRetained.bind(store)
  store.storeRetained = newestRetainedWins((packet) => unlessStoreFull('store a retained message', () => storeRetained(packet)))
  const putWill = store.putWill.bind(store)
  store.putWill = (client, packet) => unlessStoreFull('store a will', () => putWill(client, packet))
  return { persistence: store, health, queues }
}
