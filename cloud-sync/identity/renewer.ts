/**
 * Edge side of rotation: at `renewAt` (default 70 %) of the node certificate's validity it makes a
 * new key, sends its CSR over the open session (renewal.ts), checks what comes back (issued by the
 * fleet CA, for this node, for the new key), writes key and certificate as one switch
 * (node-files.ts), and has EdgeHub reconnect with them.
 *
 * A renewal that cannot happen (no link to CloudHub, or an error answer) is retried with capped
 * back-off, and at once when the link comes back; it is logged (NODE_CERT_RENEWAL_FAILED, at warn
 * when a failure streak starts and every 10 minutes while it lasts) with the time left until the
 * certificate expires and what the operator does if the cloud stays unreachable until then. At
 * expiry CloudHub refuses the node: NODE_CERT_EXPIRED is logged and renewal stops (the node needs
 * a new token). A node the cloud says is revoked (NODE_REVOKED) stops trying too.
 */
import { X509Certificate } from 'node:crypto'
import type { Logger } from 'pino'
import { Backoff, DEFAULT_BACKOFF } from '../../mappers/runtime/backoff.js'
import { realClock, type Clock, type TimerHandle } from '../../mappers/runtime/clock.js'
import { TernError, type ErrorCode } from '../../schemas/tern-error.js'
import type { EdgeHub } from '../link/edge-hub.js'
import { Operations } from '../messages.js'
import type { Session } from '../session.js'
import { writeNodeFiles, type NodeFilePaths } from './node-files.js'
import { renewalRequest, validateIssued } from './renewal.js'
import { newKey, nodeCsr, nodeOfSubject, serialOf } from './x509.js'

export interface RenewerOptions {
  hub: Pick<EdgeHub, 'session' | 'nextSession' | 'switchIdentity'>
  node: string
  /** the files the node's key and certificate live in (config `cloud.key` / `cloud.cert`) */
  files: NodeFilePaths
  /** the fleet CA the new certificate must be issued by */
  ca: X509Certificate
  /** fraction of the validity period after which to renew */
  renewAt: number
  log: Logger
  /** called after each switch to a renewed certificate */
  onRenewed?(info: CertificateInfo): void
  /** the renewal and expiry times are read and waited for on this clock (default: the real one) */
  clock?: Clock
  /** the retry back-off's jitter, 0..1 (default Math.random) */
  random?: () => number
}

/** What the edge tells about its certificate (start-up log line, link status). */
export interface CertificateInfo {
  serial: string
  notAfter: string
  renewAt: string
}

/** The longest delay a Node.js timer takes as given. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** While renewal keeps failing, a warning this often (the attempts between are logged at debug). */
const WARN_EVERY_MS = 10 * 60_000
const REJOIN = 'join the node again with a new token: tern reset, then tern gettoken --node <name> where tern cloud runs, then tern join'

/** When a certificate should be renewed: `fraction` of the way from notBefore to notAfter. */
export function renewalTime(cert: X509Certificate, fraction: number): number {
  const from = Date.parse(cert.validFrom)
  const to = Date.parse(cert.validTo)
  return from + fraction * (to - from)
}

export function certificateInfo(cert: X509Certificate, renewAt: number): CertificateInfo {
  return { serial: serialOf(cert), notAfter: new Date(cert.validTo).toISOString(), renewAt: new Date(renewalTime(cert, renewAt)).toISOString() }
}

export class Renewer {
  readonly #o: RenewerOptions
  readonly #log: Logger
  readonly #clock: Clock
  readonly #backoff: Backoff
  #timer: TimerHandle | undefined
  #expiryTimer: TimerHandle | undefined
  #stopped = false
  #renewing = false
  #awaitingLink = false
  /** when the failure streak going on was last logged at warn */
  #warnedAt: number | undefined
  #cert: X509Certificate

  constructor(options: RenewerOptions, cert: X509Certificate) {
    this.#o = options
    this.#log = options.log.child({ part: 'renewer' })
    this.#clock = options.clock ?? realClock
    this.#backoff = new Backoff({ ...DEFAULT_BACKOFF, initialMs: 1000, maxMs: 60_000 }, options.random)
    this.#cert = cert
  }

  /** The certificate in use now. */
  get certificate(): X509Certificate {
    return this.#cert
  }

  get info(): CertificateInfo {
    return certificateInfo(this.#cert, this.#o.renewAt)
  }

  start(): void {
    if (Date.parse(this.#cert.validTo) <= this.#clock.now()) {
      this.#expired()
      return
    }
    this.#armExpiry()
    this.#at(renewalTime(this.#cert, this.#o.renewAt))
  }

  stop(): void {
    this.#stopped = true
    this.#cancel(this.#timer)
    this.#cancel(this.#expiryTimer)
  }

  #cancel(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.#clock.clearTimeout(handle)
  }

  #at(time: number): void {
    if (this.#stopped) return
    this.#cancel(this.#timer)
    this.#timer = this.#clock.setTimeout(() => void this.#renew(), Math.min(Math.max(0, time - this.#clock.now()), MAX_TIMER_MS))
  }

  /** Logs NODE_CERT_EXPIRED at the certificate's expiry unless it was renewed before. */
  #armExpiry(): void {
    this.#cancel(this.#expiryTimer)
    const cert = this.#cert
    const check = (): void => {
      if (this.#stopped || this.#cert !== cert) return
      const left = Date.parse(cert.validTo) - this.#clock.now()
      if (left > 0) this.#expiryTimer = this.#clock.setTimeout(check, Math.min(left, MAX_TIMER_MS))
      else this.#expired()
    }
    check()
  }

  #expired(): void {
    this.#cancel(this.#timer)
    this.#log.error({ code: 'NODE_CERT_EXPIRED', notAfter: new Date(this.#cert.validTo).toISOString(), serial: serialOf(this.#cert) }, `the node certificate expired before it could be renewed: CloudHub refuses this node now; ${REJOIN}`)
  }

  async #renew(): Promise<void> {
    if (this.#stopped || this.#renewing) return
    const due = renewalTime(this.#cert, this.#o.renewAt)
    if (this.#clock.now() < due - 1000) return this.#at(due) // a long timer woke early
    if (Date.parse(this.#cert.validTo) <= this.#clock.now()) return // #expired() has said it
    const session = this.#o.hub.session
    if (session === undefined) {
      this.#whenLinked()
      return this.#failed(new TernError('CLOUD_LINK_CLOSED', 'no link to CloudHub'))
    }
    this.#renewing = true
    try {
      await this.#renewOn(session)
      this.#backoff.succeeded(this.#clock.now())
      this.#warnedAt = undefined
      this.#at(renewalTime(this.#cert, this.#o.renewAt))
    } catch (err) {
      this.#failed(err)
    } finally {
      this.#renewing = false
    }
  }

  /** Renews as soon as the link is up again (once, however many attempts wait for it). */
  #whenLinked(): void {
    if (this.#awaitingLink) return
    this.#awaitingLink = true
    this.#o.hub.nextSession().then(
      () => {
        this.#awaitingLink = false
        void this.#renew()
      },
      () => {
        this.#awaitingLink = false // EdgeHub stopped
      },
    )
  }

  #failed(err: unknown): void {
    if (this.#stopped) return
    const code = err instanceof TernError ? err.code : undefined
    if (code === 'NODE_REVOKED') {
      this.#log.error({ code, reason: (err as Error).message }, `the cloud revoked this node; ${REJOIN}`)
      return
    }
    const now = this.#clock.now()
    const expiresInMs = Date.parse(this.#cert.validTo) - now
    if (expiresInMs <= 0) return
    const retryMs = Math.min(this.#backoff.next(now), expiresInMs)
    const warn = this.#warnedAt === undefined || now - this.#warnedAt >= WARN_EVERY_MS
    if (warn) this.#warnedAt = now
    const detail = { code: 'NODE_CERT_RENEWAL_FAILED' satisfies ErrorCode, cause: code, err: (err as Error).message, retryMs, notAfter: new Date(this.#cert.validTo).toISOString(), expiresInMs, expiresIn: duration(expiresInMs) }
    this.#log[warn ? 'warn' : 'debug'](detail, `the node certificate could not be renewed; retrying. It expires in ${duration(expiresInMs)}: if CloudHub stays unreachable until then, ${REJOIN}`)
    this.#at(now + retryMs)
  }

  async #renewOn(session: Session): Promise<void> {
    const key = newKey()
    const answer = await session.request(renewalRequest(nodeCsr(this.#o.node, key)))
    if (answer.route.operation !== Operations.response) {
      const content = answer.content as { code?: unknown; reason?: unknown } | undefined
      const code = typeof content?.code === 'string' ? content.code : 'JOIN_FAILED'
      throw new TernError(code as 'JOIN_FAILED', `renewal refused: ${typeof content?.reason === 'string' ? content.reason : ''}`)
    }
    const checked = validateIssued(answer.content)
    if (!checked.ok) throw new TernError('JOIN_FAILED', 'the renewal answer is not an issued certificate')
    const cert = new X509Certificate(checked.value.cert)
    if (!cert.checkPrivateKey(key.privateKey) || nodeOfSubject(cert.subject) !== this.#o.node || !cert.checkIssued(this.#o.ca) || !cert.verify(this.#o.ca.publicKey)) {
      throw new TernError('JOIN_FAILED', 'the renewed certificate is not a fleet CA certificate of this node for its new key')
    }
    await writeNodeFiles(this.#o.files, { key: key.key, cert: cert.toString() })
    this.#cert = cert
    this.#armExpiry()
    this.#log.info({ notAfter: new Date(cert.validTo).toISOString(), serial: serialOf(cert) }, 'node certificate renewed; reconnecting with it')
    this.#o.hub.switchIdentity({ cert: cert.toString(), key: key.key })
    this.#o.onRenewed?.(this.info)
  }
}

/** `3h 12m`, `4m 05s`, `12s`: a time left, for people reading the log. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`
  return `${s}s`
}
