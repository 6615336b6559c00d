/**
 * KubeEdge `devices.kubeedge.io/v1beta1` Device and DeviceModel, field for field
 * (kubeedge-compat.md §3), so existing KubeEdge device YAML applies unchanged. Used for local
 * manifests on the edge and, generated into CRD YAML, by the cloud side. Free-form KubeEdge
 * fields (`configData`, `protocolConfigData`, push methods) stay free-form here; each mapper
 * validates its own protocol and visitor config with its own schema.
 */
import { Type, type Static } from '@sinclair/typebox'
import { StringEnum } from './typebox.js'
import { ACCESS_MODES, PROPERTY_TYPES, type PropertyType } from './vocabulary.js'

const FreeObject = Type.Record(Type.String(), Type.Unknown(), { description: 'free-form (x-kubernetes-preserve-unknown-fields)' })
const Int64 = Type.Integer({ minimum: 0 })
const DNS1123 = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'


export const ObjectMeta = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, pattern: DNS1123 }),
    namespace: Type.String({ default: 'default', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    creationTimestamp: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    ownerReferences: Type.Optional(Type.Array(FreeObject)),
    finalizers: Type.Optional(Type.Array(Type.String())),
    managedFields: Type.Optional(Type.Array(FreeObject)),
  },
  // A manifest copied from `kubectl get -o yaml` carries more server-set fields; keep them.
  { additionalProperties: true },
)

export const Visitors = Type.Object({
  protocolName: Type.Optional(Type.String()),
  configData: Type.Optional(FreeObject),
})

export const ModelProperty = Type.Object({
  name: Type.String({ minLength: 1 }),
  description: Type.Optional(Type.String()),
  type: StringEnum(PROPERTY_TYPES),
  accessMode: Type.Optional(StringEnum(ACCESS_MODES)),
  minimum: Type.Optional(Type.String()),
  maximum: Type.Optional(Type.String()),
  unit: Type.Optional(Type.String()),
  visitors: Type.Optional(Visitors),
})

export const DeviceModelSpec = Type.Object({
  protocol: Type.Optional(Type.String()),
  protocolConfigData: Type.Optional(FreeObject),
  properties: Type.Optional(Type.Array(ModelProperty)),
})

export const DeviceModel = Type.Object({
  apiVersion: Type.Literal('devices.kubeedge.io/v1beta1'),
  kind: Type.Literal('DeviceModel'),
  metadata: ObjectMeta,
  spec: DeviceModelSpec,
})

const PushMethod = Type.Object({
  http: Type.Optional(FreeObject),
  mqtt: Type.Optional(FreeObject),
  otel: Type.Optional(FreeObject),
  dbMethod: Type.Optional(FreeObject),
  anomalyDetection: Type.Optional(FreeObject),
})

export const DeviceProperty = Type.Object({
  name: Type.String({ minLength: 1 }),
  desired: Type.Optional(
    Type.Object({
      value: Type.String(),
      metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
    }),
  ),
  visitors: Type.Optional(Visitors),
  reportCycle: Type.Optional(Int64),
  collectCycle: Type.Optional(Int64),
  reportToCloud: Type.Optional(Type.Boolean()),
  pushMethod: Type.Optional(PushMethod),
})

export const DeviceSpec = Type.Object({
  deviceModelRef: Type.Object({ name: Type.String({ minLength: 1 }) }),
  nodeName: Type.Optional(Type.String()),
  protocol: Type.Optional(
    Type.Object({
      protocolName: Type.Optional(Type.String()),
      configData: Type.Optional(FreeObject),
    }),
  ),
  properties: Type.Optional(Type.Array(DeviceProperty)),
  methods: Type.Optional(
    Type.Array(Type.Object({ name: Type.String(), description: Type.Optional(Type.String()), propertyNames: Type.Optional(Type.Array(Type.String())) })),
  ),
  stateReport: Type.Optional(Type.Object({ reportToCloud: Type.Optional(Type.Boolean()), reportCycle: Type.Optional(Int64) })),
})

const TwinProperty = Type.Object({
  value: Type.String(),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
})

export const DeviceStatus = Type.Object({
  twins: Type.Optional(
    Type.Array(
      Type.Object({
        propertyName: Type.String(),
        reported: Type.Optional(TwinProperty),
        observedDesired: Type.Optional(TwinProperty),
      }),
    ),
  ),
  state: Type.Optional(Type.String()),
  lastOnlineTime: Type.Optional(Type.String()),
  reportToCloud: Type.Optional(Type.Boolean()),
  reportCycle: Type.Optional(Int64),
})

export const Device = Type.Object({
  apiVersion: Type.Literal('devices.kubeedge.io/v1beta1'),
  kind: Type.Literal('Device'),
  metadata: ObjectMeta,
  spec: DeviceSpec,
  status: Type.Optional(DeviceStatus),
})

export type Device = Static<typeof Device>
export type DeviceModel = Static<typeof DeviceModel>
export type DeviceProperty = Static<typeof DeviceProperty>
export type ModelProperty = Static<typeof ModelProperty>
export type DeviceStatus = Static<typeof DeviceStatus>
export type { PropertyType }

/**
 * A device as the edge serves it to mappers: the Device resolved with its model (model defaults
 * merged under instance values as KubeEdge's DMI cache does, kubeedge-compat.md §3.5). Carried on
 * `$hw/events/node/<node>/membership/get/result` and `.../membership/updated` in addition to
 * KubeEdge's fields, so a mapper in any process learns everything it needs over MQTT.
 */
export const EdgeProperty = Type.Object({
  name: Type.String(),
  type: StringEnum(PROPERTY_TYPES),
  accessMode: StringEnum(ACCESS_MODES),
  minimum: Type.Optional(Type.String()),
  maximum: Type.Optional(Type.String()),
  unit: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  /** The Device spec's desired value: a cloud-owned property (DESIGN.md §5). */
  desired: Type.Optional(Type.String()),
  collectCycle: Type.Optional(Int64),
  reportCycle: Type.Optional(Int64),
  reportToCloud: Type.Optional(Type.Boolean()),
  visitors: Type.Object({ protocolName: Type.Optional(Type.String()), configData: FreeObject }),
})

export const EdgeDevice = Type.Object({
  /** Twin id in the node's topic layout: `<name>` or `<namespace>/<name>`. */
  id: Type.String(),
  name: Type.String(),
  namespace: Type.String(),
  description: Type.Optional(Type.String()),
  model: Type.String(),
  protocol: Type.Object({ protocolName: Type.String(), configData: FreeObject }),
  properties: Type.Array(EdgeProperty),
})

export type EdgeDevice = Static<typeof EdgeDevice>
export type EdgeProperty = Static<typeof EdgeProperty>
