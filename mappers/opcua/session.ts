/**
 * Opening one OPC-UA session with a device's settings: secure channel with the configured mode and
 * policy, the client certificate from the node's PKI, the user identity (anonymous, user name and
 * password, or X509), and — only when the device says `acceptUnknownServerCertificate` — the
 * server's certificate trusted first. Every reconnect goes through here, so a new session always
 * has the same security settings as the first one.
 */
import { readFile } from 'node:fs/promises'
import type { ClientSession, OPCUACertificateManager, OPCUAClient, UserIdentityInfo } from 'node-opcua'
import type { Logger } from 'pino'
import { fail, ok, type Outcome } from '../driver.js'
import { classify, errorMessage } from './faults.js'
import type { OpcuaSettings } from './settings.js'
import type { OpcuaModule } from './shared.js'

export interface OpenSession {
  readonly client: OPCUAClient
  readonly session: ClientSession
}

export interface SessionOptions {
  readonly m: OpcuaModule
  /** urls whose server certificates were trusted by acceptUnknownServerCertificate (shared across reconnects) */
  readonly accepted: Set<string>
  readonly pki: OPCUACertificateManager
  readonly settings: OpcuaSettings
  readonly deviceId: string
  readonly log: Logger
}

/** Resolves with `promise`, or rejects with a timeout error after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

export async function openSession(o: SessionOptions): Promise<Outcome<OpenSession>> {
  const { m, settings } = o
  const identity = await userIdentity(m, settings)
  if (!identity.ok) return identity
  if (settings.securityMode !== 'None' && settings.acceptUnknownServerCertificate && !o.accepted.has(settings.url)) {
    const trusted = await trustServerCertificate(o)
    if (!trusted.ok) return trusted
    o.accepted.add(settings.url)
  }
  const client = createClient(o, settings.securityMode, settings.securityPolicy)
  try {
    await within(client.connect(settings.url), settings.timeoutMs, 'connect')
  } catch (err) {
    await disconnect(client, settings.timeoutMs)
    const error = classify(err, true)
    // a server with a new certificate: fetch and trust it again on the next attempt
    if (error.code === 'OPCUA_SECURITY_REJECTED') o.accepted.delete(settings.url)
    const hint = /BadCertificateUntrusted/.test(error.message)
      ? ` — trust the server certificate (move it from ${o.pki.rootDir}/rejected to trusted/certs) or set acceptUnknownServerCertificate: true`
      : ''
    return fail(error.code, `${settings.url} (${settings.securityMode}/${settings.securityPolicy}): ${error.message}${hint}`, true)
  }
  try {
    const session = await within(client.createSession(identity.value), settings.timeoutMs, 'create session')
    return ok({ client, session })
  } catch (err) {
    await disconnect(client, settings.timeoutMs)
    const error = classify(err, true)
    return fail(error.code, `session on ${settings.url} as ${describeIdentity(settings)}: ${error.message}`, true)
  }
}

function createClient(o: SessionOptions, mode: OpcuaSettings['securityMode'], policy: OpcuaSettings['securityPolicy']): OPCUAClient {
  const { m, settings } = o
  return m.OPCUAClient.create({
    applicationName: 'tern',
    clientName: `tern-${o.deviceId}`,
    securityMode: m.MessageSecurityMode[mode],
    securityPolicy: m.SecurityPolicy[policy],
    clientCertificateManager: o.pki,
    // the mapper runtime reconnects with its own back-off; node-opcua must not retry underneath it
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    defaultTransactionTimeout: settings.timeoutMs,
    // the socket's idle timeout, not a request's: it must outlast the keep-alives of an idle link
    transportTimeout: settings.socketIdleMs,
    keepSessionAlive: true,
    keepAliveInterval: settings.keepAliveMs,
  })
}

export async function disconnect(client: OPCUAClient, timeoutMs: number): Promise<void> {
  try {
    await within(client.disconnect(), timeoutMs, 'disconnect')
  } catch {
    // already gone
  }
}

/**
 * Trusts the certificates the server presents on its endpoints (saved under trusted/). Asked over
 * an unsecured GetEndpoints, which every server offers; done only when the device's config says so.
 */
async function trustServerCertificate(o: SessionOptions): Promise<Outcome<void>> {
  const { settings, pki } = o
  const probe = createClient(o, 'None', 'None')
  try {
    await within(probe.connect(settings.url), settings.timeoutMs, 'connect')
    const endpoints = await within(probe.getEndpoints(), settings.timeoutMs, 'get endpoints')
    const certificates = new Map<string, Buffer>()
    for (const e of endpoints) if (e.serverCertificate !== null && e.serverCertificate.length > 0) certificates.set(e.serverCertificate.toString('base64'), e.serverCertificate)
    for (const certificate of certificates.values()) {
      const status = await pki.checkCertificate(certificate)
      if (status.isGood()) continue
      await pki.trustCertificate(certificate)
      o.log.warn({ url: settings.url, was: status.name }, 'server certificate trusted because the device config sets acceptUnknownServerCertificate')
    }
    return ok(undefined)
  } catch (err) {
    return fail('OPCUA_CONNECT_FAILED', `${settings.url}: cannot fetch the server certificate: ${errorMessage(err)}`, true)
  } finally {
    await disconnect(probe, settings.timeoutMs)
  }
}

async function userIdentity(m: OpcuaModule, settings: OpcuaSettings): Promise<Outcome<UserIdentityInfo>> {
  const id = settings.identity
  switch (id.kind) {
    case 'anonymous':
      return ok({ type: m.UserTokenType.Anonymous })
    case 'userName': {
      let password = ''
      if (id.password !== undefined && 'file' in id.password) {
        try {
          // KubeEdge's mapper drops the file's last byte (the newline an editor adds); drop one newline
          password = (await readFile(id.password.file, 'utf8')).replace(/\r?\n$/, '')
        } catch (err) {
          return fail('OPCUA_CONFIG_INVALID', `password file ${id.password.file}: ${errorMessage(err)}`)
        }
      } else if (id.password !== undefined) {
        const value = process.env[id.password.env]
        if (value === undefined) return fail('OPCUA_CONFIG_INVALID', `environment variable ${id.password.env} (passwordEnv) is not set`)
        password = value
      }
      return ok({ type: m.UserTokenType.UserName, userName: id.userName, password })
    }
    case 'certificate': {
      try {
        const certificate = pemToDer(await readFile(id.certificate))
        const privateKey = await readFile(id.privateKey, 'utf8')
        return ok({ type: m.UserTokenType.Certificate, certificateData: certificate, privateKey })
      } catch (err) {
        return fail('OPCUA_CONFIG_INVALID', `user certificate or key: ${errorMessage(err)}`)
      }
    }
  }
}

/** The first certificate of a PEM file as DER; a DER file as it is. */
function pemToDer(file: Buffer): Buffer {
  const text = file.toString('latin1')
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(text)
  return m?.[1] !== undefined ? Buffer.from(m[1].replace(/\s+/g, ''), 'base64') : file
}

function describeIdentity(settings: OpcuaSettings): string {
  const id = settings.identity
  return id.kind === 'userName' ? `user ${id.userName}` : id.kind === 'certificate' ? `certificate ${id.certificate}` : 'anonymous'
}
