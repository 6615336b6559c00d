/**
 * The Kubernetes objects node identity keeps (cloud-sync/identity/): Secrets for the fleet CA, join
 * tokens and node records, and the Nodes whose deletion revokes a node. Only the fields tern reads
 * are declared; everything else the API server adds is allowed. The keys inside `data` are checked
 * where they are decoded (cloud-sync/identity/records.ts).
 */
import { Type, type Static } from '@sinclair/typebox'

const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', maxLength: 65_536 })

export const SecretObject = Type.Object({
  metadata: Type.Object({
    name: Type.String({ minLength: 1 }),
    namespace: Type.String({ minLength: 1 }),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  }),
  type: Type.Optional(Type.String()),
  data: Type.Record(Type.String(), Base64, { default: {} }),
})
export type SecretObject = Static<typeof SecretObject>

/** A Node as the revocation watch needs it (cluster-scoped: the namespace is always empty). */
export const NodeObject = Type.Object({
  metadata: Type.Object({
    name: Type.String({ minLength: 1 }),
    namespace: Type.String({ default: '' }),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
  }),
})
export type NodeObject = Static<typeof NodeObject>
