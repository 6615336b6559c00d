/**
 * The OPC-UA device driver (mappers/driver.ts contract). `connect()` opens a session (session.ts),
 * resolves browse paths (nodes.ts) and creates ONE subscription for the device with a monitored
 * item per property (sampling interval = the property's collectCycle). `read()` answers from the
 * latest notifications; a property without a value yet, or whose monitored item the server refused
 * (or a server without subscriptions), is read with a real Read — the polling fallback. Once the
 * client, session or subscription reports a loss, every call returns a `connectionLost` outcome, so
 * the runtime closes this driver and reconnects with a fresh one (new session, new subscription,
 * same security settings).
 */
import type { ClientSession, ClientSubscription, DataValue } from 'node-opcua'
import type { Logger } from 'pino'
import { fail, ok, type DeviceDriver, type DriverError, type Outcome } from '../driver.js'
import type { EdgeDevice, EdgeProperty } from '../../schemas/device.js'
import { fromTwin, toTwin } from './codec.js'
import { classify, errorMessage, isBad, statusError } from './faults.js'
import { olderThan } from './freshness.js'
import { readBuiltInType, resolveBrowsePath } from './nodes.js'
import { disconnect, openSession, within, type OpenSession } from './session.js'
import type { OpcuaSettings, Point } from './settings.js'
import type { OpcuaModule, OpcuaShared } from './shared.js'
import { subscribe } from './subscription.js'

export interface OpcuaDriverOptions {
  readonly device: EdgeDevice
  readonly settings: OpcuaSettings
  readonly points: ReadonlyMap<string, Point>
  readonly shared: OpcuaShared
  readonly dataDir: string
  readonly log: Logger
}

const SERVER_STATE = 'ns=0;i=2259'

type Results = Map<string, Outcome<string>>
type Link = OpenSession & { subscription: ClientSubscription | undefined }

export class OpcuaDriver implements DeviceDriver {
  readonly #o: OpcuaDriverOptions
  readonly #log: Logger
  #m: OpcuaModule | undefined
  #link: Link | undefined
  #lost: DriverError | undefined
  /** property → node id, for this connection */
  readonly #nodes = new Map<string, string>()
  /** property → why its node could not be found */
  readonly #missing = new Map<string, DriverError>()
  /** property → its newest value known, from a notification or a Read (the newer wins, by the server's timestamps) */
  readonly #latest = new Map<string, DataValue>()
  /** properties written since their last Read: the read-back is a real Read */
  readonly #written = new Set<string>()
  /** properties read with a real Read: no monitored item, or the server refused it */
  readonly #polled = new Set<string>()
  /** when the subscription last published (data or keep-alive), and how long silence may last */
  #heard = 0
  #silenceMs = Infinity
  /** bumped by every close(): a connect that a close overtook (the runtime's call timeout) drops what it opened */
  #generation = 0

  constructor(options: OpcuaDriverOptions) {
    this.#o = options
    this.#log = options.log
  }

  async connect(): Promise<Outcome<void>> {
    if (this.#link !== undefined && this.#lost === undefined) return ok(undefined)
    await this.close()
    const generation = this.#generation
    const { settings, shared, dataDir } = this.#o
    let m: OpcuaModule
    let pki
    try {
      m = this.#m = await shared.module()
      pki = await shared.pki(dataDir)
    } catch (err) {
      return fail('OPCUA_SECURITY_REJECTED', `the PKI under ${dataDir}/opcua/pki cannot be used: ${errorMessage(err)}`)
    }
    const opened = await openSession({ m, pki, accepted: shared.accepted, settings, deviceId: this.#o.device.id, log: this.#log })
    if (!opened.ok) return opened
    if (generation !== this.#generation) {
      await disconnect(opened.value.client, settings.timeoutMs)
      return fail('OPCUA_CONNECTION_LOST', 'closed while connecting', true)
    }
    const link: Link = { ...opened.value, subscription: undefined }
    this.#link = link
    this.#lost = undefined
    this.#watch(link)
    await this.#resolveNodes(m, link.session)
    await this.#subscribe(m, link)
    if (this.#lost !== undefined) return { ok: false, error: this.#lost }
    this.#log.info({ url: settings.url, security: `${settings.securityMode}/${settings.securityPolicy}`, monitored: this.#nodes.size - this.#polled.size, polled: this.#polled.size }, 'OPC-UA session open')
    return ok(undefined)
  }

  async read(properties: readonly EdgeProperty[]): Promise<Results> {
    const results: Results = new Map()
    const down = this.#down()
    if (down !== undefined) {
      for (const p of properties) results.set(p.name, { ok: false, error: down })
      return results
    }
    const toRead: Array<{ name: string; nodeId: string }> = []
    for (const property of properties) {
      const nodeId = this.#nodes.get(property.name)
      if (nodeId === undefined) {
        results.set(property.name, { ok: false, error: this.#missing.get(property.name) ?? { code: 'OPCUA_CONFIG_INVALID', message: `${property.name} has no OPC-UA visitor`, connectionLost: false } })
        continue
      }
      const latest = this.#polled.has(property.name) || this.#written.has(property.name) ? undefined : this.#latest.get(property.name)
      if (latest !== undefined) results.set(property.name, this.#convert(property.name, latest))
      else toRead.push({ name: property.name, nodeId })
    }
    if (toRead.length > 0) await this.#readNow(toRead, results)
    return results
  }

  async write(property: EdgeProperty, value: string): Promise<Outcome<void>> {
    const down = this.#down()
    if (down !== undefined) return { ok: false, error: down }
    const nodeId = this.#nodes.get(property.name)
    if (nodeId === undefined) return { ok: false, error: this.#missing.get(property.name) ?? { code: 'OPCUA_CONFIG_INVALID', message: `${property.name} has no OPC-UA visitor`, connectionLost: false } }
    const m = this.#m
    const link = this.#link
    if (m === undefined || link === undefined) return fail('OPCUA_CONNECTION_LOST', 'not connected', true)
    const key = `${this.#o.settings.url}|${nodeId}`
    let dataType = this.#o.shared.dataTypes.get(key)
    if (dataType === undefined) {
      const found = await readBuiltInType(m, link.session, nodeId)
      if (!found.ok) return this.#failed(found)
      dataType = found.value
      this.#o.shared.dataTypes.set(key, dataType)
    }
    const converted = fromTwin(value, dataType)
    if (!converted.ok) return converted
    try {
      const status = await within(link.session.write({ nodeId, attributeId: m.AttributeIds.Value, value: { value: converted.value } }), this.#o.settings.timeoutMs, 'write')
      if (isBad(status)) return this.#failed({ ok: false, error: statusError(status, `write ${property.name} (${nodeId})`) })
    } catch (err) {
      return this.#failed({ ok: false, error: classify(err, false) })
    }
    // the read-back must see the new value, not a notification from before the write
    this.#written.add(property.name)
    return ok(undefined)
  }

  async health(): Promise<Outcome<void>> {
    const down = this.#down()
    if (down !== undefined) return { ok: false, error: down }
    const m = this.#m
    const link = this.#link
    if (m === undefined || link === undefined) return fail('OPCUA_CONNECTION_LOST', 'not connected', true)
    try {
      const dv = await within(link.session.read({ nodeId: SERVER_STATE, attributeId: m.AttributeIds.Value }), this.#o.settings.timeoutMs, 'read server state')
      return isBad(dv.statusCode) ? this.#failed({ ok: false, error: statusError(dv.statusCode, 'server state') }) : ok(undefined)
    } catch (err) {
      return this.#failed({ ok: false, error: classify(err, false) })
    }
  }

  async close(): Promise<void> {
    this.#generation++
    const link = this.#link
    this.#link = undefined
    this.#latest.clear()
    this.#written.clear()
    if (link === undefined) return
    const timeout = this.#o.settings.timeoutMs
    // A lost link has nothing to say goodbye to: just drop the socket.
    if (this.#lost === undefined) {
      try {
        if (link.subscription !== undefined) await within(link.subscription.terminate(), timeout, 'terminate subscription')
        await within(link.session.close(true), timeout, 'close session')
      } catch (err) {
        this.#log.debug({ err: errorMessage(err) }, 'OPC-UA session close failed')
      }
    }
    await disconnect(link.client, timeout)
  }

  /** Why calls fail now: not connected, or the link reported a loss. */
  #down(): DriverError | undefined {
    if (this.#lost !== undefined) return this.#lost
    if (this.#link === undefined) return { code: 'OPCUA_CONNECTION_LOST', message: 'not connected', connectionLost: true }
    // A server that lost the subscription (restarted without closing sockets, deleted it, ran out
    // of resources) sends neither data nor keep-alives: after the silence the spec allows, renew.
    if (this.#link.subscription !== undefined && Date.now() - this.#heard > this.#silenceMs) {
      this.#lose('OPCUA_CONNECTION_LOST', `the subscription is silent: no notification or keep-alive for ${this.#silenceMs} ms`)
      return this.#lost
    }
    return undefined
  }

  #failed<T>(out: Outcome<T> & { ok: false }): Outcome<T> {
    if (out.error.connectionLost) this.#lost ??= out.error
    return out
  }

  #convert(name: string, dv: DataValue): Outcome<string> {
    const point = this.#o.points.get(name)
    if (point === undefined) return fail('OPCUA_CONFIG_INVALID', `${name} has no OPC-UA visitor`)
    if (isBad(dv.statusCode)) return this.#failed({ ok: false, error: statusError(dv.statusCode, `${name} (${this.#nodes.get(name) ?? '?'})`) })
    return toTwin({ dataType: dv.value.dataType, value: dv.value.value }, point.type)
  }

  async #readNow(toRead: ReadonlyArray<{ name: string; nodeId: string }>, results: Results): Promise<void> {
    const m = this.#m
    const link = this.#link
    if (m === undefined || link === undefined) return
    try {
      const values = await within(link.session.read(toRead.map((r) => ({ nodeId: r.nodeId, attributeId: m.AttributeIds.Value })), 0), this.#o.settings.timeoutMs, 'read')
      toRead.forEach((r, i) => {
        const dv = values[i]
        if (dv !== undefined && !isBad(dv.statusCode) && !this.#polled.has(r.name)) {
          this.#written.delete(r.name)
          this.#keep(r.name, dv)
        }
        results.set(r.name, dv === undefined ? fail('OPCUA_BAD_STATUS', 'the server answered fewer values than asked') : this.#convert(r.name, dv))
      })
    } catch (err) {
      const error = classify(err, false)
      if (error.connectionLost) this.#lost ??= error
      for (const r of toRead) results.set(r.name, { ok: false, error })
    }
  }

  async #resolveNodes(m: OpcuaModule, session: ClientSession): Promise<void> {
    this.#nodes.clear()
    this.#missing.clear()
    const { shared, settings } = this.#o
    for (const point of this.#o.points.values()) {
      if (point.target.kind === 'nodeId') {
        this.#nodes.set(point.name, point.target.nodeId)
        continue
      }
      const key = `${settings.url}|${point.target.text}`
      const cached = shared.browsed.get(key)
      if (cached !== undefined) {
        this.#nodes.set(point.name, cached)
        continue
      }
      const found = await resolveBrowsePath(m, session, point.target.steps, point.target.text)
      if (found.ok) {
        shared.browsed.set(key, found.value)
        this.#nodes.set(point.name, found.value)
      } else {
        this.#missing.set(point.name, found.error)
        if (found.error.connectionLost) this.#lost ??= found.error
        this.#log.warn({ property: point.name, code: found.error.code }, found.error.message)
      }
    }
  }

  async #subscribe(m: OpcuaModule, link: Link): Promise<void> {
    const items = new Map<string, { nodeId: string; samplingMs: number }>()
    for (const [name, nodeId] of this.#nodes) items.set(name, { nodeId, samplingMs: this.#o.points.get(name)?.samplingMs ?? 1000 })
    this.#heard = Date.now()
    const heard = (): void => {
      this.#heard = Date.now()
    }
    const result = await subscribe({
      m,
      session: link.session,
      log: this.#log,
      publishingIntervalMs: this.#o.settings.publishingIntervalMs,
      timeoutMs: this.#o.settings.timeoutMs,
      items,
      onValue: (name, value) => {
        if (this.#link === link) this.#keep(name, value)
      },
      onHeard: heard,
      onTerminated: () => {
        if (this.#link === link) this.#lose('OPCUA_CONNECTION_LOST', 'the subscription was terminated')
      },
    })
    link.subscription = result.subscription
    this.#silenceMs = result.silenceMs
    this.#heard = Date.now()
    this.#polled.clear()
    for (const name of result.polled) this.#polled.add(name)
    if (result.lost !== undefined) this.#lost ??= result.lost
  }

  /** Holds `dv` as the property's value unless the one held is newer (a notification sampled before a write's read-back). */
  #keep(name: string, dv: DataValue): void {
    const held = this.#latest.get(name)
    if (held === undefined || !olderThan(dv, held)) this.#latest.set(name, dv)
  }

  #watch(link: OpenSession): void {
    const lose = (why: string) => () => {
      if (this.#link === link) this.#lose('OPCUA_CONNECTION_LOST', why)
    }
    link.client.on('connection_lost', lose('connection to the server lost'))
    link.client.on('start_reconnection', lose('connection to the server lost'))
    link.client.on('close', lose('connection closed'))
    link.session.on('session_closed', lose('the server closed the session'))
    link.session.on('keepalive_failure', lose('the session keep-alive failed'))
  }

  #lose(code: 'OPCUA_CONNECTION_LOST', message: string): void {
    if (this.#lost !== undefined) return
    this.#lost = { code, message, connectionLost: true }
    this.#log.warn({ code }, message)
  }
}
