/**
 * What an edge node reports about itself (upstream `update` of `default/nodestatus/<node>`,
 * cloud-sync/messages.ts) and `tern cloud` writes to its `Node`: the core/v1 NodeStatus fields a
 * kubelet posts (capacity, allocatable, conditions, addresses, nodeInfo). Times are the cloud's:
 * it sets lastHeartbeatTime and lastTransitionTime when it writes the status.
 */
import { Type, type Static } from '@sinclair/typebox'
import { StringEnum } from './typebox.js'

const Text = (maxLength: number): ReturnType<typeof Type.String> => Type.String({ maxLength })

/** A Kubernetes quantity as the API server prints it (`4`, `3906252Ki`, `110`). */
const Quantity = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$', maxLength: 64 })

export const ResourceList = Type.Object(
  {
    cpu: Quantity,
    memory: Quantity,
    pods: Quantity,
    'ephemeral-storage': Type.Optional(Quantity),
  },
  { additionalProperties: false },
)
export type ResourceList = Static<typeof ResourceList>

export const NODE_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'] as const
export type NodeConditionType = (typeof NODE_CONDITIONS)[number]

export const ReportedCondition = Type.Object(
  {
    type: StringEnum([...NODE_CONDITIONS]),
    status: StringEnum(['True', 'False', 'Unknown']),
    reason: Text(128),
    message: Text(1024),
  },
  { additionalProperties: false },
)
export type ReportedCondition = Static<typeof ReportedCondition>

export const NodeAddress = Type.Object(
  {
    type: StringEnum(['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS']),
    address: Type.String({ minLength: 1, maxLength: 253 }),
  },
  { additionalProperties: false },
)

/** core/v1 NodeSystemInfo: every field is a string, '' when unknown. */
export const NodeSystemInfo = Type.Object(
  {
    machineID: Text(128),
    systemUUID: Text(128),
    bootID: Text(128),
    kernelVersion: Text(256),
    osImage: Text(256),
    containerRuntimeVersion: Text(256),
    kubeletVersion: Text(128),
    kubeProxyVersion: Text(128),
    operatingSystem: Text(64),
    architecture: Text(64),
  },
  { additionalProperties: false },
)
export type NodeSystemInfo = Static<typeof NodeSystemInfo>

export const NodeStatusReport = Type.Object(
  {
    capacity: ResourceList,
    allocatable: ResourceList,
    conditions: Type.Array(ReportedCondition, { minItems: 1, maxItems: NODE_CONDITIONS.length }),
    addresses: Type.Array(NodeAddress, { maxItems: 32 }),
    nodeInfo: NodeSystemInfo,
  },
  { additionalProperties: false },
)
export type NodeStatusReport = Static<typeof NodeStatusReport>
