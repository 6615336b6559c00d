/**
 * Node identity for `tern cloud`, `tern gettoken` and `tern revoke`: where the CA, tokens and node
 * records live (the kubeconfig and `identity:` of the cloud config), and CloudHub's TLS in
 * certificate mode: served by a certificate the fleet CA issues (renewed at ~70 % of its lifetime)
 * or by the operator's own, which must chain to the fleet CA that nodes pin.
 */
import { X509Certificate } from 'node:crypto'
import type { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { issueServing, loadOrCreateCa, servingNames, type FleetCa } from '../cloud-sync/identity/ca.js'
import { ClientNodeIdentityApi } from '../cloud-sync/identity/identity-api.js'
import { RECORD_SELECTOR } from '../cloud-sync/identity/node-identities.js'
import type { CloudConfig } from '../schemas/cloud-config.js'
import { TernError } from '../schemas/tern-error.js'
import { readNamedFile } from './config.js'

const DEFAULT_NAMESPACE = 'tern-system'

export interface IdentityStore {
  api: ClientNodeIdentityApi
  namespace: string
  ca: FleetCa
}

/** The identity namespace: configured, else the kubeconfig context's, else tern-system. */
export function identityNamespace(config: CloudConfig, kc: KubeConfig): string {
  return config.identity.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? DEFAULT_NAMESPACE
}

/** The identity API and the fleet CA (created where there is none). */
export async function openIdentityStore(config: CloudConfig, kc: KubeConfig, log: Logger): Promise<IdentityStore> {
  const namespace = identityNamespace(config, kc)
  const api = new ClientNodeIdentityApi(kc, namespace, RECORD_SELECTOR)
  const files = config.identity.ca
  const ca = await loadOrCreateCa(files === undefined ? { kind: 'secret', api, namespace, name: config.identity.caSecret } : { kind: 'files', ...files }, log)
  return { api, namespace, ca }
}

export interface ServingTls {
  cert: string | Buffer
  key: string | Buffer
  /** when the hub must switch to a renewed one; undefined for the operator's own */
  renewAt?: number
}

/** CloudHub's serving certificate: the operator's (checked against the CA) or a fresh one from the CA. */
export async function servingTls(config: CloudConfig, ca: FleetCa, now = Date.now()): Promise<ServingTls> {
  const own = config.hub.tls
  if (own !== undefined) {
    const read = (path: string): Promise<Buffer> => readNamedFile(path, 'the CloudHub TLS file', 'CLOUD_CONFIG_INVALID')
    const [cert, key] = [await read(own.cert), await read(own.key)]
    let leaf: X509Certificate
    try {
      leaf = new X509Certificate(cert)
    } catch (cause) {
      throw new TernError('CLOUD_CONFIG_INVALID', `${own.cert} is not a PEM certificate: ${(cause as Error).message}`, { cause })
    }
    // Nodes trust only the pinned fleet CA: a serving certificate from elsewhere would fail every join and connect.
    if (!leaf.checkIssued(ca.cert) || !leaf.verify(ca.cert.publicKey)) {
      throw new TernError('IDENTITY_CA_INVALID', `the serving certificate ${own.cert} is not issued by the fleet CA; nodes could not verify CloudHub`)
    }
    return { cert, key }
  }
  const seconds = config.identity.serverCertificateSeconds
  const issued = issueServing(ca, servingNames(config.hub.serverNames), seconds, now)
  return { cert: issued.cert, key: issued.key, renewAt: now + 0.7 * seconds * 1000 }
}
