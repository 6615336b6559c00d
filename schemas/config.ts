/**
 * The edge node's configuration file (`tern edge --config FILE`), declared once with TypeBox:
 * the JSON Schema in `schemas/generated/edge-config.schema.json` and the TypeScript type both come
 * from here. A field with a `default` is filled in by the validator, so the static type lists it as
 * present; `Type.Optional` marks what may stay absent.
 */
import { Type, type Static } from '@sinclair/typebox'
import { EdgeHttpConfig } from './http-config.js'
import { TWIN_LIMIT_DEFAULTS } from './twin-limits.js'
import { StringEnum } from './typebox.js'

const strict = { additionalProperties: false } as const

export const TlsFiles = Type.Object(
  {
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file of the listener' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file of the listener' }),
    ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle that client certificates must chain to' })),
    requireClientCertificate: Type.Boolean({
      default: false,
      description: 'refuse TLS clients without a certificate signed by `ca`',
    }),
  },
  strict,
)

export const Listener = Type.Object(
  {
    protocol: StringEnum(['mqtt', 'mqtts', 'ws', 'wss'], {
      default: 'mqtt',
      description: 'mqtt = plain TCP, mqtts = TLS, ws = WebSocket, wss = WebSocket over TLS',
    }),
    host: Type.String({ default: '127.0.0.1', description: 'address to bind; `0.0.0.0` or `::` for every interface' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port; 0 lets the OS choose' }),
    path: Type.String({ default: '/mqtt', pattern: '^/', description: 'HTTP path of a ws/wss listener' }),
    allowAnonymous: Type.Optional(
      Type.Boolean({
        description: 'accept clients without a username; default: true on a loopback address, false elsewhere',
      }),
    ),
    tls: Type.Optional(TlsFiles),
  },
  strict,
)

export const AclRule = Type.Object(
  {
    topic: Type.String({
      minLength: 1,
      // `%d` only as the whole device level of a device topic: anywhere else it names nothing
      pattern: '^(?:(?!%d).)*$|^\\$hw/events/device/%d/(?:(?!%d).)+$',
      description:
        'MQTT topic filter; `%u` stands for the username and `%c` for the client id; `$hw/events/device/%d/…` for the device the username names (`<name>` or `<namespace>/<name>`); a placeholder at that device level grants the twin topics of that one device only (docs/security.md)',
    }),
    access: StringEnum(['read', 'write', 'readwrite', 'deny'], {
      description: 'read = subscribe and receive, write = publish, deny = neither (wins over allows)',
    }),
    users: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'usernames the rule applies to (`$anonymous` = clients without one); default: every client',
      }),
    ),
  },
  strict,
)

export const User = Type.Object(
  {
    username: Type.String({ minLength: 1 }),
    passwordHash: Type.String({
      pattern: '^\\$[67]\\$',
      description: 'Mosquitto password-file hash (`$7$…` PBKDF2-SHA512 or `$6$…` SHA512); make one with `tern passwd`',
    }),
  },
  strict,
)

export const ExternalBroker = Type.Object(
  {
    url: Type.String({ pattern: '^(mqtt|mqtts|ws|wss|tcp|ssl)://', description: 'e.g. mqtt://127.0.0.1:1883' }),
    username: Type.Optional(Type.String()),
    passwordFile: Type.Optional(Type.String({ description: 'file whose first line is the password' })),
    ca: Type.Optional(Type.String({ description: 'PEM CA bundle for an mqtts/wss broker' })),
    cert: Type.Optional(Type.String({ description: 'PEM client certificate' })),
    key: Type.Optional(Type.String({ description: 'PEM client key' })),
  },
  strict,
)

export const MqttConfig = Type.Object(
  {
    mode: StringEnum(['embedded', 'external'], {
      default: 'embedded',
      description: 'embedded = tern runs the broker; external = parts connect to `external.url` as clients',
    }),
    listeners: Type.Array(Listener, {
      minItems: 1,
      default: [{ protocol: 'mqtt', host: '127.0.0.1', port: 1883 }],
      description: 'listeners of the embedded broker (Mosquitto default: 127.0.0.1:1883, anonymous)',
    }),
    users: Type.Array(User, { default: [] }),
    acl: Type.Optional(
      Type.Array(AclRule, {
        description: 'topic access rules; when absent every client may read and write every topic',
      }),
    ),
    keepaliveLimit: Type.Integer({ minimum: 0, default: 0, description: 'largest keep-alive a client may ask for, seconds (0 = any)' }),
    maxPacketSize: Type.Integer({
      minimum: 0,
      maximum: 268_435_455,
      default: 1_048_576,
      description: 'largest MQTT packet a client may send, bytes, checked on the fixed header before it is buffered; the connection is closed (Mosquitto `max_packet_size`; 0 = MQTT’s own limit, 256 MiB)',
    }),
    maxConnections: Type.Integer({
      minimum: 0,
      default: 5000,
      description: 'clients connected at once over every listener; further connections are closed at once (Mosquitto `max_connections`; 0 = no limit)',
    }),
    maxQueuedMessages: Type.Integer({
      minimum: 0,
      default: 1000,
      description: 'QoS 1/2 messages held for one client, in flight or queued, online or offline; past it further ones for that client are dropped and counted (Mosquitto `max_queued_messages`; 0 = no limit)',
    }),
    maxQueuedBytes: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'payload bytes held for one client, as `maxQueuedMessages` (Mosquitto `max_queued_bytes`; 0 = no limit)',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 3_600_000,
      default: 10_000,
      description: 'a new connection that sends no complete CONNECT in this time is closed, ms (aedes: 30 s)',
    }),
    stallTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 3_600_000,
      default: 30_000,
      description: 'a connection backed up with messages for its client that takes nothing for this long is closed, ms (Mosquitto never closes one)',
    }),
    external: Type.Optional(ExternalBroker),
  },
  strict,
)

export const LogConfig = Type.Object(
  {
    level: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  },
  strict,
)

export const TwinConfig = Type.Object(
  {
    manifestsDir: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'directory of Device/DeviceModel YAML manifests (KubeEdge v1beta1) served by this node; watched for changes',
      }),
    ),
    topicLayout: StringEnum(['name', 'namespace/name'], {
      default: 'name',
      description: 'device id in the topics the edge originates: `<name>` (KubeEdge ≤ 1.16) or `<namespace>/<name>` (≥ 1.17)',
    }),
    fsync: Type.Boolean({
      default: false,
      description: 'fsync every twin write: survives power loss, not only a process crash, at a throughput cost',
    }),
    maxRequestBytes: Type.Integer({
      minimum: 1,
      default: TWIN_LIMIT_DEFAULTS.maxRequestBytes,
      description: 'largest payload of a twin/update, twin/get, state/update or membership/get request, bytes; a larger one is answered with a 400 `TWIN_REQUEST_TOO_LARGE` without being parsed',
    }),
    maxKeysPerDevice: Type.Integer({
      minimum: 1,
      default: TWIN_LIMIT_DEFAULTS.maxKeysPerDevice,
      description: 'most twins one device may have, deleted ones (tombstones) included; a local update that would add more is refused with a 400 `TWIN_TOO_MANY_KEYS` (properties of the Device spec always get their twins)',
    }),
  },
  strict,
)

export const BackoffConfig = Type.Object(
  {
    initialMs: Type.Integer({ minimum: 1, default: 1000, description: 'first retry delay and the floor of every delay, ms' }),
    maxMs: Type.Integer({ minimum: 1, default: 60_000, description: 'cap of every retry delay, ms' }),
    multiplier: Type.Number({ minimum: 1, default: 2, description: 'growth of the delay ceiling per failed attempt' }),
    resetAfterMs: Type.Integer({ minimum: 0, default: 30_000, description: 'a link that stayed up this long starts over from initialMs' }),
  },
  strict,
)

export const MappersConfig = Type.Object(
  {
    enabled: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      uniqueItems: true,
      description: 'protocols whose mapper runs inside this process (e.g. modbus); others can run as `tern mapper <protocol>`',
    }),
    heartbeatMs: Type.Integer({ minimum: 0, default: 60_000, description: 're-report unchanged property values this often, ms; 0 = report changes only' }),
    callTimeoutMs: Type.Integer({ minimum: 1, default: 10_000, description: 'a driver call that takes longer counts as a lost link, ms' }),
    spreadPolls: Type.Boolean({
      default: true,
      description: 'after the first read on connect, each device polls at a random phase of its shortest collectCycle, so devices sharing a line do not all fall due at once; false = every grid starts at connect',
    }),
    metricsMs: Type.Integer({
      minimum: 0,
      default: 60_000,
      description: 'publish each protocol’s counters (requests, outcomes by error code, per device) retained on $tern/mappers/<node>/<protocol>/metrics this often, ms; 0 = never',
    }),
    backoff: Type.Object(BackoffConfig.properties, { ...strict, default: {}, description: 'reconnect and write-retry back-off: capped exponential with jitter' }),
  },
  strict,
)

export const CloudLinkConfig = Type.Object(
  {
    url: Type.String({
      pattern: '^wss?://[^/]+/?$',
      description: 'CloudHub address, e.g. wss://cloud.example.com:10000 (ws:// only for tests on loopback)',
    }),
    ca: Type.Optional(Type.String({ minLength: 1, description: "PEM CA bundle CloudHub's certificate must chain to (the fleet CA, written by `tern join`); default: the system CAs" })),
    cert: Type.Optional(Type.String({ minLength: 1, description: "the node's PEM certificate (CN system:node:<name>), written by `tern join` and replaced at every renewal" })),
    key: Type.Optional(Type.String({ minLength: 1, description: "the node's PEM private key (0600), made by `tern join` on this node" })),
    renewAt: Type.Number({ minimum: 0.1, maximum: 0.95, default: 0.7, description: "renew the node certificate when this fraction of its lifetime has passed" }),
    secretFile: Type.Optional(
      Type.String({
        minLength: 1,
        description: "development only, without cert/key: file whose first line is the shared secret (default: the TERN_CLOUD_SECRET environment variable); a warning is logged at every start",
      }),
    ),
    heartbeatMs: Type.Integer({ minimum: 100, default: 15_000, description: 'send a keepalive this often, ms (KubeEdge: 15 s)' }),
    keepaliveTimeoutMs: Type.Integer({ minimum: 200, default: 45_000, description: 'reconnect when nothing arrived from CloudHub for this long, ms' }),
    resendMs: Type.Integer({ minimum: 50, default: 5000, description: 're-send an unacknowledged report after this many ms' }),
    backoff: Type.Object(
      { ...BackoffConfig.properties, maxMs: Type.Integer({ minimum: 1, default: 30_000, description: 'cap of every reconnect delay, ms' }) },
      { ...strict, default: {}, description: 'reconnect back-off: capped exponential with jitter' },
    ),
  },
  strict,
)

export const EdgedConfig = Type.Object(
  {
    runtimeEndpoint: Type.String({
      pattern: '^unix:///',
      // edged/cri/grpc-runtime.ts DEFAULT_RUNTIME_ENDPOINT (not imported: the schema module must not load gRPC code)
      default: 'unix:///run/containerd/containerd.sock',
      description: "the container runtime's CRI socket (containerd with its CRI plugin)",
    }),
    podManifestsDir: Type.Optional(
      Type.String({ minLength: 1, description: 'directory of static pod manifests (v1 Pod, YAML or JSON), run with no cloud; watched for changes' }),
    ),
    rootDir: Type.Optional(
      Type.String({ minLength: 1, description: "edged's directory for pod logs, volumes and the pods.json snapshot; default: `<dataDir>/edged`" }),
    ),
    nodeIP: Type.Optional(
      Type.String({ minLength: 1, description: "the node's address (the kubelet's --node-ip): each pod's hostIP (and podIP of hostNetwork pods) and the Node's InternalIP; default: the first non-loopback IPv4 address" }),
    ),
    syncPeriodSeconds: Type.Number({
      minimum: 0.1,
      maximum: 60,
      default: 1,
      description: "how often edged lists the runtime's sandboxes and containers and syncs every pod against them, seconds (the kubelet relists every 1 s)",
    }),
    runtimeRequestTimeoutSeconds: Type.Integer({
      minimum: 1,
      default: 120,
      description: 'deadline of one CRI call, seconds (the kubelet: 2 minutes); a call past it counts as the runtime being unavailable',
    }),
    containerLogMaxSize: Type.String({
      pattern: '^[1-9][0-9]{0,15}(Ki|Mi|Gi|Ti|k|M|G|T)?$',
      default: '10Mi',
      description: "a running container's log file is rotated once it reaches this size: bytes, or a quantity such as `10Mi` or `50M` (the kubelet's containerLogMaxSize)",
    }),
    containerLogMaxFiles: Type.Integer({
      minimum: 2,
      maximum: 1000,
      default: 5,
      description: "log files kept of each container, the one being written included; the oldest rotated ones are deleted (the kubelet's containerLogMaxFiles)",
    }),
    containerLogMonitorIntervalSeconds: Type.Number({
      minimum: 1,
      maximum: 3600,
      default: 10,
      description: "how often the size of every running container's log is checked, seconds (the kubelet's containerLogMonitorInterval)",
    }),
    containerLogMaxWorkers: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 1,
      description: "containers whose logs are rotated at the same time in one round (the kubelet's containerLogMaxWorkers)",
    }),
  },
  strict,
)

/**
 * The node status the edge reports (schemas/node-status.ts) and the kubelet's rules it follows:
 * measured every `updateSeconds` (the kubelet's nodeStatusUpdateFrequency), sent when it changed or
 * every `reportSeconds` (nodeStatusReportFrequency); pressure conditions from hard thresholds as
 * the kubelet's eviction manager computes them.
 */
export const NodeStatusConfig = Type.Object(
  {
    updateSeconds: Type.Number({ minimum: 0.1, default: 10, description: 'measure the node this often, s (kubelet nodeStatusUpdateFrequency: 10 s)' }),
    reportSeconds: Type.Number({ minimum: 1, default: 300, description: 'report an unchanged status this often, s (kubelet nodeStatusReportFrequency: 5 min)' }),
    maxPods: Type.Integer({ minimum: 0, maximum: 10_000, default: 110, description: 'capacity and allocatable `pods` (kubelet maxPods: 110)' }),
    internalIP: Type.Optional(Type.String({ minLength: 1, maxLength: 45, description: 'InternalIP address to report (edged.nodeIP, when set, must be the same); default: edged.nodeIP, else the first non-loopback IPv4 address, else IPv6' })),
    memoryAvailableMiB: Type.Number({ minimum: 0, default: 100, description: 'MemoryPressure when MemAvailable falls below this, MiB; also subtracted from allocatable memory (kubelet evictionHard memory.available<100Mi)' }),
    diskAvailablePercent: Type.Number({ minimum: 0, maximum: 100, default: 10, description: 'DiskPressure when the data directory’s filesystem has less free space than this, % (kubelet nodefs.available<10%)' }),
    inodesFreePercent: Type.Number({ minimum: 0, maximum: 100, default: 5, description: 'DiskPressure when it has fewer free inodes than this, % (kubelet nodefs.inodesFree<5%)' }),
    pidsAvailablePercent: Type.Number({ minimum: 0, maximum: 100, default: 5, description: 'PIDPressure when fewer than this share of pid_max are free, % (the kubelet sets no default pid.available)' }),
  },
  strict,
)

export const EdgeConfig = Type.Object(
  {
    node: Type.Object(
      {
        name: Type.String({
          default: 'edge-node',
          pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
          maxLength: 253,
          description: 'the edge node name (a Kubernetes node name)',
        }),
        status: Type.Object(NodeStatusConfig.properties, { ...strict, default: {}, description: 'what the node reports to the cloud as its Kubernetes Node status (with a `cloud` link)' }),
      },
      { ...strict, default: {} },
    ),
    dataDir: Type.String({ default: 'tern-data', description: 'directory of the node LevelDB (relative to the working directory)' }),
    log: Type.Object(LogConfig.properties, { ...strict, default: {} }),
    mqtt: Type.Object(MqttConfig.properties, { ...strict, default: {} }),
    twin: Type.Object(TwinConfig.properties, { ...strict, default: {} }),
    mappers: Type.Object(MappersConfig.properties, { ...strict, default: {} }),
    cloud: Type.Optional(CloudLinkConfig),
    edged: Type.Optional(EdgedConfig),
    http: EdgeHttpConfig,
  },
  { ...strict, title: 'tern edge node configuration' },
)

export type EdgeConfig = Static<typeof EdgeConfig>
export type MqttConfig = EdgeConfig['mqtt']
export type ListenerConfig = Static<typeof Listener>
export type AclRule = Static<typeof AclRule>
export type UserConfig = Static<typeof User>
export type ExternalBrokerConfig = Static<typeof ExternalBroker>
export type MappersConfig = EdgeConfig['mappers']
export type CloudLinkConfig = Static<typeof CloudLinkConfig>
export type EdgedConfig = Static<typeof EdgedConfig>
export type NodeStatusConfig = Static<typeof NodeStatusConfig>
