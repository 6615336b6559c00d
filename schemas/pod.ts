/**
 * Kubernetes core/v1 Pod, the subset of fields edged runs, with the API server's field names and
 * defaults, so a manifest written for a kubelet (or copied from `kubectl get pod -o yaml`) applies
 * unchanged. Fields edged does not act on are kept (server-set metadata, scheduling hints); the
 * rules the API server checks beyond a schema (unique names, references, quantities) are edged's
 * validator's. Status is edged's own output, never read from a manifest.
 */
import { Type, type Static } from '@sinclair/typebox'
import { ObjectMeta } from './device.js'
import { StringEnum } from './typebox.js'

const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
const Port = Type.Integer({ minimum: 1, maximum: 65535 })
/** A port number, or the name of a container port (IANA_SVC_NAME). */
const NamedPort = Type.Union([Port, Type.String({ minLength: 1, maxLength: 15 })])
const Seconds = (dflt: number, minimum = 0) => Type.Integer({ minimum, default: dflt })
const Strings = Type.Array(Type.String())
/** A resource quantity: `500m`, `1.5`, `128Mi`, `1G`, `2e3`, or a plain number. */
export const Quantity = Type.Union([Type.String({ pattern: '^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$' }), Type.Number()])
const Resources = Type.Record(Type.String(), Quantity)

export const PodMeta = Type.Composite([ObjectMeta, Type.Object({ deletionTimestamp: Type.Optional(Type.String()), deletionGracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 0 })) })], {
  additionalProperties: true,
})

const ExecAction = Type.Object({ command: Type.Array(Type.String(), { minItems: 1 }) })
const HttpGetAction = Type.Object({
  path: Type.Optional(Type.String()),
  port: NamedPort,
  host: Type.Optional(Type.String()),
  scheme: Type.Optional(StringEnum(['HTTP', 'HTTPS'] as const, { default: 'HTTP' })),
  httpHeaders: Type.Optional(Type.Array(Type.Object({ name: Type.String({ minLength: 1 }), value: Type.String() }))),
})
const TcpSocketAction = Type.Object({ port: NamedPort, host: Type.Optional(Type.String()) })

/** Exactly one of exec, httpGet, tcpSocket (the validator checks "exactly one"). */
export const Probe = Type.Object({
  exec: Type.Optional(ExecAction),
  httpGet: Type.Optional(HttpGetAction),
  tcpSocket: Type.Optional(TcpSocketAction),
  initialDelaySeconds: Type.Optional(Seconds(0)),
  timeoutSeconds: Type.Optional(Seconds(1, 1)),
  periodSeconds: Type.Optional(Seconds(10, 1)),
  successThreshold: Type.Optional(Seconds(1, 1)),
  failureThreshold: Type.Optional(Seconds(3, 1)),
  terminationGracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
})

/** A lifecycle hook: exactly one of exec, httpGet, sleep (tcpSocket is accepted for old manifests and, as on a kubelet, fails when run). */
export const LifecycleHandler = Type.Object({
  exec: Type.Optional(ExecAction),
  httpGet: Type.Optional(HttpGetAction),
  tcpSocket: Type.Optional(TcpSocketAction),
  sleep: Type.Optional(Type.Object({ seconds: Type.Integer({ minimum: 0 }) })),
})

const KeyRef = Type.Object({ name: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }), optional: Type.Optional(Type.Boolean()) })
const EnvVar = Type.Object({
  name: Type.String({ minLength: 1 }),
  value: Type.Optional(Type.String()),
  valueFrom: Type.Optional(
    Type.Object({
      fieldRef: Type.Optional(Type.Object({ fieldPath: Type.String({ minLength: 1 }), apiVersion: Type.Optional(Type.String()) })),
      resourceFieldRef: Type.Optional(Type.Object({ resource: Type.String(), containerName: Type.Optional(Type.String()), divisor: Type.Optional(Quantity) })),
      configMapKeyRef: Type.Optional(KeyRef),
      secretKeyRef: Type.Optional(KeyRef),
    }),
  ),
})
const EnvFromSource = Type.Object({
  prefix: Type.Optional(Type.String()),
  configMapRef: Type.Optional(Type.Object({ name: Type.String({ minLength: 1 }), optional: Type.Optional(Type.Boolean()) })),
  secretRef: Type.Optional(Type.Object({ name: Type.String({ minLength: 1 }), optional: Type.Optional(Type.Boolean()) })),
})

export const ContainerPort = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 15 })),
  containerPort: Port,
  hostPort: Type.Optional(Port),
  hostIP: Type.Optional(Type.String()),
  protocol: Type.Optional(StringEnum(['TCP', 'UDP', 'SCTP'] as const, { default: 'TCP' })),
})

export const SecurityContext = Type.Object({
  runAsUser: Type.Optional(Type.Integer({ minimum: 0 })),
  runAsGroup: Type.Optional(Type.Integer({ minimum: 0 })),
  runAsNonRoot: Type.Optional(Type.Boolean()),
  privileged: Type.Optional(Type.Boolean()),
  allowPrivilegeEscalation: Type.Optional(Type.Boolean()),
  readOnlyRootFilesystem: Type.Optional(Type.Boolean()),
  capabilities: Type.Optional(Type.Object({ add: Type.Optional(Strings), drop: Type.Optional(Strings) })),
})

export const PodSecurityContext = Type.Object({
  runAsUser: Type.Optional(Type.Integer({ minimum: 0 })),
  runAsGroup: Type.Optional(Type.Integer({ minimum: 0 })),
  runAsNonRoot: Type.Optional(Type.Boolean()),
  fsGroup: Type.Optional(Type.Integer({ minimum: 0 })),
  supplementalGroups: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }))),
  sysctls: Type.Optional(Type.Array(Type.Object({ name: Type.String({ minLength: 1 }), value: Type.String() }))),
})

export const Container = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 63, pattern: DNS1123_LABEL }),
    image: Type.String({ minLength: 1 }),
    command: Type.Optional(Strings),
    args: Type.Optional(Strings),
    workingDir: Type.Optional(Type.String()),
    ports: Type.Optional(Type.Array(ContainerPort)),
    env: Type.Optional(Type.Array(EnvVar)),
    envFrom: Type.Optional(Type.Array(EnvFromSource)),
    resources: Type.Optional(Type.Object({ limits: Type.Optional(Resources), requests: Type.Optional(Resources) })),
    volumeMounts: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String({ minLength: 1 }),
          mountPath: Type.String({ minLength: 1 }),
          readOnly: Type.Optional(Type.Boolean()),
          subPath: Type.Optional(Type.String()),
        }),
      ),
    ),
    livenessProbe: Type.Optional(Probe),
    readinessProbe: Type.Optional(Probe),
    startupProbe: Type.Optional(Probe),
    lifecycle: Type.Optional(Type.Object({ postStart: Type.Optional(LifecycleHandler), preStop: Type.Optional(LifecycleHandler) })),
    /** Defaulted as the API server does: Always for `:latest` or an untagged image, else IfNotPresent. */
    imagePullPolicy: Type.Optional(StringEnum(['Always', 'IfNotPresent', 'Never'] as const)),
    securityContext: Type.Optional(SecurityContext),
    stdin: Type.Optional(Type.Boolean()),
    /** the runtime closes the container's stdin when the first attach ends (kubectl run -i) */
    stdinOnce: Type.Optional(Type.Boolean()),
    tty: Type.Optional(Type.Boolean()),
    terminationMessagePath: Type.Optional(Type.String()),
    terminationMessagePolicy: Type.Optional(StringEnum(['File', 'FallbackToLogsOnError'] as const)),
  },
  { additionalProperties: true },
)

const KeyToPath = Type.Object({ key: Type.String({ minLength: 1 }), path: Type.String({ minLength: 1 }), mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o777 })) })
export const HOST_PATH_TYPES = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] as const

/** Exactly one source per volume (the validator checks "exactly one"; other sources are refused by name). */
export const Volume = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 63, pattern: DNS1123_LABEL }),
    emptyDir: Type.Optional(Type.Object({ medium: Type.Optional(StringEnum(['', 'Memory'] as const)), sizeLimit: Type.Optional(Quantity) })),
    hostPath: Type.Optional(Type.Object({ path: Type.String({ minLength: 1 }), type: Type.Optional(StringEnum(HOST_PATH_TYPES)) })),
    configMap: Type.Optional(
      Type.Object({
        name: Type.String({ minLength: 1 }),
        items: Type.Optional(Type.Array(KeyToPath)),
        defaultMode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o777 })),
        optional: Type.Optional(Type.Boolean()),
      }),
    ),
    secret: Type.Optional(
      Type.Object({
        secretName: Type.String({ minLength: 1 }),
        items: Type.Optional(Type.Array(KeyToPath)),
        defaultMode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o777 })),
        optional: Type.Optional(Type.Boolean()),
      }),
    ),
  },
  { additionalProperties: true },
)

export const PodSpec = Type.Object(
  {
    containers: Type.Array(Container, { minItems: 1 }),
    initContainers: Type.Optional(Type.Array(Container)),
    volumes: Type.Optional(Type.Array(Volume)),
    restartPolicy: Type.Optional(StringEnum(['Always', 'OnFailure', 'Never'] as const, { default: 'Always' })),
    terminationGracePeriodSeconds: Type.Optional(Seconds(30)),
    hostNetwork: Type.Optional(Type.Boolean()),
    hostPID: Type.Optional(Type.Boolean()),
    hostIPC: Type.Optional(Type.Boolean()),
    hostname: Type.Optional(Type.String({ maxLength: 63, pattern: DNS1123_LABEL })),
    nodeName: Type.Optional(Type.String()),
    securityContext: Type.Optional(PodSecurityContext),
    /** Only `system-node-critical` has an effect on a node (the OOM score of the kubelet's critical pods). */
    priorityClassName: Type.Optional(Type.String()),
    imagePullSecrets: Type.Optional(Type.Array(Type.Object({ name: Type.String({ minLength: 1 }) }))),
  },
  // Scheduling and service-account fields of a manifest are kept and not acted on (docs/edged.md lists them).
  { additionalProperties: true },
)

export const Pod = Type.Object({
  apiVersion: Type.Literal('v1'),
  kind: Type.Literal('Pod'),
  metadata: PodMeta,
  spec: PodSpec,
  status: Type.Optional(Type.Unknown()),
})

export type Pod = Static<typeof Pod>
export type PodSpec = Static<typeof PodSpec>
export type Container = Static<typeof Container>
export type ContainerPort = Static<typeof ContainerPort>
export type Volume = Static<typeof Volume>
export type Probe = Static<typeof Probe>
export type LifecycleHandler = Static<typeof LifecycleHandler>
export type SecurityContext = Static<typeof SecurityContext>
export type PodSecurityContext = Static<typeof PodSecurityContext>

/** Pod status as the kubelet reports it (core/v1 PodStatus, the fields edged sets). */
export interface ContainerStateWaiting { reason: string; message?: string }
export interface ContainerStateRunning { startedAt: string }
export interface ContainerStateTerminated { exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt?: string; containerID?: string; signal?: number }
export interface ContainerState { waiting?: ContainerStateWaiting; running?: ContainerStateRunning; terminated?: ContainerStateTerminated }
export interface ContainerStatus {
  name: string
  image: string
  imageID: string
  containerID?: string
  ready: boolean
  started?: boolean
  restartCount: number
  state: ContainerState
  lastState: ContainerState
}
export type PodConditionType = 'PodScheduled' | 'Initialized' | 'ContainersReady' | 'Ready'
export interface PodCondition { type: PodConditionType; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string; lastTransitionTime: string; lastProbeTime?: string | null }
export interface PodStatus {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown'
  conditions: PodCondition[]
  message?: string
  reason?: string
  hostIP?: string
  hostIPs?: Array<{ ip: string }>
  podIP?: string
  podIPs?: Array<{ ip: string }>
  startTime?: string
  initContainerStatuses?: ContainerStatus[]
  containerStatuses: ContainerStatus[]
  qosClass?: 'Guaranteed' | 'Burstable' | 'BestEffort'
}
