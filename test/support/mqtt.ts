/**
 * MQTT clients for broker tests: mqtt.js connections that are closed by the hook of the suite that
 * made them, an inbox that waits for messages, Debian's mosquitto_pub/mosquitto_sub, and a raw
 * TCP client for what mqtt.js will not do (send CONNECT and then stay silent).
 */
import { connect as netConnect, type Socket } from 'node:net'
import mqtt, { ErrorWithSubackPacket, type IClientOptions, type IConnackPacket, type IPublishPacket, type ISubscriptionMap, type MqttClient } from 'mqtt'
import { startChild, type Child } from './resources.js'

export const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub'
export const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub'
// mosquitto_sub block-buffers stdout into a pipe; line buffering lets us see its SUBACK line.
const STDBUF = '/usr/bin/stdbuf'

export interface Received {
  topic: string
  payload: string
  qos: number
  retain: boolean
}

/** Collects a client's messages; register it before subscribing so nothing is missed. */
export class Inbox {
  readonly messages: Received[] = []
  readonly #waiters = new Set<() => void>()

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      this.messages.push({ topic, payload: payload.toString('utf8'), qos: packet.qos, retain: packet.retain })
      for (const wake of this.#waiters) wake()
    })
  }

  /** Resolves with the first message (already received or arriving) for which `test` holds. */
  waitFor(test: (m: Received) => boolean, what: string, timeoutMs = 5000): Promise<Received> {
    return this.#wait(() => this.messages.find(test), what, timeoutMs)
  }

  /** Resolves when `count` messages have arrived. */
  waitForCount(count: number, timeoutMs = 5000): Promise<Received[]> {
    return this.#wait(() => (this.messages.length >= count ? this.messages.slice() : undefined), `${count} messages`, timeoutMs)
  }

  topics(): string[] {
    return this.messages.map((m) => m.topic)
  }

  #wait<T>(get: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const value = get()
        if (value === undefined) return
        done()
        resolve(value)
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${JSON.stringify(this.messages)}`))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      this.#waiters.add(check)
      check()
    })
  }
}

export interface Connected {
  client: MqttClient
  connack: IConnackPacket
  inbox: Inbox
}

export interface ClientPool {
  /** Connects with MQTT 3.1.1 and no automatic reconnect; rejects with the CONNACK error if refused. */
  connect(url: string, options?: IClientOptions): Promise<Connected>
  /** Starts a process that the pool kills (by its PID) in afterEach. */
  spawn(command: string, args: readonly string[]): Child
  /** Anything else to undo after each test. */
  defer(fn: () => unknown): void
}

/**
 * Call inside a `describe`: registers the afterEach hook that ends every client and process made
 * through the returned pool during a test.
 */
export function clientPool(): ClientPool {
  const undo: Array<() => unknown> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  return {
    connect: async (url, options = {}) => {
      const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...options })
      undo.push(() => client.endAsync(true))
      // Later errors (a broker restart) are expected in some tests; an unhandled 'error' would throw.
      client.on('error', () => {})
      const inbox = new Inbox(client)
      const connack = await new Promise<IConnackPacket>((resolve, reject) => {
        client.once('connect', resolve)
        client.once('error', reject)
        client.once('close', () => reject(new Error(`connection to ${url} closed before CONNACK`)))
      })
      return { client, connack, inbox }
    },
    spawn: (command, args) => {
      const child = startChild(command, args)
      undo.push(() => child.kill9())
      return child
    },
    defer: (fn) => {
      undo.push(fn)
    },
  }
}

/** requests `ask` has sent in this process */
let asked = 0

/**
 * Publishes a request on a `$hw` request topic (`.../twin/get`, `.../membership/get`) with an
 * `event_id` used by no other request of this process, and resolves with the answer to it on
 * `<topic>/result` (the client must be subscribed to it). A poll loop numbering its requests from
 * 0 would find, in an inbox it shares with an earlier loop, the earlier answer to the same number,
 * given before the state the loop waits for.
 */
export async function ask(app: Connected, topic: string, timeoutMs?: number): Promise<Received> {
  const eventId = `ask-${++asked}`
  await app.client.publishAsync(topic, JSON.stringify({ event_id: eventId }), { qos: 1 })
  return app.inbox.waitFor((m) => m.topic === `${topic}/result` && m.payload.includes(`"event_id":"${eventId}"`), `${topic}/result of ${eventId}`, timeoutMs)
}

/** mosquitto_sub's debug output names the SUBACK; after it, the subscription is in place. */
export async function subscribedMosquittoSub(pool: ClientPool, args: readonly string[]): Promise<Child> {
  const child = pool.spawn(STDBUF, ['-oL', MOSQUITTO_SUB, '-d', ...args])
  await child.waitForLine((l) => /received SUBACK/.test(l), 5000)
  return child
}

export async function runMosquittoPub(pool: ClientPool, args: readonly string[]): Promise<void> {
  const child = pool.spawn(MOSQUITTO_PUB, args)
  const { code } = await child.exited()
  if (code !== 0) throw new Error(`mosquitto_pub ${args.join(' ')} exited with ${code}:\n${child.output()}`)
}

/** Sends one SUBSCRIBE; resolves with every SUBACK return code, 0x80 included (mqtt.js rejects on those). */
export async function subackCodes(client: MqttClient, subscriptions: ISubscriptionMap): Promise<number[]> {
  try {
    return (await client.subscribeAsync(subscriptions)).map((g) => g.qos)
  } catch (err) {
    if (!(err instanceof ErrorWithSubackPacket)) throw err
    return err.packet.granted.map((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos))
  }
}

/** An MQTT UTF-8 string [MQTT-1.5.3]: 2-byte length and the bytes (given as they are, or a string to encode). */
export function mqttString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

/** MQTT's variable-length encoding of a packet's remaining length [MQTT-2.2.3]. */
export function remainingLength(n: number): number[] {
  const bytes: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    bytes.push(byte)
  } while (n > 0)
  return bytes
}

/** An MQTT control packet: its first byte, the remaining length [MQTT-2.2.3], the body. */
export function controlPacket(first: number, ...body: Buffer[]): Buffer {
  const rest = Buffer.concat(body)
  return Buffer.concat([Buffer.from([first, ...remainingLength(rest.length)]), rest])
}

/** An MQTT 3.1.1 CONNECT packet [MQTT-3.1], encoded by hand so nothing else is ever sent. */
export function connectPacket(options: { clientId: string; keepalive: number; clean?: boolean; will?: { topic: string; payload: string; qos: 0 | 1 | 2 } }): Buffer {
  const { will } = options
  const flags = ((options.clean ?? true) ? 0x02 : 0) | (will === undefined ? 0 : 0x04 | (will.qos << 3))
  const variable = Buffer.concat([mqttString('MQTT'), Buffer.from([4, flags, options.keepalive >> 8, options.keepalive & 0xff])])
  return controlPacket(0x10, variable, mqttString(options.clientId), ...(will === undefined ? [] : [mqttString(will.topic), mqttString(will.payload)]))
}

export interface RawConnection {
  socket: Socket
  /** The CONNACK return code [MQTT-3.2.2.3]. */
  returnCode: number
  /** Resolves with the time the socket closed (performance.now()). */
  closed: Promise<number>
}

/** Opens a TCP connection, sends `packet` (a CONNECT) and waits for the CONNACK. */
export async function rawConnect(pool: ClientPool, port: number, packet: Buffer): Promise<RawConnection> {
  const socket = netConnect(port, '127.0.0.1')
  pool.defer(() => socket.destroy())
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(packet)
  const connack = await new Promise<Buffer>((resolve, reject) => {
    let got = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk])
      if (got.length >= 4) {
        socket.off('data', onData)
        resolve(got)
      }
    }
    socket.on('data', onData)
    void closed.then(() => reject(new Error('closed before CONNACK')))
  })
  if (connack[0] !== 0x20 || connack[1] !== 2) throw new Error(`expected CONNACK, got ${connack.toString('hex')}`)
  return { socket, returnCode: connack[3] ?? -1, closed }
}
