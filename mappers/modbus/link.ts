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

export class ModbusLink {
  readonly key: string
  readonly #transport: Transport
  readonly #options: LinkOptions
  readonly #sleep: (ms: number) => Promise<void>
  #client: ModbusRTU | undefined
  #opening: Promise<Outcome<void>> | undefined
  /** rejects the request on the wire when the link closes under it */
  #onClosed: ((err: Error) => void) | undefined
  readonly #queues = new Map<string, Job[]>()
  /** owners with queued jobs, next first */
  readonly #turns: string[] = []
  #busy = false

  constructor(key: string, transport: Transport, options: LinkOptions) {
    this.key = key
    this.#transport = transport
    this.#options = options
    this.#sleep = options.sleep ?? realSleep
  }

  get isOpen(): boolean {
    return this.#client?.isOpen === true
  }

  /** Opens the link unless open; concurrent callers share one attempt. */
  open(): Promise<Outcome<void>> {
    if (this.isOpen) return Promise.resolve(ok(undefined))
    this.#opening ??= this.#connect().finally(() => (this.#opening = undefined))
    return this.#opening
  }

  async #connect(): Promise<Outcome<void>> {
    await this.#dispose()
    const client = new ModbusRTU()
    // modbus-serial re-emits serial port errors; without a listener they would crash the process
    client.on('error', (err) => this.#lost(client, err))
    client.on('close', () => this.#lost(client, new LinkClosedError()))
    this.#client = client
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

  async #execute(job: Job): Promise<Outcome<LinkResponse>> {
    const client = this.#client
    if (client === undefined || !client.isOpen) return fail('MODBUS_CONNECTION_LOST', `${this.key} is not open`, true)
    client.setID(job.request.slave)
    client.setTimeout(job.timeoutMs)
    this.#dropStaleInput(client)
    let guard: NodeJS.Timeout | undefined
    const interrupted = new Promise<never>((_, reject) => {
      this.#onClosed = reject
      // modbus-serial times the request out itself; this only guards against a lost callback
      guard = setTimeout(() => reject(Object.assign(new Error('Timed out'), { errno: 'ETIMEDOUT' })), job.timeoutMs + 1000)
    })
    try {
      return ok(await Promise.race([send(client, job.request), interrupted]))
    } catch (err) {
      return { ok: false, error: classify(err, client.isOpen && client === this.#client) }
    } finally {
      clearTimeout(guard)
      this.#onClosed = undefined
    }
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

async function send(client: ModbusRTU, r: LinkRequest): Promise<LinkResponse> {
  switch (r.op) {
    case 'read':
      return read(client, r.table, r.offset, r.count)
    case 'writeCoil':
      await client.writeCoil(r.offset, r.value)
      return {}
    case 'writeRegister':
      await client.writeRegister(r.offset, r.value)
      return {}
    case 'writeRegisters':
      await client.writeRegisters(r.offset, [...r.values])
      return {}
  }
}

async function read(client: ModbusRTU, table: Table, offset: number, count: number): Promise<LinkResponse> {
  switch (table) {
    case 'coil':
      return { bits: (await client.readCoils(offset, count)).data }
    case 'discrete':
      return { bits: (await client.readDiscreteInputs(offset, count)).data }
    case 'input':
      return { words: (await client.readInputRegisters(offset, count)).data }
    case 'holding':
      return { words: (await client.readHoldingRegisters(offset, count)).data }
  }
}

/** Links by transport: one per serial port path, one per TCP host:port, counted by their users. */
export class LinkRegistry {
  readonly #links = new Map<string, { link: ModbusLink; users: number }>()

  acquire(transport: Transport, options: LinkOptions): ModbusLink {
    const key = transport.kind === 'tcp' ? `tcp://${transport.host}:${transport.port}` : `rtu:${transport.path}`
    const entry = this.#links.get(key)
    if (entry !== undefined) {
      entry.users++
      return entry.link
    }
    const link = new ModbusLink(key, transport, options)
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
