/**
 * An OPC-UA device's configuration, resolved: connection and security settings from
 * `protocol.configData` and one point (node id or browse path) per property visitor. Every problem
 * is reported with its manifest path. Secrets are not read here (validation runs on every
 * membership message): the password file or variable is read when the driver connects.
 */
import type { EdgeDevice, EdgeProperty, PropertyType } from '../../schemas/device.js'
import type { OpcuaSecurityMode, OpcuaSecurityPolicy } from '../../schemas/opcua.js'
import { OpcuaProtocolConfig as opcuaProtocolConfigCheck } from '../../schemas/generated/validators/OpcuaProtocolConfig.js'
import { OpcuaVisitor as opcuaVisitorCheck } from '../../schemas/generated/validators/OpcuaVisitor.js'
import { validator, type Problem } from '../../schemas/validate.js'
import { browsePathText, normalizeNodeId, parseBrowsePath, type BrowseStep } from './codec.js'
import { PROTOCOL_CONFIG_PATH, checkConfigData, visitorConfigPath } from '../config-data.js'

export type Identity =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'userName'; readonly userName: string; readonly password: { readonly file: string } | { readonly env: string } | undefined }
  | { readonly kind: 'certificate'; readonly certificate: string; readonly privateKey: string }

export interface OpcuaSettings {
  readonly url: string
  readonly securityMode: OpcuaSecurityMode
  readonly securityPolicy: OpcuaSecurityPolicy
  readonly identity: Identity
  readonly acceptUnknownServerCertificate: boolean
  readonly timeoutMs: number
  readonly publishingIntervalMs: number
  /** the session keep-alive: while the link is quiet, a request to the server about this often, ms */
  readonly keepAliveMs: number
  /** the socket is dropped after this long without traffic in either direction, ms */
  readonly socketIdleMs: number
}

export interface Point {
  readonly name: string
  readonly type: PropertyType
  /** sampling interval of its monitored item, ms */
  readonly samplingMs: number
  readonly target: { readonly kind: 'nodeId'; readonly nodeId: string } | { readonly kind: 'browsePath'; readonly steps: readonly BrowseStep[]; readonly text: string }
}

export type ResolvedDevice = { ok: true; settings: OpcuaSettings; points: ReadonlyMap<string, Point> } | { ok: false; problems: Problem[] }

const checkProtocol = validator(opcuaProtocolConfigCheck)
const checkVisitor = validator(opcuaVisitorCheck)
const DEFAULT_CYCLE_MS = 1000
const MIN_PUBLISHING_MS = 50
/** a session keep-alive at least this often, and never more often than the floor */
const KEEPALIVE_MAX_MS = 5000
const KEEPALIVE_MIN_MS = 1000
/**
 * An idle link carries only keep-alives: the socket's idle timeout must outlast several of them, or
 * a keep-alive a little late on a busy gateway drops a healthy link (one keep-alive period is what
 * the request timeout alone allowed, and a quiet subscription publishes even less often).
 */
const SOCKET_IDLE_KEEPALIVES = 3

/** Keep-alive and socket idle timeout for a request timeout: the idle timeout spans several keep-alives. */
export function linkTimers(timeoutMs: number): { keepAliveMs: number; socketIdleMs: number } {
  const keepAliveMs = Math.max(KEEPALIVE_MIN_MS, Math.min(KEEPALIVE_MAX_MS, timeoutMs))
  return { keepAliveMs, socketIdleMs: Math.max(timeoutMs, SOCKET_IDLE_KEEPALIVES * keepAliveMs) }
}

export function resolveDevice(device: EdgeDevice): ResolvedDevice {
  const problems: Problem[] = []
  const points = new Map<string, Point>()
  device.properties.forEach((property, i) => {
    const point = resolvePoint(property, visitorConfigPath(i), problems)
    if (point !== undefined) points.set(property.name, point)
  })
  const settings = resolveSettings(device.protocol.configData, points, problems)
  if (problems.length > 0 || settings === undefined) return { ok: false, problems }
  return { ok: true, settings, points }
}

function resolveSettings(configData: Record<string, unknown>, points: ReadonlyMap<string, Point>, problems: Problem[]): OpcuaSettings | undefined {
  const base = PROTOCOL_CONFIG_PATH
  const c = checkConfigData(checkProtocol, configData, base, problems)
  if (c === undefined) return undefined
  const securityPolicy = c.securityPolicy ?? (c.securityMode === 'None' ? 'None' : 'Basic256Sha256')
  if ((c.securityMode === 'None') !== (securityPolicy === 'None')) {
    problems.push({ path: `${base}/securityPolicy`, message: `securityPolicy ${securityPolicy} does not go with securityMode ${c.securityMode} (None goes with None only)` })
  }
  const files = [c.password, c.passwordFile].filter((f) => f !== undefined)
  if (files.length === 2 && c.password !== c.passwordFile) problems.push({ path: `${base}/passwordFile`, message: 'password and passwordFile name different files' })
  if (files.length > 0 && c.passwordEnv !== undefined) problems.push({ path: `${base}/passwordEnv`, message: 'set a password file or passwordEnv, not both' })
  if ((c.certificate === undefined) !== (c.privateKey === undefined)) {
    problems.push({ path: `${base}/${c.certificate === undefined ? 'certificate' : 'privateKey'}`, message: 'certificate and privateKey go together' })
  }
  const passwordSource = files[0] !== undefined ? { file: files[0] } : c.passwordEnv !== undefined ? { env: c.passwordEnv } : undefined
  if (c.userName === undefined && passwordSource !== undefined) problems.push({ path: `${base}/userName`, message: 'a password needs a userName' })
  // KubeEdge's precedence (kubeedge-compat.md §6.8): certificate and key, then user name, then anonymous
  const identity: Identity =
    c.certificate !== undefined && c.privateKey !== undefined
      ? { kind: 'certificate', certificate: c.certificate, privateKey: c.privateKey }
      : c.userName !== undefined
        ? { kind: 'userName', userName: c.userName, password: passwordSource }
        : { kind: 'anonymous' }
  const fastest = Math.min(...[...points.values()].map((p) => p.samplingMs))
  return {
    url: c.url,
    securityMode: c.securityMode,
    securityPolicy,
    identity,
    acceptUnknownServerCertificate: c.acceptUnknownServerCertificate,
    timeoutMs: c.timeout,
    ...linkTimers(c.timeout),
    publishingIntervalMs: c.publishingInterval ?? (Number.isFinite(fastest) ? Math.max(MIN_PUBLISHING_MS, fastest) : DEFAULT_CYCLE_MS),
  }
}

function resolvePoint(property: EdgeProperty, base: string, problems: Problem[]): Point | undefined {
  const configData = property.visitors.configData
  if (Object.keys(configData).length === 0) return undefined
  const v = checkConfigData(checkVisitor, configData, base, problems)
  if (v === undefined) return undefined
  if (property.type === 'STREAM') {
    problems.push({ path: base, message: 'STREAM properties cannot be served by OPC-UA' })
    return undefined
  }
  const samplingMs = property.collectCycle === undefined || property.collectCycle <= 0 ? DEFAULT_CYCLE_MS : property.collectCycle
  if (v.nodeID !== undefined) {
    const nodeId = normalizeNodeId(v.nodeID)
    if (nodeId === undefined) {
      problems.push({ path: `${base}/nodeID`, message: `"${v.nodeID}" is not a node id (ns=<index>;i=<number>, ns=<index>;s=<name>, g=<guid> or b=<base64>)` })
      return undefined
    }
    return { name: property.name, type: property.type, samplingMs, target: { kind: 'nodeId', nodeId } }
  }
  if (v.browseName !== undefined) {
    const steps = parseBrowsePath(v.browseName)
    if (steps === undefined) {
      problems.push({ path: `${base}/browseName`, message: 'an empty browse path' })
      return undefined
    }
    return { name: property.name, type: property.type, samplingMs, target: { kind: 'browsePath', steps, text: browsePathText(steps) } }
  }
  problems.push({ path: base, message: 'set nodeID, or browseName (a browse path from the Objects folder)' })
  return undefined
}
