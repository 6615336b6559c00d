/**
 * Node identity on the cloud side: joining with a token, renewing over the authenticated link,
 * admitting a connection by its certificate, and revocation.
 *
 * Each joined node has a record, the Secret `tern-node-<name>` in tern's namespace (label
 * `tern.io/role=node-identity`): the serial numbers of its current and previous certificate and
 * when the current one expires (annotation `tern.io/certificate-not-after`, so `kubectl get secret`
 * shows it). A certificate is accepted only while its serial is in its node's record, so deleting
 * the record revokes every certificate the node holds, at once and on every replica: `tern revoke`
 * deletes it, and so does deleting the node's `Node` (`kubectl delete node`), which this watches.
 * Records and Nodes are watched by informers; a connection whose certificate the cache does not
 * (yet) know is checked against the API server before it is refused, so a node that connects right
 * after joining through another replica is not turned away.
 */
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import type { Logger } from 'pino'
import { TernError } from '../../schemas/tern-error.js'
import * as checks from '../../schemas/generated/validators.js'
import type { NodeObject, SecretObject } from '../../schemas/identity.js'
import { validator } from '../../schemas/validate.js'
import type { AuthResult } from '../link/auth.js'
import { isNodeName } from '../link/protocol.js'
import { Informer } from '../cloud/informers.js'
import { issueNode, type FleetCa } from './ca.js'
import type { IdentityApi, IdentityResource } from './identity-api.js'
import { b64, checkedSecret } from './secrets.js'
import { useToken, type Token } from './tokens.js'
import { nodeOfSubject, NODES_GROUP, NODE_CN_PREFIX, parseCsr, serialOf } from './x509.js'

export const RECORD_ROLE = 'node-identity'
export const RECORD_SELECTOR = `tern.io/role=${RECORD_ROLE}`
const NOT_AFTER = 'tern.io/certificate-not-after'

export const recordName = (node: string): string => `tern-node-${node}`

export interface NodeIdentitiesOptions {
  api: IdentityApi
  namespace: string
  ca: FleetCa
  /** lifetime of node certificates, s */
  nodeCertificateSeconds: number
  log: Logger
  now?: () => number
}

export interface Issued {
  node: string
  /** the node certificate, PEM */
  cert: string
  /** the fleet CA, PEM */
  ca: string
  notAfter: string
}

function recordSerials(record: SecretObject): string[] {
  const value = record.data.serials
  return value === undefined ? [] : Buffer.from(value, 'base64').toString('utf8').split(',').filter((s) => s !== '')
}

export class NodeIdentities {
  readonly records: Informer<SecretObject, IdentityResource>
  readonly nodes: Informer<NodeObject, IdentityResource>
  readonly #o: Required<NodeIdentitiesOptions>
  readonly #revoked: Array<(node: string, reason: string) => void> = []

  constructor(options: NodeIdentitiesOptions) {
    this.#o = { now: Date.now, ...options }
    const log = options.log.child({ part: 'identity' })
    this.records = new Informer<SecretObject, IdentityResource>({ api: options.api, resource: 'node-records', validate: validator(checks.SecretObject), log })
    this.nodes = new Informer<NodeObject, IdentityResource>({ api: options.api, resource: 'nodes', validate: validator(checks.NodeObject), log })
    this.records.onChange((old, current) => {
      const node = old === undefined ? undefined : nodeOfRecord(old)
      if (node === undefined) return
      if (current === undefined) this.#emit(node, 'its record was deleted')
    })
    this.nodes.onChange((old, current) => {
      if (old === undefined || current !== undefined) return
      const node = old.metadata.name
      if (this.records.get(this.#o.namespace, recordName(node)) === undefined) return
      this.#o.log.info({ node }, 'Node deleted: revoking its identity')
      this.revoke(node).catch((err: unknown) => this.#o.log.error({ err, node, code: 'IDENTITY_STORE_FAILED' }, 'cannot revoke the node after its Node was deleted'))
    })
  }

  get ca(): FleetCa {
    return this.#o.ca
  }

  /** Starts the informers and waits for their first lists. */
  async start(): Promise<void> {
    this.records.start()
    this.nodes.start()
    await Promise.all([this.records.whenSynced(), this.nodes.whenSynced()])
  }

  async stop(): Promise<void> {
    await Promise.all([this.records.stop(), this.nodes.stop()])
  }

  /** Called with a node whose certificates are no longer valid (its record is gone). */
  onRevoked(handler: (node: string, reason: string) => void): void {
    this.#revoked.push(handler)
  }

  #emit(node: string, reason: string): void {
    for (const handler of this.#revoked) handler(node, reason)
  }

  /** When the node's current certificate expires, from its record (for `tern cloud`'s reports). */
  expiries(): Array<{ node: string; notAfter: string }> {
    return this.records
      .list()
      .map((r) => ({ node: nodeOfRecord(r), notAfter: r.metadata.annotations?.[NOT_AFTER] ?? '' }))
      .filter((e): e is { node: string; notAfter: string } => e.node !== undefined)
  }

  /**
   * A node joins: `token` authenticates it, the CSR names it (CN system:node:<name>, O
   * system:nodes) and proves it holds the key. Throws NODE_CSR_INVALID, JOIN_* codes, or
   * IDENTITY_STORE_FAILED.
   */
  async join(token: Token, csrPem: string): Promise<Issued> {
    const { api, namespace } = this.#o
    const csr = parseCsr(csrPem)
    const node = this.#nodeOfCsr(csr.commonName, csr.organization)
    const now = this.#o.now()
    await useToken(api, namespace, token, node, now, () => {
      if (this.records.get(namespace, recordName(node)) !== undefined) throw exists(node)
    })
    const cert = issueNode(this.#o.ca, csr, node, this.#o.nodeCertificateSeconds, now)
    try {
      await api.createSecret(namespace, this.#record(node, [serialOf(cert)], cert, now))
    } catch (err) {
      if ((err as { status?: number }).status === 409) throw exists(node)
      throw new TernError('IDENTITY_STORE_FAILED', `cannot record node ${node}: ${(err as Error).message}`, { cause: err })
    }
    try {
      if (await api.ensureNode(node, { 'node-role.kubernetes.io/edge': '', 'kubernetes.io/hostname': node })) this.#o.log.info({ node }, 'created the Node')
    } catch (err) {
      // Revocation by `tern revoke` still works; `kubectl delete node` needs the Node.
      this.#o.log.warn({ node, err: (err as Error).message }, 'cannot create the Node (RBAC?); revoke this node with tern revoke')
    }
    this.#o.log.info({ node, serial: serialOf(cert), notAfter: cert.validTo }, 'node joined')
    return { node, cert: cert.toString(), ca: this.#o.ca.pem, notAfter: new Date(cert.validTo).toISOString() }
  }

  /** A connected node renews: a new certificate for the CSR's key; its record keeps the current serial as the previous one. */
  async renew(node: string, serial: string, csrPem: string): Promise<Issued> {
    const { api, namespace } = this.#o
    const csr = parseCsr(csrPem)
    const named = this.#nodeOfCsr(csr.commonName, csr.organization)
    if (named !== node) throw new TernError('CLOUD_NOT_OWNER', `node ${node} asked for a certificate of node ${named}`)
    for (let attempt = 0; attempt < 8; attempt++) {
      const record = await this.#liveRecord(node)
      if (record === undefined || !recordSerials(record).includes(serial)) throw new TernError('NODE_REVOKED', `node ${node} is revoked`)
      const now = this.#o.now()
      const cert = issueNode(this.#o.ca, csr, node, this.#o.nodeCertificateSeconds, now)
      const next = this.#record(node, [serialOf(cert), serial], cert, now)
      try {
        await api.replaceSecret(namespace, recordName(node), { ...next, metadata: { ...record.metadata, annotations: { ...record.metadata.annotations, [NOT_AFTER]: new Date(cert.validTo).toISOString() } } })
        this.#o.log.info({ node, serial: serialOf(cert), notAfter: cert.validTo }, 'node certificate renewed')
        return { node, cert: cert.toString(), ca: this.#o.ca.pem, notAfter: new Date(cert.validTo).toISOString() }
      } catch (err) {
        if ((err as { status?: number }).status === 409) continue
        if ((err as { status?: number }).status === 404) throw new TernError('NODE_REVOKED', `node ${node} is revoked`)
        throw new TernError('IDENTITY_STORE_FAILED', `cannot record the renewed certificate of ${node}: ${(err as Error).message}`, { cause: err })
      }
    }
    throw new TernError('IDENTITY_STORE_FAILED', `the record of node ${node} kept changing; try again`)
  }

  /** Deletes the node's record (revoking every certificate it holds) and its Node. False when it had neither. */
  async revoke(node: string): Promise<boolean> {
    const { api, namespace } = this.#o
    try {
      const record = await api.deleteSecret(namespace, recordName(node))
      const kubeNode = await api.deleteNode(node)
      if (record) this.#emit(node, 'revoked')
      return record || kubeNode
    } catch (err) {
      throw new TernError('IDENTITY_STORE_FAILED', `cannot revoke node ${node}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * CloudHub's authenticator in certificate mode: the TLS layer has checked the chain to the fleet
   * CA and the validity period (`authorized`); this takes the node name from the certificate, refuses
   * a URL path naming another node (403), and a certificate whose serial is not in the node's record (403, revoked).
   */
  async authenticate(request: IncomingMessage, pathNode: string): Promise<AuthResult> {
    const socket = request.socket as TLSSocket
    if (typeof socket.getPeerX509Certificate !== 'function') return { ok: false, status: 401, code: 'CLOUD_AUTH_FAILED', reason: 'CloudHub serves no TLS: certificates cannot be checked' }
    const cert = socket.getPeerX509Certificate()
    if (cert === undefined) return { ok: false, status: 401, code: 'CLOUD_AUTH_FAILED', reason: 'no client certificate' }
    if (!socket.authorized) return { ok: false, status: 401, code: 'CLOUD_AUTH_FAILED', reason: `client certificate refused: ${String(socket.authorizationError)}` }
    const node = nodeOfSubject(cert.subject)
    if (node === undefined) return { ok: false, status: 401, code: 'CLOUD_AUTH_FAILED', reason: 'the certificate is not a node certificate (CN system:node:<name>, O system:nodes)' }
    if (node !== pathNode) return { ok: false, status: 403, code: 'CLOUD_AUTH_FAILED', reason: `the certificate of node ${node} cannot open the session of node ${pathNode}` }
    const serial = serialOf(cert)
    const expiresAt = Date.parse(cert.validTo)
    const cached = this.records.get(this.#o.namespace, recordName(node))
    if (cached !== undefined && recordSerials(cached).includes(serial)) return { ok: true, expiresAt, identity: serial }
    let live: SecretObject | undefined
    try {
      live = await this.#liveRecord(node)
    } catch (err) {
      this.#o.log.warn({ node, err: (err as Error).message }, 'cannot read the node record to admit a connection')
      return { ok: false, status: 503, code: 'IDENTITY_STORE_FAILED', reason: 'the node record cannot be read now; retry' }
    }
    if (live !== undefined && recordSerials(live).includes(serial)) return { ok: true, expiresAt, identity: serial }
    return { ok: false, status: 403, code: 'NODE_REVOKED', reason: `the certificate of node ${node} is revoked; join again with a new token` }
  }

  /** The record read from the API server (not the cache). */
  async #liveRecord(node: string): Promise<SecretObject | undefined> {
    const where = `the record of node ${node}`
    let raw: unknown
    try {
      raw = await this.#o.api.getSecret(this.#o.namespace, recordName(node))
    } catch (err) {
      throw new TernError('IDENTITY_STORE_FAILED', `cannot read ${where}: ${(err as Error).message}`, { cause: err })
    }
    return raw === undefined ? undefined : checkedSecret(raw, where, 'IDENTITY_STORE_FAILED')
  }

  #nodeOfCsr(cn: string | undefined, o: string | undefined): string {
    const node = cn?.startsWith(NODE_CN_PREFIX) === true ? cn.slice(NODE_CN_PREFIX.length) : undefined
    if (node === undefined || o !== NODES_GROUP) throw new TernError('NODE_CSR_INVALID', `the certificate request must have CN ${NODE_CN_PREFIX}<node> and O ${NODES_GROUP}`)
    if (!isNodeName(node) || recordName(node).length > 253) throw new TernError('NODE_CSR_INVALID', `${JSON.stringify(node)} is not a node name (a DNS-1123 subdomain of at most 243 characters)`)
    return node
  }

  #record(node: string, serials: string[], cert: X509Certificate, now: number): SecretObject & { apiVersion: string; kind: string } {
    const notAfter = new Date(cert.validTo).toISOString()
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'tern.io/node-identity',
      metadata: {
        name: recordName(node),
        namespace: this.#o.namespace,
        labels: { 'app.kubernetes.io/name': 'tern', 'tern.io/role': RECORD_ROLE },
        annotations: { [NOT_AFTER]: notAfter, 'tern.io/joined': new Date(now).toISOString() },
      },
      data: { node: b64(node), serials: b64(serials.join(',')), 'not-after': b64(notAfter) },
    }
  }
}

function nodeOfRecord(record: SecretObject): string | undefined {
  const value = record.data.node
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8')
}

function exists(node: string): TernError {
  return new TernError('JOIN_NODE_EXISTS', `node ${node} has joined already; revoke it first (kubectl delete node ${node}, or tern revoke ${node})`)
}
