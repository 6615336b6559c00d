/**
 * One Modbus link (a TCP connection or a serial line) over modbus-serial, shared by every device
 * driver that uses it, with one request on the wire at a time.
 *
 * Several slaves on one RS-485 line can only be asked one after another. Requests wait in one
 * queue per owner (a driver) and the line takes them round-robin across owners, each with its own
 * timeout and followed by `interFrameDelayMs` of silence, so a slave that never answers costs the
 * others at most one timeout per turn (KubeEdge's v1.15 mapper shared one client per port but
 * locked per device, so two devices could talk over each other, and it used the first device's
 * slave id for all of them). A response that arrives after its timeout is dropped before the next
 * request is sent, so it cannot be taken for the next slave's answer.
 *
 * A link that cannot be opened is tried at most once per `connectRetryMs`, however many devices
 * use it: until then every open() answers the last failure without a socket. 1,000 devices behind
 * one gateway that is down cost one connection attempt a second, not one per device back-off.
 */
import { EventEmitter } from 'node:events'
import modbusSerial from 'modbus-serial'
import type { Logger } from 'pino'
import { fail, ok, type Outcome } from '../driver.js'
import { classify, LinkClosedError } from './faults.js'
import type { Table } from './plan.js'
import type { Transport } from './points.js'

export type LinkRequest =
  | { readonly op: 'read'; readonly slave: number; readonly table: Table; readonly offset: number; readonly count: number }
  | { readonly op: 'writeCoil'; readonly slave: number; readonly offset: number; readonly value: boolean }
  | { readonly op: 'writeRegister'; readonly slave: number; readonly offset: number; readonly value: number }
  | { readonly op: 'writeRegisters'; readonly slave: number; readonly offset: number; readonly values: readonly number[] }

/** Registers (numbers) or bits (booleans) for a read; empty for a write. */
export type LinkResponse = { readonly words: readonly number[] } | { readonly bits: readonly boolean[] } | Record<string, never>

export interface LinkOptions {
  readonly interFrameDelayMs: number
  /** how long opening the TCP connection or serial port may take */
  readonly connectTimeoutMs: number
  readonly log: Logger
  /** injectable for tests; default: real timers */
  readonly sleep?: (ms: number) => Promise<void>
}

interface Job {
  readonly request: LinkRequest
  readonly timeoutMs: number
  readonly done: (outcome: Outcome<LinkResponse>) => void
}

// modbus-serial is CommonJS; its typings declare the class as the default export
const ModbusRTU = modbusSerial.default
type ModbusRTU = InstanceType<typeof ModbusRTU>

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** How often a link whose connect failed is tried again, by default (the devices' back-off floor). */
export const CONNECT_RETRY_MS = 1000

/** The last failed connect of each link key; outlives the link, which closes when its last device lets go. */
interface ConnectGate {
  readonly retryMs: number
  readonly now: () => number
  readonly failures: Map<string, { readonly at: number; readonly outcome: Outcome<void> }>
}

export class ModbusLink {
  readonly key: string
  readonly #transport: Transport
  readonly #options: LinkOptions
  readonly #sleep: (ms: number) => Promise<void>
  readonly #gate: ConnectGate
  #client: ModbusRTU | undefined
  #opening: Promise<Outcome<void>> | undefined
  /** rejects the request on the wire when the link closes under it */
  #onClosed: ((err: Error) => void) | undefined
  readonly #queues = new Map<string, Job[]>()
  /** owners with queued jobs, next first */
  readonly #turns: string[] = []
  #busy = false

  constructor(key: string, transport: Transport, options: LinkOptions, gate: ConnectGate) {
    this.key = key
    this.#transport = transport
    this.#options = options
    this.#sleep = options.sleep ?? realSleep
    this.#gate = gate
  }

  get isOpen(): boolean {
    return this.#client?.isOpen === true
  }

  /** Opens the link unless open; concurrent callers share one attempt, and callers soon after a failed one its outcome. */
  open(): Promise<Outcome<void>> {
    if (this.isOpen) return Promise.resolve(ok(undefined))
    if (this.#opening !== undefined) return this.#opening
    const { failures, now, retryMs } = this.#gate
    const failed = failures.get(this.key)
    if (failed !== undefined && now() - failed.at < retryMs) return Promise.resolve(failed.outcome)
    this.#opening = this.#connect()
      .then((outcome) => {
        if (outcome.ok) failures.delete(this.key)
        else failures.set(this.key, { at: now(), outcome })
        return outcome
      })
      .finally(() => (this.#opening = undefined))
    return this.#opening
  }

  async #connect(): Promise<Outcome<void>> {
    await this.#dispose()
    const client = new ModbusRTU()
    // modbus-serial re-emits serial port errors; without a listener they would crash the process
    client.on('error', (err) => this.#lost(client, err))
    client.on('close', () => this.#lost(client, new LinkClosedError()))
    this.#client = client
    this.#options.log.debug({ link: this.key }, 'opening modbus link')
    const t = this.#transport
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no connection within ${this.#options.connectTimeoutMs} ms`)), this.#options.connectTimeoutMs)
    })
    try {
      const connecting =
        t.kind === 'tcp'
          ? client.connectTCP(t.host, { port: t.port, timeout: this.#options.connectTimeoutMs })
          : client.connectRTUBuffered(t.path, { baudRate: t.baudRate, dataBits: t.dataBits, parity: t.parity, stopBits: t.stopBits })
      await Promise.race([connecting, timedOut])
      // modbus-serial's TCP port stays silent when its socket dies after an error (it only emits
      // `close` for a clean end), so watch the socket itself
      const socket = (client as unknown as { _port?: { _client?: unknown } })._port?._client
      if (socket instanceof EventEmitter) socket.once('close', () => this.#lost(client, new LinkClosedError('the TCP connection closed')))
      this.#options.log.debug({ link: this.key }, 'modbus link open')
      return ok(undefined)
    } catch (err) {
      await this.#dispose()
      const message = err instanceof Error ? err.message : String(err)
      return fail('MODBUS_CONNECT_FAILED', `cannot open ${this.key}: ${message}`, true)
    } finally {
      clearTimeout(timer)
    }
  }

  #lost(client: ModbusRTU, err: unknown): void {
    if (client !== this.#client) return
    this.#options.log.debug({ link: this.key, err }, 'modbus link lost')
    this.#onClosed?.(err instanceof Error ? err : new LinkClosedError(String(err)))
  }

  /** Queues a request behind the other owners' (round-robin by owner) and resolves with its outcome. */
  request(owner: string, request: LinkRequest, timeoutMs: number): Promise<Outcome<LinkResponse>> {
    return new Promise((done) => {
      let queue = this.#queues.get(owner)
      if (queue === undefined) this.#queues.set(owner, (queue = []))
      if (queue.length === 0) this.#turns.push(owner)
      queue.push({ request, timeoutMs, done })
      void this.#pump()
    })
  }

  async #pump(): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      for (let job = this.#next(); job !== undefined; job = this.#next()) {
        job.done(await this.#execute(job))
        if (this.#options.interFrameDelayMs > 0) await this.#sleep(this.#options.interFrameDelayMs)
      }
    } finally {
      this.#busy = false
    }
  }

  #next(): Job | undefined {
    const owner = this.#turns.shift()
    if (owner === undefined) return undefined
    const queue = this.#queues.get(owner) ?? []
    const job = queue.shift()
    if (queue.length > 0) this.#turns.push(owner)
    else this.#queues.delete(owner)
    return job
  }

  /** One request on the wire: modbus-serial's callback API, one timer, one promise (its promise API wraps each call in several). */
  #execute(job: Job): Promise<Outcome<LinkResponse>> {
    const client = this.#client
    if (client === undefined || !client.isOpen) return Promise.resolve(fail('MODBUS_CONNECTION_LOST', `${this.key} is not open`, true))
    client.setTimeout(job.timeoutMs)
    this.#dropStaleInput(client)
    return new Promise((resolve) => {
      let settled = false
      const finish = (err: unknown, response?: LinkResponse): void => {
        if (settled) return
        settled = true
        clearTimeout(guard)
        this.#onClosed = undefined
        resolve(err === undefined || err === null ? ok(response ?? {}) : { ok: false, error: classify(err, client.isOpen && client === this.#client) })
      }
      // modbus-serial times the request out itself; this only guards against a lost callback
      const guard = setTimeout(() => finish(Object.assign(new Error('Timed out'), { errno: 'ETIMEDOUT' })), job.timeoutMs + 1000)
      this.#onClosed = (err) => finish(err)
      try {
        transmit(client, job.request, finish)
      } catch (err) {
        finish(err)
      }
    })
  }

  /**
   * modbus-serial's buffered RTU port keeps unmatched bytes and scans them on the next answer; a
   * late answer from a slave that timed out could then pass for a fresh one. Clear them first.
   */
  #dropStaleInput(client: ModbusRTU): void {
    if (this.#transport.kind !== 'rtu') return
    const port = (client as unknown as { _port?: { _buffer?: unknown } })._port
    if (port !== undefined && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0)
  }

  /** Closes the link; queued requests fail with MODBUS_CONNECTION_LOST. */
  async close(): Promise<void> {
    await this.#opening
    await this.#dispose()
    for (const [, queue] of this.#queues) for (const job of queue.splice(0)) job.done(fail('MODBUS_CONNECTION_LOST', `${this.key} closed`, true))
    this.#queues.clear()
    this.#turns.length = 0
  }

  async #dispose(): Promise<void> {
    const client = this.#client
    if (client === undefined) return
    this.#client = undefined
    this.#onClosed?.(new LinkClosedError(`${this.key} closed`))
    // its listeners stay, but #lost ignores a client that is no longer current
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000)
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }
      // TCP: destroy() answers at once; the serial port answers close() when the fd is closed
      if (this.#transport.kind === 'tcp') client.destroy(done)
      else if (client.isOpen) client.close(done)
      else done()
    })
  }
}

type Answer = (err: unknown, response?: LinkResponse) => void

function transmit(client: ModbusRTU, r: LinkRequest, answer: Answer): void {
  const unit = r.slave
  switch (r.op) {
    case 'read':
      return read(client, unit, r.table, r.offset, r.count, answer)
    case 'writeCoil':
      return client.writeFC5(unit, r.offset, r.value, (err) => answer(err, {}))
    case 'writeRegister':
      return client.writeFC6(unit, r.offset, r.value, (err) => answer(err, {}))
    case 'writeRegisters':
      return client.writeFC16(unit, r.offset, [...r.values], (err) => answer(err, {}))
  }
}

function read(client: ModbusRTU, unit: number, table: Table, offset: number, count: number, answer: Answer): void {
  const bits = (err: unknown, result?: { data: boolean[] }): void => answer(err, result === undefined ? undefined : { bits: result.data })
  const words = (err: unknown, result?: { data: number[] }): void => answer(err, result === undefined ? undefined : { words: result.data })
  switch (table) {
    case 'coil':
      return client.writeFC1(unit, offset, count, bits)
    case 'discrete':
      return client.writeFC2(unit, offset, count, bits)
    case 'input':
      return client.writeFC4(unit, offset, count, words)
    case 'holding':
      return client.writeFC3(unit, offset, count, words)
  }
}

export interface LinkRegistryOptions {
  /** a link whose connect failed is tried again at most this often, ms; default CONNECT_RETRY_MS */
  readonly connectRetryMs?: number
  /** monotonic ms; injectable for tests */
  readonly now?: () => number
}

/** Links by transport: one per serial port path, one per TCP host:port, counted by their users. */
export class LinkRegistry {
  readonly #links = new Map<string, { link: ModbusLink; users: number }>()
  readonly #gate: ConnectGate

  constructor(options: LinkRegistryOptions = {}) {
    this.#gate = { retryMs: options.connectRetryMs ?? CONNECT_RETRY_MS, now: options.now ?? (() => performance.now()), failures: new Map() }
  }

  acquire(transport: Transport, options: LinkOptions): ModbusLink {
    const key = transport.kind === 'tcp' ? `tcp://${transport.host}:${transport.port}` : `rtu:${transport.path}`
    const entry = this.#links.get(key)
    if (entry !== undefined) {
      entry.users++
      return entry.link
    }
    const link = new ModbusLink(key, transport, options, this.#gate)
    this.#links.set(key, { link, users: 1 })
    return link
  }

  async release(link: ModbusLink): Promise<void> {
    const entry = this.#links.get(link.key)
    if (entry === undefined || entry.link !== link) return
    if (--entry.users > 0) return
    this.#links.delete(link.key)
    await link.close()
  }

  async closeAll(): Promise<void> {
    const links = [...this.#links.values()].map((e) => e.link)
    this.#links.clear()
    await Promise.all(links.map((l) => l.close()))
  }
}
