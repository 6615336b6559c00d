/**
 * The workload documents of the cloud link that carry what a kubelet writes to the API server
 * (cloud-sync/messages.ts says how they travel): a pod's status (upstream `update` of
 * `<ns>/podstatus/<name>`), an Event about a pod (upstream `insert` of `<ns>/event/<name>`) and
 * the Node's spec the cloud sends down for admission (`update` of `default/node/<node>`). The
 * status is checked as core/v1 PodStatus as far as edged sets it; unknown fields are kept.
 */
import { Type, type Static } from '@sinclair/typebox'
import { StringEnum } from './typebox.js'
import { POD_CONTAINERS_MAX } from './cloud-link-limits.js'

const Text = (maxLength: number): ReturnType<typeof Type.String> => Type.String({ maxLength })
const Time = Text(64)
const Open = { additionalProperties: true }

const Waiting = Type.Object({ reason: Text(256), message: Type.Optional(Text(4096)) }, Open)
const Running = Type.Object({ startedAt: Time }, Open)
const Terminated = Type.Object(
  {
    exitCode: Type.Integer(),
    reason: Type.Optional(Text(256)),
    message: Type.Optional(Text(4096)),
    signal: Type.Optional(Type.Integer()),
    startedAt: Type.Optional(Time),
    finishedAt: Type.Optional(Time),
    containerID: Type.Optional(Text(256)),
  },
  Open,
)
const ContainerState = Type.Object({ waiting: Type.Optional(Waiting), running: Type.Optional(Running), terminated: Type.Optional(Terminated) }, Open)
const ContainerStatus = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 63 }),
    image: Text(1024),
    imageID: Text(1024),
    containerID: Type.Optional(Text(256)),
    ready: Type.Boolean(),
    started: Type.Optional(Type.Boolean()),
    restartCount: Type.Integer({ minimum: 0 }),
    state: ContainerState,
    lastState: ContainerState,
  },
  Open,
)
const PodCondition = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 316 }),
    status: StringEnum(['True', 'False', 'Unknown']),
    reason: Type.Optional(Text(1024)),
    message: Type.Optional(Text(32_768)),
    lastTransitionTime: Type.Optional(Time),
    lastProbeTime: Type.Optional(Type.Union([Time, Type.Null()])),
  },
  Open,
)
const Containers = Type.Array(ContainerStatus, { maxItems: POD_CONTAINERS_MAX })

/** core/v1 PodStatus, the fields edged sets. */
export const PodStatusDoc = Type.Object(
  {
    phase: StringEnum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']),
    conditions: Type.Optional(Type.Array(PodCondition, { maxItems: 64 })),
    message: Type.Optional(Text(32_768)),
    reason: Type.Optional(Text(1024)),
    hostIP: Type.Optional(Text(64)),
    hostIPs: Type.Optional(Type.Array(Type.Object({ ip: Text(64) }), { maxItems: 2 })),
    podIP: Type.Optional(Text(64)),
    podIPs: Type.Optional(Type.Array(Type.Object({ ip: Text(64) }), { maxItems: 2 })),
    startTime: Type.Optional(Time),
    initContainerStatuses: Type.Optional(Containers),
    containerStatuses: Type.Optional(Containers),
    qosClass: Type.Optional(StringEnum(['Guaranteed', 'Burstable', 'BestEffort'])),
  },
  Open,
)

/** Content of an upstream pod status report: the pod's uid (the kubelet's patch precondition) and its status. */
export const PodStatusReport = Type.Object({ uid: Type.String({ minLength: 1, maxLength: 128 }), status: PodStatusDoc }, { additionalProperties: false })
export type PodStatusReport = Static<typeof PodStatusReport>

/**
 * Content of an upstream Event: the core/v1 Event fields the kubelet's recorder fills. Aggregated at
 * the edge: a repeat of the same event keeps its name and raises `count` and `lastTimestamp`.
 */
export const EventReport = Type.Object(
  {
    involvedObject: Type.Object(
      {
        kind: Type.Literal('Pod'),
        namespace: Type.String({ minLength: 1, maxLength: 63 }),
        name: Type.String({ minLength: 1, maxLength: 253 }),
        uid: Type.String({ minLength: 1, maxLength: 128 }),
        apiVersion: Type.Optional(Type.Literal('v1')),
        fieldPath: Type.Optional(Text(256)),
      },
      { additionalProperties: false },
    ),
    reason: Type.String({ minLength: 1, maxLength: 128 }),
    message: Text(1024),
    type: StringEnum(['Normal', 'Warning']),
    count: Type.Integer({ minimum: 1 }),
    firstTimestamp: Time,
    lastTimestamp: Time,
    source: Type.Object({ component: Text(64), host: Type.Optional(Text(253)) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
)
export type EventReport = Static<typeof EventReport>

const Taint = Type.Object({ key: Type.String({ minLength: 1, maxLength: 316 }), value: Type.Optional(Text(63)), effect: StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']) }, Open)

/** A Node's labels (a label value is at most 63 characters). */
const NodeLabels = Type.Record(Type.String(), Text(63), { maxProperties: 1024 })

/**
 * Content of a downstream `update` of `default/node/<node>`: the Node as edged's admission needs it,
 * its spec (cordon, taints) and its labels (nodeSelector and node affinity). `labels` is absent
 * from a cloud that does not send them.
 */
export const NodeSpecUpdate = Type.Object(
  { spec: Type.Object({ unschedulable: Type.Optional(Type.Boolean()), taints: Type.Optional(Type.Array(Taint, { maxItems: 128 })) }, Open), labels: Type.Optional(NodeLabels) },
  { additionalProperties: true },
)
export type NodeSpecUpdate = Static<typeof NodeSpecUpdate>
export type Taint = Static<typeof Taint>

const ObjectName = Type.Object(
  { name: Type.String({ minLength: 1 }), namespace: Type.String({ default: '' }), uid: Type.String({ minLength: 1 }), resourceVersion: Type.Optional(Type.String()) },
  Open,
)


/** What the cloud reads of an edge node's Node to send its spec down. */
export const EdgeNodeObject = Type.Object({ metadata: Type.Composite([ObjectName, Type.Object({ labels: Type.Optional(NodeLabels) })], Open), spec: Type.Optional(NodeSpecUpdate.properties.spec) }, Open)
export type EdgeNodeObject = Static<typeof EdgeNodeObject>
