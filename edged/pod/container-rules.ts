/**
 * The API server's rules for one container beyond its schema (pkg/apis/core/validation:
 * validateContainers, validatePorts, validateEnv, validateVolumeMounts, validateProbe,
 * ValidateResourceRequirements), plus the fields edged refuses by name because it does not run them.
 */
import type { Container, ContainerPort, LifecycleHandler, Probe } from '../../schemas/pod.js'
import { duplicate, forbidden, invalid, notFound, required, unsupported, type FieldPath, type PodProblem } from './field-path.js'
import { compareQuantities, isNegativeQuantity, isQuantity } from './quantity.js'

/** IsValidPortName: IANA_SVC_NAME, 1-15 lowercase letters, digits and single hyphens, at least one letter. */
const PORT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/
/** IsEnvVarName */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/
/** The downward-API fields edged fills in (validEnvDownwardAPIFieldPathExpressions, less the service account). */
export const ENV_FIELD_PATHS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'status.podIP', 'status.podIPs', 'status.hostIP', 'status.hostIPs'] as const
const LABEL_OR_ANNOTATION_PATH = /^metadata\.(labels|annotations)\['[^']+'\]$/
export const ENV_RESOURCE_FIELDS = ['limits.cpu', 'limits.memory', 'requests.cpu', 'requests.memory'] as const
/** Compute resources edged applies (cpu, memory) or accepts and leaves to the node (ephemeral-storage, not enforced). */
const RESOURCES = ['cpu', 'memory', 'ephemeral-storage']

export interface ContainerRuleContext {
  init: boolean
  hostNetwork: boolean
  volumes: ReadonlySet<string>
}

export function containerProblems(c: Container, path: FieldPath, ctx: ContainerRuleContext): PodProblem[] {
  const out: PodProblem[] = []
  if (c.image.trim() !== c.image) out.push(invalid(path.child('image'), c.image, 'must not have leading or trailing whitespace'))
  out.push(...portProblems(c.ports ?? [], path.child('ports'), ctx.hostNetwork))
  out.push(...envProblems(c, path))
  out.push(...mountProblems(c, path.child('volumeMounts'), ctx.volumes))
  out.push(...resourceProblems(c, path.child('resources')))
  const probes = { livenessProbe: c.livenessProbe, readinessProbe: c.readinessProbe, startupProbe: c.startupProbe }
  for (const [name, probe] of Object.entries(probes)) {
    if (probe === undefined) continue
    if (ctx.init) out.push(forbidden(path.child(name), 'may not be set for init containers'))
    else out.push(...probeProblems(probe, path.child(name), name !== 'readinessProbe'))
  }
  for (const [name, handler] of Object.entries(c.lifecycle ?? {})) {
    if (handler === undefined) continue
    if (ctx.init) out.push(forbidden(path.child('lifecycle'), 'may not be set for init containers'))
    else out.push(...handlerProblems(handler, path.child('lifecycle').child(name)))
  }
  const sc = c.securityContext
  if (sc?.privileged === true && sc.allowPrivilegeEscalation === false) {
    out.push(invalid(path.child('securityContext'), 'privileged', 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true'))
  }
  const extra = c as Record<string, unknown>
  if (extra.restartPolicy !== undefined) out.push(unsupported(path.child('restartPolicy'), 'sidecar containers (a restartPolicy on a container) are not run'))
  if (extra.volumeDevices !== undefined) out.push(unsupported(path.child('volumeDevices'), 'block volumes are not run'))
  return out
}

function portProblems(ports: readonly ContainerPort[], path: FieldPath, hostNetwork: boolean): PodProblem[] {
  const out: PodProblem[] = []
  const names = new Set<string>()
  ports.forEach((port, i) => {
    const p = path.index(i)
    if (port.name !== undefined) {
      if (!isPortName(port.name)) out.push(invalid(p.child('name'), port.name, 'must be no more than 15 lowercase letters, digits and single hyphens, with at least one letter'))
      else if (names.has(port.name)) out.push(duplicate(p.child('name'), port.name))
      names.add(port.name)
    }
    if (hostNetwork && port.hostPort !== undefined && port.hostPort !== port.containerPort) {
      out.push(invalid(p.child('containerPort'), port.containerPort, 'must match `hostPort` when `hostNetwork` is true'))
    }
    if (port.hostIP !== undefined && !isIP(port.hostIP)) out.push(invalid(p.child('hostIP'), port.hostIP, 'must be a valid IP address'))
  })
  return out
}

export function isPortName(name: string): boolean {
  return name.length <= 15 && PORT_NAME.test(name) && /[a-z]/.test(name) && !name.includes('--')
}

function isIP(text: string): boolean {
  return /^(\d{1,3})(\.\d{1,3}){3}$/.test(text) ? text.split('.').every((o) => Number(o) <= 255) : /^[0-9a-fA-F:]+$/.test(text) && text.includes(':')
}

function envProblems(c: Container, path: FieldPath): PodProblem[] {
  const out: PodProblem[] = []
  ;(c.env ?? []).forEach((env, i) => {
    const p = path.child('env').index(i)
    if (!ENV_NAME.test(env.name)) out.push(invalid(p.child('name'), env.name, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"))
    const from = env.valueFrom
    if (from === undefined) return
    if (env.value !== undefined && env.value !== '') out.push(invalid(p.child('valueFrom'), '', 'may not be specified when `value` is not empty'))
    const sources = Object.entries(from).filter(([, v]) => v !== undefined)
    if (sources.length !== 1) {
      out.push(invalid(p.child('valueFrom'), '', 'must specify exactly one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'))
      return
    }
    const fieldPath = from.fieldRef?.fieldPath
    if (fieldPath !== undefined && !(ENV_FIELD_PATHS as readonly string[]).includes(fieldPath) && !LABEL_OR_ANNOTATION_PATH.test(fieldPath)) {
      out.push(unsupported(p.child('valueFrom').child('fieldRef').child('fieldPath'), `${JSON.stringify(fieldPath)}; supported: ${ENV_FIELD_PATHS.join(', ')}, metadata.labels['<key>'], metadata.annotations['<key>']`))
    }
    const ref = from.resourceFieldRef
    if (ref !== undefined) {
      const rp = p.child('valueFrom').child('resourceFieldRef')
      if (!(ENV_RESOURCE_FIELDS as readonly string[]).includes(ref.resource)) out.push(unsupported(rp.child('resource'), `${JSON.stringify(ref.resource)}; supported: ${ENV_RESOURCE_FIELDS.join(', ')}`))
      if (ref.divisor !== undefined && (!isQuantity(ref.divisor) || compareQuantities(ref.divisor, 0) <= 0)) out.push(invalid(rp.child('divisor'), ref.divisor, 'must be a positive quantity'))
    }
  })
  ;(c.envFrom ?? []).forEach((src, i) => {
    const p = path.child('envFrom').index(i)
    if ((src.configMapRef === undefined) === (src.secretRef === undefined)) out.push(invalid(p, '', 'must specify exactly one of: `configMapRef` or `secretRef`'))
    if (src.prefix !== undefined && src.prefix !== '' && !ENV_NAME.test(src.prefix)) out.push(invalid(p.child('prefix'), src.prefix, 'must be a valid environment variable name prefix'))
  })
  return out
}

function mountProblems(c: Container, path: FieldPath, volumes: ReadonlySet<string>): PodProblem[] {
  const out: PodProblem[] = []
  const paths = new Set<string>()
  ;(c.volumeMounts ?? []).forEach((m, i) => {
    const p = path.index(i)
    if (!volumes.has(m.name)) out.push(notFound(p.child('name'), m.name))
    if (paths.has(m.mountPath)) out.push(invalid(p.child('mountPath'), m.mountPath, 'must be unique'))
    paths.add(m.mountPath)
    if (m.mountPath.includes(':')) out.push(invalid(p.child('mountPath'), m.mountPath, "must not contain ':'"))
    if (!m.mountPath.startsWith('/')) out.push(invalid(p.child('mountPath'), m.mountPath, 'must be an absolute path'))
    if (m.subPath !== undefined && m.subPath !== '') out.push(...relativePathProblems(m.subPath, p.child('subPath')))
  })
  return out
}

/** validateLocalDescendingPath: relative, no `..` element. */
export function relativePathProblems(text: string, path: FieldPath): PodProblem[] {
  if (text.startsWith('/')) return [invalid(path, text, 'must be a relative path')]
  if (text.split('/').includes('..')) return [invalid(path, text, "must not contain '..'")]
  return []
}

function resourceProblems(c: Container, path: FieldPath): PodProblem[] {
  const out: PodProblem[] = []
  const { limits = {}, requests = {} } = c.resources ?? {}
  for (const [kind, list] of [['limits', limits], ['requests', requests]] as const) {
    for (const [name, value] of Object.entries(list)) {
      const p = path.child(kind).key(name)
      if (!RESOURCES.includes(name)) out.push(unsupported(p, `resource ${JSON.stringify(name)}; edged runs cpu and memory (and accepts ephemeral-storage)`))
      else if (!isQuantity(value)) out.push(invalid(p, value, 'must be a resource quantity'))
      else if (isNegativeQuantity(value)) out.push(invalid(p, value, 'must be greater than or equal to 0'))
    }
  }
  for (const [name, request] of Object.entries(requests)) {
    const limit = limits[name]
    if (limit === undefined || !isQuantity(limit) || !isQuantity(request)) continue
    if (compareQuantities(request, limit) > 0) out.push(invalid(path.child('requests').key(name), request, `must be less than or equal to ${name} limit of ${limit}`))
  }
  return out
}

function probeProblems(probe: Probe, path: FieldPath, successMustBeOne: boolean): PodProblem[] {
  const out = handlerCount(probe, path, ['exec', 'httpGet', 'tcpSocket'])
  if (successMustBeOne && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    out.push(invalid(path.child('successThreshold'), probe.successThreshold, 'must be 1'))
  }
  out.push(...namedPortProblems(probe, path))
  return out
}

function handlerProblems(handler: LifecycleHandler, path: FieldPath): PodProblem[] {
  return [...handlerCount(handler, path, ['exec', 'httpGet', 'tcpSocket', 'sleep']), ...namedPortProblems(handler, path)]
}

function handlerCount(handler: object, path: FieldPath, kinds: readonly string[]): PodProblem[] {
  const given = kinds.filter((k) => (handler as Record<string, unknown>)[k] !== undefined)
  if (given.length === 0) return [required(path, `must specify a handler type (one of ${kinds.join(', ')})`)]
  if (given.length > 1) return [forbidden(path.child(given[1] ?? ''), 'may not specify more than 1 handler type')]
  return []
}

function namedPortProblems(handler: Probe | LifecycleHandler, path: FieldPath): PodProblem[] {
  const out: PodProblem[] = []
  for (const kind of ['httpGet', 'tcpSocket'] as const) {
    const port = handler[kind]?.port
    if (typeof port === 'string' && !isPortName(port)) out.push(invalid(path.child(kind).child('port'), port, 'must be a port number or a valid port name'))
  }
  return out
}
