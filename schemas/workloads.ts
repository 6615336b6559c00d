/**
 * The workload objects the cloud sends an edge node (kubeedge-compat.md §5, MetaManager's
 * `<ns>/pod/<name>`, `<ns>/configmap/<name>`, `<ns>/secret/<name>`): core/v1 Pods bound to the node,
 * and the ConfigMaps and Secrets they reference, as the API server holds them. Checked loosely at
 * both ends of the link (names, the fields that key and route them); edged validates a pod's spec
 * when it takes the pod (EDGED_POD_INVALID names the field), so one bad pod never blocks the set.
 */
import { Type, type Static } from '@sinclair/typebox'
import { ObjectMeta } from './device.js'
import { PodMeta } from './pod.js'

const Strings = Type.Record(Type.String(), Type.String())
/** values base64-encoded, as the API server serves binaryData and Secret data */
const Base64Values = Type.Record(Type.String(), Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$' }))

/** A Pod as the API server serves it; its spec is edged's to validate. */
export const CloudPod = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: PodMeta,
    spec: Type.Object({ nodeName: Type.Optional(Type.String()) }, { additionalProperties: true }),
    status: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: true },
)
export type CloudPod = Static<typeof CloudPod>

export const ConfigMap = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: ObjectMeta,
    data: Type.Optional(Strings),
    binaryData: Type.Optional(Base64Values),
    immutable: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
)
export type ConfigMap = Static<typeof ConfigMap>

export const Secret = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: ObjectMeta,
    data: Type.Optional(Base64Values),
    type: Type.Optional(Type.String()),
    immutable: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
)
export type Secret = Static<typeof Secret>

/**
 * Which part of a resync sent in parts a `resync` frame is: `index` from 0, of `count`; all carry
 * the same `resync` id. The edge holds parts until the last one (index `count - 1`) arrives, then
 * applies their objects together as one resync.
 */
export const ResyncPart = Type.Object({
  resync: Type.String({ minLength: 1, maxLength: 128 }),
  index: Type.Integer({ minimum: 0 }),
  count: Type.Integer({ minimum: 1 }),
})
export type ResyncPart = Static<typeof ResyncPart>

/**
 * Content of the downstream `resync` of resource `pods`: the node's whole workload set. A set too
 * large for one frame goes in parts (`part`) to an edge that announced the capability
 * `workload-resync-parts` (link/protocol.ts); to another, its ConfigMaps and Secrets are sent as
 * `update`s just before it; `kept` names them (`<ns>/configmap/<name>`, `<ns>/secret/<name>`), and
 * the edge keeps what it holds of them.
 */
export const NodeWorkloadSet = Type.Object({
  pods: Type.Array(CloudPod),
  configmaps: Type.Array(ConfigMap),
  secrets: Type.Array(Secret),
  kept: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 600 }))),
  part: Type.Optional(ResyncPart),
})
export type NodeWorkloadSet = Static<typeof NodeWorkloadSet>

/** Content of the upstream `delete` of `<ns>/pod/<name>`: the pod the edge finished terminating. */
export const PodDeleted = Type.Object({ uid: Type.String({ minLength: 1, maxLength: 128 }) })
export type PodDeleted = Static<typeof PodDeleted>
