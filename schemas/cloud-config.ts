/**
 * The cloud side's configuration file (`tern cloud --config FILE`): CloudHub's listener and limits,
 * how edge nodes authenticate, the Kubernetes connection and the status write budget. Declared with
 * TypeBox like the edge configuration; defaults are filled in by the validator.
 */
import { Type, type Static } from '@sinclair/typebox'
import { LogConfig } from './config.js'
import { HttpConfig } from './http-config.js'
import { StringEnum } from './typebox.js'

const strict = { additionalProperties: false } as const

export const HubConfig = Type.Object(
  {
    host: Type.String({ default: '0.0.0.0', description: 'address CloudHub binds' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 10000, description: 'CloudHub port (KubeEdge: 10000); 0 lets the OS choose' }),
    tls: Type.Optional(
      Type.Object(
        {
          cert: Type.String({ minLength: 1, description: "PEM certificate chain of CloudHub's listener" }),
          key: Type.String({ minLength: 1, description: 'PEM private key of the listener' }),
        },
        { ...strict, description: "the operator's own serving certificate (it must chain to the fleet CA, which nodes pin); default: one the fleet CA issues" },
      ),
    ),
    serverNames: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
      default: [],
      description: "DNS names and IP addresses edges dial CloudHub by, put in the serving certificate the CA issues (localhost, 127.0.0.1 and the host name are always in it)",
    }),
    sessionLimit: Type.Integer({ minimum: 1, default: 1000, description: 'most edge nodes connected at once; more are refused with HTTP 503 (KubeEdge nodeLimit: 500)' }),
    keepaliveTimeoutMs: Type.Integer({ minimum: 200, default: 45_000, description: 'close a session when nothing arrived from its node for this long, ms' }),
    resendMs: Type.Integer({ minimum: 50, default: 5000, description: 're-send an unacknowledged downstream message after this many ms (KubeEdge: 5 s)' }),
  },
  strict,
)

export const StreamsConfig = Type.Object(
  {
    host: Type.String({ default: '0.0.0.0', description: 'address the kubelet stream endpoint binds' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 10350, description: "port of the kubelet stream endpoint (KubeEdge's stream port: 10350); 0 lets the OS choose" }),
    clientCA: Type.String({ minLength: 1, description: "PEM file of the CA(s) that issued the API server's kubelet client certificate (its --kubelet-client-certificate); requests without such a certificate get 401" }),
    allowedNames: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { default: [], description: 'when not empty, only client certificates with one of these common names (e.g. kube-apiserver-kubelet-client); others get 403' }),
    advertiseAddress: Type.Optional(
      Type.String({ minLength: 1, maxLength: 253, description: "the address the API server reaches this endpoint at: written as every edge Node's InternalIP (the API server then needs --kubelet-preferred-address-types starting with InternalIP); unset: the edge's own addresses stay, and the API server host must DNAT them to this endpoint, as KubeEdge's iptables manager does" }),
    ),
    advertisePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "the port in the Nodes' status.daemonEndpoints.kubeletEndpoint; default: the bound port" })),
    tls: Type.Optional(
      Type.Object(
        {
          cert: Type.String({ minLength: 1, description: "PEM certificate chain of the endpoint (the API server checks it against --kubelet-certificate-authority when that is set)" }),
          key: Type.String({ minLength: 1, description: 'PEM private key' }),
        },
        { ...strict, description: "the endpoint's serving certificate; default: CloudHub's" },
      ),
    ),
    replyTimeoutMs: Type.Integer({ minimum: 100, default: 30_000, description: 'how long an edge may take to answer a new stream (runtime calls included), ms' }),
    maxPerNode: Type.Integer({ minimum: 1, maximum: 10_000, default: 32, description: 'streams (kubectl logs, exec, attach, port-forward connections) open at once to one node; the next gets 429 STREAM_LIMIT_REACHED until one ends' }),
  },
  { ...strict, description: 'the kubelet stream endpoint: kubectl logs, exec, attach and port-forward reach edge pods through it and the nodes\' stream tunnels; off when absent' },
)

export const CloudConfig = Type.Object(
  {
    hub: Type.Object(HubConfig.properties, { ...strict, default: {} }),
    streams: Type.Optional(StreamsConfig),
    auth: Type.Object(
      {
        mode: StringEnum(['certificate', 'shared-secret'], {
          default: 'certificate',
          description:
            'certificate = each node presents its own certificate from the fleet CA (mutual TLS, `tern join`); shared-secret = every node presents one secret (development only: anyone holding it can act as any node; a warning is logged at every start)',
        }),
        secretFile: Type.Optional(
          Type.String({ minLength: 1, description: 'shared-secret mode: file whose first line is the secret edge nodes present; default: the TERN_CLOUD_SECRET environment variable' }),
        ),
      },
      { ...strict, default: {} },
    ),
    identity: Type.Object(
      {
        namespace: Type.Optional(
          Type.String({ minLength: 1, maxLength: 63, description: "namespace of the CA Secret, join tokens and node records; default: the kubeconfig context's namespace, else tern-system" }),
        ),
        caSecret: Type.String({ minLength: 1, maxLength: 253, default: 'tern-ca', description: "Secret holding the fleet CA's certificate and key (created on first start when absent)" }),
        ca: Type.Optional(
          Type.Object(
            {
              cert: Type.String({ minLength: 1, description: 'PEM CA certificate file' }),
              key: Type.String({ minLength: 1, description: 'PEM CA private key file' }),
            },
            { ...strict, description: 'keep the CA in these files instead of a Secret: an operator-supplied CA, or created here (0600) on first start when both are absent' },
          ),
        ),
        nodeCertificateSeconds: Type.Integer({ minimum: 10, maximum: 366 * 86_400, default: 86_400, description: 'lifetime of node certificates, s; nodes renew at ~70 % of it' }),
        serverCertificateSeconds: Type.Integer({ minimum: 10, maximum: 366 * 86_400, default: 7 * 86_400, description: "lifetime of CloudHub's serving certificate when the CA issues it, s; renewed at ~70 % of it" }),
      },
      { ...strict, default: {} },
    ),
    kube: Type.Object(
      {
        kubeconfig: Type.Optional(Type.String({ minLength: 1, description: 'kubeconfig file; default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account' })),
        syncTimeoutMs: Type.Integer({ minimum: 1000, default: 120_000, description: 'give up starting when the first Device/DeviceModel lists have not arrived after this long, ms' }),
        requestTimeoutMs: Type.Integer({ minimum: 1000, default: 60_000, description: 'give up an API request (watches aside) not answered in full after this long and close its connection, ms' }),
        watchSilenceMs: Type.Integer({ minimum: 1000, default: 150_000, description: 'end a watch that has carried bookmarks and then nothing (no event, no bookmark) for this long and resume it over a new connection, ms (kube-apiserver bookmarks every 60 s)' }),
      },
      { ...strict, default: {} },
    ),
    status: Type.Object(
      {
        qps: Type.Number({ exclusiveMinimum: 0, default: 50, description: 'Device and pod status patches per second, at most (after coalescing per device and per pod)' }),
        burst: Type.Integer({ minimum: 1, default: 100, description: 'status patches allowed at once above qps' }),
        workers: Type.Integer({ minimum: 1, maximum: 64, default: 8, description: 'status patches in flight at once (never two for one device)' }),
      },
      { ...strict, default: {} },
    ),
    nodes: Type.Object(
      {
        leaseDurationSeconds: Type.Integer({ minimum: 1, default: 40, description: "a node's Lease in kube-node-lease: leaseDurationSeconds (kubelet: 40)" }),
        leaseRenewSeconds: Type.Number({ minimum: 0.1, default: 10, description: 'renew the Lease of a connected node this often, s (kubelet: a quarter of the duration)' }),
        gracePeriodSeconds: Type.Number({ minimum: 0.1, default: 40, description: 'mark a node Ready=Unknown when nothing was heard from it (and no replica renewed its Lease) for this long, s (kube-controller-manager node-monitor-grace-period: 40 s)' }),
        monitorPeriodSeconds: Type.Number({ minimum: 0.1, default: 5, description: 'check silent nodes this often, s (node-monitor-period: 5 s)' }),
      },
      { ...strict, default: {}, description: 'the Nodes of edge nodes: their status, Leases and NotReady after silence' },
    ),
    events: Type.Object(
      {
        qps: Type.Number({ exclusiveMinimum: 0, default: 5, description: "Event writes (create or patch of a repeat) per second for all edge nodes, at most (each edge's kubelet-like spam filter comes first)" }),
        burst: Type.Integer({ minimum: 1, default: 50, description: 'Event writes allowed at once above qps' }),
      },
      { ...strict, default: {}, description: 'Events about edge nodes’ pods' },
    ),
    log: Type.Object(LogConfig.properties, { ...strict, default: {} }),
    http: HttpConfig,
  },
  { ...strict, title: 'tern cloud configuration' },
)

export type CloudConfig = Static<typeof CloudConfig>
