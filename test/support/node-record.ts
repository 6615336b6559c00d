/** A joined node's record (the Secret `tern-node-<name>`) written straight into the API emulator, as `tern join` leaves it. */
import { RECORD_ROLE, recordName } from '../../cloud-sync/identity/node-identities.js'
import { SECRETS } from './kube/registry.js'
import type { KubeEmulator } from './kube/server.js'

export function createNodeRecord(kube: KubeEmulator, namespace: string, node: string, serial: string): void {
  kube.api.create(SECRETS, namespace, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: recordName(node), labels: { 'tern.io/role': RECORD_ROLE } },
    data: { node: Buffer.from(node).toString('base64'), serials: Buffer.from(serial).toString('base64') },
  })
}
