/**
 * The HTTP listener's defaults and address form, apart from its schema (schemas/http-config.ts) so
 * that a running node, which validates with compiled code, does not load the schema builder.
 */
import type { HttpConfig } from './http-config.js'

/** The listener's address when `http` does not name one (prom-client's customary exporter port). */
export const HTTP_LISTEN_DEFAULT = '127.0.0.1:9464'
/** Devices with their own label in the per-device mapper metrics, when `http` does not say. */
export const HTTP_DEVICE_SERIES_DEFAULT = 100
/**
 * Connections the listener holds at once, when `http` does not say: a few scrapers and probes and
 * the web view's pages (at most 32 live ones) fit well inside it, while a flood of connections
 * cannot take the descriptors the broker and LevelDB share with it.
 */
export const HTTP_MAX_CONNECTIONS_DEFAULT = 128
/** `host:port` or `[ipv6]:port`, port 0-65535 */
export const LISTEN_PATTERN = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$'

/** The listener `http` configures, defaults applied; undefined for `http: false`. */
export interface HttpListener {
  host: string
  port: number
  deviceSeries: number
  /** 0 = no limit */
  maxConnections: number
}

export function resolveHttp(config: HttpConfig): HttpListener | undefined {
  if (config === false) return undefined
  const listen = config.listen ?? HTTP_LISTEN_DEFAULT
  const colon = listen.lastIndexOf(':')
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return { host, port: Number(listen.slice(colon + 1)), deviceSeries: config.deviceSeries ?? HTTP_DEVICE_SERIES_DEFAULT, maxConnections: config.maxConnections ?? HTTP_MAX_CONNECTIONS_DEFAULT }
}
