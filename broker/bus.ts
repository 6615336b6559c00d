/**
 * The bus seen by tern's own parts (twin, mappers): publish and subscribe, nothing else. In-process
 * parts of an embedded node use aedes directly (no socket, no encoding); in external mode, or in a
 * separate process, they are ordinary MQTT clients. The same part code runs on both.
 */
import { readFile } from 'node:fs/promises'
import type { Aedes, AedesPublishPacket } from 'aedes'
import type { MqttClient, IClientOptions } from 'mqtt'
import type { Logger } from 'pino'
import type { ExternalBrokerConfig } from '../schemas/config.js'
import { TernError } from '../schemas/tern-error.js'
import { TopicMemo } from './hot-path.js'
import { topicMatches } from './topics.js'

export type QoS = 0 | 1 | 2

export interface PublishOptions {
  qos?: QoS
  retain?: boolean
}

export type MessageHandler = (topic: string, payload: Buffer) => void

export interface Bus {
  publish(topic: string, payload: string | Buffer, options?: PublishOptions): Promise<void>
  /** Handlers of one bus run in arrival order; a handler that throws is logged, never fatal. */
  subscribe(filter: string, handler: MessageHandler, options?: { qos?: QoS }): Promise<void>
  /**
   * False only when nobody can receive a (non-retained) message on `topic` now: no connected
   * subscriber and no stored session subscribed to it. Lets a publisher skip building a message
   * nobody reads. A bus that cannot tell (another broker) leaves it out: everything is observed.
   */
  observed?(topic: string): Promise<boolean>
  /**
   * `listener` runs each time the connection comes back after it was lost, once every subscription
   * is in place again. What was published meanwhile never arrives (a clean session), so a part
   * that keeps what it heard asks again here. A bus that cannot lose its connection (in-process)
   * leaves it out.
   */
  onReconnect?(listener: () => void): void
  stop(): Promise<void>
}

/** aedes internals read by `observed`: the matcher of connected clients' subscriptions, the session store. */
interface AedesSubscriptions {
  mq: { _matcher?: { match(topic: string): unknown[] } }
  persistence: { subscriptionsByTopic(topic: string): Promise<unknown[]> }
}

/** A bus over the embedded broker's aedes instance. */
export function aedesBus(aedes: Aedes, log: Logger): Bus {
  const subscriptions: Array<{ filter: string; fn: (packet: AedesPublishPacket, cb: () => void) => void }> = []
  const connected = connectedSubscribers(aedes)
  const complete = completeLater()
  return {
    publish: (topic, payload, options = {}) =>
      new Promise((resolve, reject) => {
        aedes.publish(
          { cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: options.qos ?? 0, retain: options.retain ?? false, dup: false },
          (err) => (err ? reject(err) : resolve()),
        )
      }),
    subscribe: (filter, handler) =>
      new Promise((resolve) => {
        const fn = (packet: AedesPublishPacket, cb: () => void): void => {
          safely(log, packet.topic, () => handler(packet.topic, toBuffer(packet.payload)))
          complete(cb)
        }
        subscriptions.push({ filter, fn })
        aedes.subscribe(filter, fn, () => resolve())
      }),
    observed: (topic) => (connected(topic) ? Promise.resolve(true) : (aedes as unknown as AedesSubscriptions).persistence.subscriptionsByTopic(topic).then((stored) => stored.length > 0)),
    stop: async () => {
      await Promise.all(subscriptions.splice(0).map(({ filter, fn }) => new Promise<void>((resolve) => aedes.unsubscribe(filter, fn, () => resolve()))))
    },
  }
}

/**
 * Completes in-process deliveries once the current call stack has unwound (a process tick), all
 * those of one stack together. mqemitter runs at most `concurrency` deliveries at once and starts a
 * queued one from inside the completion of another: completed synchronously, every queued message
 * of a burst was delivered one stack frame deeper than the last, until `Maximum call stack size
 * exceeded` ended the process. The handler itself still runs at once, in arrival order. A tick, not
 * a turn of the event loop: the emitter then lets only `concurrency` messages through per turn, and
 * a burst read in one chunk took several turns (4-8× slower in a micro-benchmark).
 */
function completeLater(): (done: () => void) => void {
  let pending: Array<() => void> = []
  const flush = (): void => {
    const batch = pending
    pending = []
    for (const done of batch) done()
  }
  return (done) => {
    if (pending.push(done) === 1) process.nextTick(flush)
  }
}

/**
 * Whether a connected client (or a part of this process) subscribes to a topic, remembered per
 * topic until a subscription is added or removed: every one goes through aedes.subscribe and
 * aedes.unsubscribe (SUBSCRIBE, UNSUBSCRIBE, a client's close, a session's restore). A
 * subscription counts from when it is added, as aedes delivers from then on.
 */
function connectedSubscribers(aedes: Aedes): (topic: string) => boolean {
  const { mq } = aedes as unknown as AedesSubscriptions
  const matcher = mq._matcher
  if (matcher === undefined) return () => true
  const answers = new TopicMemo<boolean>()
  const subscribe = aedes.subscribe.bind(aedes)
  const unsubscribe = aedes.unsubscribe.bind(aedes)
  aedes.subscribe = (...args: Parameters<Aedes['subscribe']>) => {
    answers.clear()
    subscribe(...args)
  }
  aedes.unsubscribe = (topic, func, done) => {
    // mqemitter removes the subscription on the next turn: forget again once it has.
    unsubscribe(topic, func, () => {
      answers.clear()
      ;(done as (() => void) | undefined)?.() // aedes itself calls it without one
    })
  }
  return (topic) => answers.get(topic, (t) => matcher.match(t).length > 0)
}

/** A bus over an MQTT connection to any broker (external Mosquitto, or tern's own from another process). */
export async function clientBus(options: { url: string; clientId: string; log: Logger; mqtt?: IClientOptions; connectTimeoutMs?: number }): Promise<Bus> {
  const { url, clientId, log } = options
  // Loaded on demand: an embedded node never needs an MQTT client library (~15 MB of RSS).
  const { default: mqtt } = await import('mqtt')
  const client: MqttClient = mqtt.connect(url, {
    clientId,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    ...options.mqtt,
    // subscribed again below, where the bus can tell when the subscriptions are back
    resubscribe: false,
  })
  const handlers: Array<{ filter: string; handler: MessageHandler; qos: QoS }> = []
  const reconnected: Array<() => void> = []
  // mqtt.js delivers every message of the connection to one listener; route by filter here.
  client.on('message', (topic, payload) => {
    for (const { filter, handler } of handlers) {
      if (topicMatches(filter, topic)) safely(log, topic, () => handler(topic, payload))
    }
  })
  client.on('error', (err) => log.warn({ code: 'BROKER_EXTERNAL_UNREACHABLE', url, err: err.message }, 'MQTT client error'))
  client.on('reconnect', () => log.debug({ url }, 'reconnecting'))
  let connectedOnce = false
  client.on('connect', () => {
    if (!connectedOnce) {
      connectedOnce = true
      return
    }
    resubscribe(client, handlers).then(
      () => {
        log.info({ url }, 'connection to the MQTT broker back')
        for (const listener of reconnected) {
          try {
            listener()
          } catch (err) {
            log.error({ err }, 'reconnect listener failed')
          }
        }
      },
      // lost again before the SUBACK: the next 'connect' subscribes again
      (err: unknown) => log.warn({ url, err: (err as Error).message }, 'subscribing again after a reconnect failed'),
    )
  })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no CONNACK within the connect timeout')), options.connectTimeoutMs ?? 10_000)
      client.once('connect', () => {
        clearTimeout(timer)
        resolve()
      })
      client.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  } catch (cause) {
    client.end(true)
    throw new TernError('BROKER_EXTERNAL_UNREACHABLE', `cannot connect to the MQTT broker at ${url}: ${(cause as Error).message}`, { cause })
  }
  return {
    publish: async (topic, payload, opts = {}) => {
      await client.publishAsync(topic, payload, { qos: opts.qos ?? 0, retain: opts.retain ?? false })
    },
    subscribe: async (filter, handler, opts = {}) => {
      const qos = opts.qos ?? 1
      handlers.push({ filter, handler, qos })
      await client.subscribeAsync(filter, { qos })
    },
    onReconnect: (listener) => reconnected.push(listener),
    stop: async () => {
      await client.endAsync()
    },
  }
}

export async function externalBus(config: ExternalBrokerConfig, clientId: string, log: Logger): Promise<Bus> {
  const read = async (path: string | undefined): Promise<Buffer | undefined> => {
    if (path === undefined) return undefined
    try {
      return await readFile(path)
    } catch (cause) {
      throw new TernError('BROKER_TLS_FILE_UNREADABLE', `cannot read ${path}: ${(cause as Error).message}`, { cause })
    }
  }
  const password = (await read(config.passwordFile))?.toString('utf8').split('\n')[0]
  const [ca, cert, key] = await Promise.all([read(config.ca), read(config.cert), read(config.key)])
  const url = config.url.replace(/^tcp:/, 'mqtt:').replace(/^ssl:/, 'mqtts:')
  return clientBus({
    url,
    clientId,
    log,
    mqtt: { username: config.username, password, ca, cert, key, rejectUnauthorized: true },
  })
}

/** Subscribes a reconnected clean session to every filter of the bus again, in one SUBSCRIBE. */
async function resubscribe(client: MqttClient, handlers: ReadonlyArray<{ filter: string; qos: QoS }>): Promise<void> {
  if (handlers.length === 0) return
  await client.subscribeAsync(Object.fromEntries(handlers.map(({ filter, qos }) => [filter, { qos }])))
}

function safely(log: Logger, topic: string, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    log.error({ err, topic }, 'bus handler failed')
  }
}

function toBuffer(payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload
}
