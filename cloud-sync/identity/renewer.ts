/**
 * Edge side of rotation: at `renewAt` (default 70 %) of the node certificate's validity it makes a
 * new key, sends its CSR over the open session (renewal.ts), checks what comes back (issued by the
 * fleet CA, for this node, for the new key), writes key and certificate (0600, each by rename so a
 * crash never leaves half a file), and has EdgeHub reconnect with them. A failure is retried with
 * capped back-off until the certificate expires; a node the cloud says is revoked stops trying.
 */
import { X509Certificate } from 'node:crypto'
import { rename, writeFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { Backoff, DEFAULT_BACKOFF } from '../../mappers/runtime/backoff.js'
import { TernError } from '../../schemas/errors.js'
import type { EdgeHub } from '../link/edge-hub.js'
import { Operations } from '../messages.js'
import type { Session } from '../session.js'
import { renewalRequest, validateIssued } from './renewal.js'
import { newKey, nodeCsr, nodeOfSubject } from './x509.js'

export interface RenewerOptions {
  hub: EdgeHub
  node: string
  /** the files the node's certificate and key live in (config `cloud.cert` / `cloud.key`) */
  certPath: string
  keyPath: string
  /** the fleet CA the new certificate must be issued by */
  ca: X509Certificate
  /** fraction of the validity period after which to renew */
  renewAt: number
  log: Logger
}

/** When a certificate should be renewed: `fraction` of the way from notBefore to notAfter. */
export function renewalTime(cert: X509Certificate, fraction: number): number {
  const from = Date.parse(cert.validFrom)
  const to = Date.parse(cert.validTo)
  return from + fraction * (to - from)
}

/** Writes `text` to `path` (0600) by a rename, so the file is always whole. */
export async function writePrivate(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`
  await writeFile(temporary, text, { mode: 0o600 })
  await rename(temporary, path)
}

export class Renewer {
  readonly #o: RenewerOptions
  readonly #log: Logger
  readonly #backoff = new Backoff({ ...DEFAULT_BACKOFF, initialMs: 1000, maxMs: 60_000 })
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #cert: X509Certificate

  constructor(options: RenewerOptions, cert: X509Certificate) {
    this.#o = options
    this.#log = options.log.child({ part: 'renewer' })
    this.#cert = cert
  }

  /** The certificate in use now. */
  get certificate(): X509Certificate {
    return this.#cert
  }

  start(): void {
    const expires = Date.parse(this.#cert.validTo)
    if (expires <= Date.now()) {
      this.#log.error({ code: 'NODE_CERT_EXPIRED', notAfter: this.#cert.validTo }, 'the node certificate has expired: CloudHub will refuse this node; join it again with a new token (tern reset, tern gettoken, tern join)')
      return
    }
    this.#at(renewalTime(this.#cert, this.#o.renewAt))
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  #at(time: number): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => void this.#renew(), Math.min(Math.max(0, time - Date.now()), 2 ** 31 - 1))
  }

  async #renew(): Promise<void> {
    if (this.#stopped) return
    if (Date.now() < renewalTime(this.#cert, this.#o.renewAt) - 1000) return this.#at(renewalTime(this.#cert, this.#o.renewAt)) // a long timer woke early
    try {
      const session = this.#o.hub.session ?? (await this.#o.hub.nextSession())
      await this.#renewOn(session)
      this.#backoff.succeeded(Date.now())
      this.#at(renewalTime(this.#cert, this.#o.renewAt))
    } catch (err) {
      if (this.#stopped) return
      const code = err instanceof TernError ? err.code : undefined
      if (code === 'NODE_REVOKED') {
        this.#log.error({ code, reason: (err as Error).message }, 'the cloud revoked this node; join it again with a new token')
        return
      }
      const expires = Date.parse(this.#cert.validTo)
      const wait = this.#backoff.next(Date.now())
      if (Date.now() + wait >= expires) this.#log.error({ code: 'NODE_CERT_EXPIRED', err }, 'the node certificate expires before renewal can be retried; join the node again with a new token')
      else this.#log.warn({ code: code ?? 'CLOUD_LINK_CLOSED', err: (err as Error).message, retryMs: wait }, 'certificate renewal failed; retrying')
      this.#at(Date.now() + wait)
    }
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
    await writePrivate(this.#o.keyPath, key.key)
    await writePrivate(this.#o.certPath, cert.toString())
    this.#cert = cert
    this.#log.info({ notAfter: cert.validTo, serial: cert.serialNumber }, 'node certificate renewed; reconnecting with it')
    this.#o.hub.switchIdentity({ cert: cert.toString(), key: key.key })
  }
}
