/**
 * The fleet CA: one ECDSA P-256 key and a self-signed certificate (10 years) that issues
 * CloudHub's serving certificate and every node certificate. Kept in a `kubernetes.io/tls`
 * Secret in tern's namespace (every `tern cloud` replica and `tern gettoken` read the same one;
 * the first to start creates it, the others find it), or in two files the config names. Either
 * may be the operator's own CA: tern creates one only where there is none.
 */
import { X509Certificate, type KeyObject } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import { TernError } from '../../schemas/tern-error.js'
import type { SecretObject } from '../../schemas/identity.js'
import type { IdentityApi } from './identity-api.js'
import { checkedSecret, secretField } from './secrets.js'
import { caPin, issueCertificate, loadKey, newKey, NODES_GROUP, NODE_CN_PREFIX, type ParsedCsr } from './x509.js'

const CA_YEARS = 10
/**
 * Certificates start a little in the past, so a node whose clock is a few minutes behind still
 * accepts them: 5 minutes, or a tenth of the lifetime when that is shorter (renewal is planned on
 * the whole validity period).
 */
const backdateMs = (lifetimeMs: number): number => Math.min(5 * 60_000, lifetimeMs / 10)

export interface FleetCa {
  cert: X509Certificate
  key: KeyObject
  /** the CA certificate, PEM: what nodes trust and `GET /ca.crt` serves */
  pem: string
  /** `sha256:<hex>` of the certificate's DER: the pin join tokens carry */
  pin: string
}

export type CaSource = { kind: 'files'; cert: string; key: string } | { kind: 'secret'; api: IdentityApi; namespace: string; name: string }

/** Loads the CA, creating it first where there is none. Throws IDENTITY_CA_INVALID or IDENTITY_STORE_FAILED. */
export async function loadOrCreateCa(source: CaSource, log: Logger, now = Date.now()): Promise<FleetCa> {
  return source.kind === 'files' ? fromFiles(source, log, now) : fromSecret(source, log, now)
}

function fleetCa(certPem: string | Buffer, keyPem: string | Buffer, where: string): FleetCa {
  let cert: X509Certificate
  let key: KeyObject
  try {
    cert = new X509Certificate(certPem)
    key = loadKey(keyPem).privateKey
  } catch (cause) {
    throw new TernError('IDENTITY_CA_INVALID', `the CA in ${where} cannot be read: ${(cause as Error).message}`, { cause })
  }
  if (!cert.ca) throw new TernError('IDENTITY_CA_INVALID', `the certificate in ${where} is not a CA certificate (basicConstraints CA:TRUE)`)
  if (!cert.checkPrivateKey(key)) throw new TernError('IDENTITY_CA_INVALID', `the key in ${where} does not belong to its CA certificate`)
  return { cert, key, pem: cert.toString(), pin: caPin(cert) }
}

function newCa(now: number): { cert: string; key: string } {
  const pair = newKey()
  const cert = issueCertificate({
    subject: { cn: `tern fleet CA ${hostname()}` },
    publicKey: pair.publicKey,
    signingKey: pair.privateKey,
    notBefore: new Date(now - backdateMs(Infinity)),
    notAfter: new Date(now + CA_YEARS * 365 * 86_400_000),
    kind: 'ca',
  })
  return { cert: cert.toString(), key: pair.key }
}

async function fromFiles(source: { cert: string; key: string }, log: Logger, now: number): Promise<FleetCa> {
  const [cert, key] = await Promise.all([readIfExists(source.cert), readIfExists(source.key)])
  const where = `${source.cert} and ${source.key}`
  if (cert !== undefined && key !== undefined) return fleetCa(cert, key, where)
  if (cert !== undefined || key !== undefined) throw new TernError('IDENTITY_CA_INVALID', `only one of ${where} exists: give both (an operator CA) or neither (tern creates one)`)
  const made = newCa(now)
  try {
    // `wx`: two processes starting at once do not overwrite each other's CA
    await writeFile(source.key, made.key, { mode: 0o600, flag: 'wx' })
    await writeFile(source.cert, made.cert, { mode: 0o644, flag: 'wx' })
  } catch (cause) {
    throw new TernError('IDENTITY_CA_INVALID', `cannot create the CA files ${where}: ${(cause as Error).message}`, { cause })
  }
  const ca = fleetCa(made.cert, made.key, where)
  log.info({ cert: source.cert, pin: ca.pin }, 'created the fleet CA')
  return ca
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new TernError('IDENTITY_CA_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
}

async function fromSecret(source: { api: IdentityApi; namespace: string; name: string }, log: Logger, now: number): Promise<FleetCa> {
  const where = `Secret ${source.namespace}/${source.name}`
  const found = await readCaSecret(source)
  if (found !== undefined) return fleetCa(secretField(found, 'tls.crt', where), secretField(found, 'tls.key', where), where)
  const made = newCa(now)
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: source.name, namespace: source.namespace, labels: { 'app.kubernetes.io/name': 'tern', 'tern.io/role': 'fleet-ca' } },
    data: { 'tls.crt': Buffer.from(made.cert).toString('base64'), 'tls.key': Buffer.from(made.key).toString('base64') },
  }
  try {
    await source.api.createSecret(source.namespace, body)
    const ca = fleetCa(made.cert, made.key, where)
    log.info({ secret: where, pin: ca.pin }, 'created the fleet CA')
    return ca
  } catch (err) {
    // another replica created it first: use theirs
    if ((err as { status?: number }).status !== 409) throw storeFailed(`cannot create ${where}`, err)
    const theirs = await readCaSecret(source)
    if (theirs === undefined) throw storeFailed(`${where} exists and does not`, err)
    return fleetCa(secretField(theirs, 'tls.crt', where), secretField(theirs, 'tls.key', where), where)
  }
}

async function readCaSecret(source: { api: IdentityApi; namespace: string; name: string }): Promise<SecretObject | undefined> {
  let raw: unknown
  try {
    raw = await source.api.getSecret(source.namespace, source.name)
  } catch (err) {
    throw storeFailed(`cannot read Secret ${source.namespace}/${source.name}`, err)
  }
  return raw === undefined ? undefined : checkedSecret(raw, `Secret ${source.namespace}/${source.name}`, 'IDENTITY_CA_INVALID')
}

function storeFailed(what: string, cause: unknown): TernError {
  return new TernError('IDENTITY_STORE_FAILED', `${what}: ${(cause as Error).message}`, { cause })
}

/** The names a serving certificate is valid for: the configured ones, plus loopback and the host name. */
export function servingNames(configured: readonly string[]): string[] {
  return [...new Set([...configured, 'localhost', '127.0.0.1', '::1', hostname()])]
}

/** A fresh serving key and certificate for CloudHub. */
export function issueServing(ca: FleetCa, names: readonly string[], seconds: number, now = Date.now()): { cert: string; key: string; notAfter: number } {
  const pair = newKey()
  const notAfter = now + seconds * 1000
  const cert = issueCertificate({
    issuer: { cert: ca.cert, key: ca.key },
    signingKey: ca.key,
    subject: { cn: 'tern cloudhub' },
    publicKey: pair.publicKey,
    notBefore: new Date(now - backdateMs(seconds * 1000)),
    notAfter: new Date(notAfter),
    kind: 'server',
    names,
  })
  return { cert: cert.toString(), key: pair.key, notAfter }
}

/** A node certificate for the key of a checked CSR: CN system:node:<node>, O system:nodes, client auth only. */
export function issueNode(ca: FleetCa, csr: ParsedCsr, node: string, seconds: number, now = Date.now()): X509Certificate {
  return issueCertificate({
    issuer: { cert: ca.cert, key: ca.key },
    signingKey: ca.key,
    subject: { cn: `${NODE_CN_PREFIX}${node}`, o: NODES_GROUP },
    publicKey: csr.publicKey,
    notBefore: new Date(now - backdateMs(seconds * 1000)),
    notAfter: new Date(now + seconds * 1000),
    kind: 'client',
  })
}
