/**
 * The HTTP listener of `tern edge` and `tern cloud` (config `http`): Prometheus metrics on
 * `/metrics`, liveness on `/healthz`, readiness on `/readyz` (docs/observability.md). `http: false`
 * turns it off, and then nothing of it (nor prom-client) is loaded.
 */
import { Type, type Static } from '@sinclair/typebox'
import { HTTP_DEVICE_SERIES_DEFAULT, HTTP_LISTEN_DEFAULT, HTTP_MAX_CONNECTIONS_DEFAULT, LISTEN_PATTERN } from './http-listener.js'

export const HttpListenerConfig = Type.Object(
  {
    // no `default` keywords: ajv fills none inside a union, so resolveHttp() applies them
    listen: Type.Optional(Type.String({
      // host:port with an IPv4 address or host name, or [IPv6]:port; port 0 lets the OS choose
      pattern: LISTEN_PATTERN,
      description: `address and port of the metrics and health listener, \`host:port\` or \`[ipv6]:port\` (default ${HTTP_LISTEN_DEFAULT}); \`0.0.0.0:9464\` for every interface (probes from a kubelet need it)`,
    })),
    deviceSeries: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_000,
        description: `most devices with their own \`device\` label in the per-device mapper metrics (default ${HTTP_DEVICE_SERIES_DEFAULT}); counters of the devices past it are summed under \`device="_other"\``,
      }),
    ),
    maxConnections: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        description: `connections the listener holds at once (default ${HTTP_MAX_CONNECTIONS_DEFAULT}); further ones are closed at once, so slow or piled-up clients cannot take the descriptors the broker needs (0 = no limit)`,
      }),
    ),
  },
  { additionalProperties: false },
)

export const HttpConfig = Type.Union([Type.Literal(false), HttpListenerConfig], {
  default: {},
  description: 'the metrics and health HTTP listener (docs/observability.md); `false` = none',
})

/** `tern edge`'s listener may also serve the web view. */
export const EdgeHttpConfig = Type.Union(
  [
    Type.Literal(false),
    Type.Object(
      {
        ...HttpListenerConfig.properties,
        ui: Type.Optional(
          Type.Boolean({ description: 'serve the live web view of the node under /ui/ (docs/web-view.md); default false, and then nothing of it is loaded' }),
        ),
      },
      { additionalProperties: false },
    ),
  ],
  { default: {}, description: 'the metrics and health HTTP listener (docs/observability.md), and the web view; `false` = none' },
)

export type HttpListenerConfig = Static<typeof HttpListenerConfig>
export type HttpConfig = Static<typeof HttpConfig>
export type EdgeHttpConfig = Static<typeof EdgeHttpConfig>
