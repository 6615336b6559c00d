/**
 * The API server's rules for a pod spec beyond its schema (pkg/apis/core/validation ValidatePodSpec):
 * names unique across containers and init containers, volumes with exactly one source and unique
 * names, host ports unique per protocol and address, sysctl names; and the pod fields edged refuses
 * by name because it does not run them (each listed in docs/edged.md).
 */
import { POD_CONTAINERS_MAX } from '../../schemas/cloud-link-limits.js'
import type { Pod, Volume } from '../../schemas/pod.js'
import { containerProblems, relativePathProblems } from './container-rules.js'
import { duplicate, FieldPath, invalid, required, unsupported, type PodProblem } from './field-path.js'
import { compareQuantities, isQuantity } from './quantity.js'

const VOLUME_SOURCES = ['emptyDir', 'hostPath', 'configMap', 'secret'] as const
/** Volume keys that are not a source. */
const VOLUME_NON_SOURCES = new Set(['name'])
const SYSCTL_NAME = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/

/** Pod spec fields the API server accepts that would change what runs: refused rather than ignored. */
const REFUSED_SPEC_FIELDS: Record<string, (value: unknown) => boolean> = {
  ephemeralContainers: (v) => Array.isArray(v) && v.length > 0,
  shareProcessNamespace: (v) => v === true,
  hostUsers: (v) => v === false,
  runtimeClassName: (v) => typeof v === 'string' && v !== '',
  hostAliases: (v) => Array.isArray(v) && v.length > 0,
  dnsConfig: (v) => v !== undefined && v !== null,
  resourceClaims: (v) => Array.isArray(v) && v.length > 0,
  os: (v) => typeof v === 'object' && v !== null && (v as { name?: unknown }).name !== 'linux',
}

export function podProblems(pod: Pod): PodProblem[] {
  const spec = pod.spec
  const root = new FieldPath('spec')
  const out: PodProblem[] = []
  for (const [field, refused] of Object.entries(REFUSED_SPEC_FIELDS)) {
    if (refused((spec as Record<string, unknown>)[field])) out.push(unsupported(root.child(field), `edged does not run ${field}`))
  }
  out.push(...volumeProblems(spec.volumes ?? [], root.child('volumes')))
  const volumes = new Set((spec.volumes ?? []).map((v) => v.name))
  const names = new Set<string>()
  const hostNetwork = spec.hostNetwork === true
  for (const [field, init] of [['initContainers', true], ['containers', false]] as const) {
    const count = spec[field]?.length ?? 0
    if (count > POD_CONTAINERS_MAX) out.push(unsupported(root.child(field), `${count} ${field}, at most ${POD_CONTAINERS_MAX} (one status each, and a pod status carries at most ${POD_CONTAINERS_MAX})`))
    ;(spec[field] ?? []).forEach((c, i) => {
      const p = root.child(field).index(i)
      if (names.has(c.name)) out.push(duplicate(p.child('name'), c.name))
      names.add(c.name)
      out.push(...containerProblems(c, p, { init, hostNetwork, volumes }))
    })
  }
  out.push(...hostPortProblems(pod, root.child('containers')))
  const sysctls = new Set<string>()
  ;(spec.securityContext?.sysctls ?? []).forEach((s, i) => {
    const p = root.child('securityContext').child('sysctls').index(i).child('name')
    if (!SYSCTL_NAME.test(s.name) || s.name.length > 253) out.push(invalid(p, s.name, 'must have at most 253 characters and match the sysctl name format'))
    if (sysctls.has(s.name)) out.push(duplicate(p, s.name))
    sysctls.add(s.name)
  })
  return out
}

function volumeProblems(volumes: readonly Volume[], path: FieldPath): PodProblem[] {
  const out: PodProblem[] = []
  const names = new Set<string>()
  volumes.forEach((v, i) => {
    const p = path.index(i)
    if (names.has(v.name)) out.push(duplicate(p.child('name'), v.name))
    names.add(v.name)
    const sources = Object.keys(v).filter((k) => !VOLUME_NON_SOURCES.has(k) && (v as Record<string, unknown>)[k] !== undefined)
    const foreign = sources.filter((s) => !(VOLUME_SOURCES as readonly string[]).includes(s))
    for (const s of foreign) out.push(unsupported(p.child(s), `volume source ${s}; edged runs ${VOLUME_SOURCES.join(', ')}`))
    if (sources.length === 0) out.push(required(p, 'must specify a volume type'))
    else if (sources.length > 1 && foreign.length === 0) out.push(invalid(p.child(sources[1] ?? ''), '', 'may not specify more than 1 volume type'))
    if (v.hostPath !== undefined) {
      if (!v.hostPath.path.startsWith('/')) out.push(invalid(p.child('hostPath').child('path'), v.hostPath.path, 'must be an absolute path'))
      if (v.hostPath.path.split('/').includes('..')) out.push(invalid(p.child('hostPath').child('path'), v.hostPath.path, "must not contain '..'"))
    }
    const size = v.emptyDir?.sizeLimit
    if (size !== undefined && isQuantity(size) && compareQuantities(size, 0) <= 0) out.push(invalid(p.child('emptyDir').child('sizeLimit'), size, 'must be greater than zero'))
    const items = v.configMap?.items ?? v.secret?.items ?? []
    const kind = v.configMap !== undefined ? 'configMap' : 'secret'
    items.forEach((item, j) => out.push(...relativePathProblems(item.path, p.child(kind).child('items').index(j).child('path'))))
  })
  return out
}

/** checkHostPortConflicts (AccumulateUniqueHostPorts): one host port per protocol and host address among the app containers. */
function hostPortProblems(pod: Pod, path: FieldPath): PodProblem[] {
  const out: PodProblem[] = []
  const seen = new Set<string>()
  pod.spec.containers.forEach((c, i) => {
    ;(c.ports ?? []).forEach((port, j) => {
      if (port.hostPort === undefined || port.hostPort === 0) return
      const protocol = port.protocol ?? 'TCP'
      const ip = port.hostIP ?? ''
      const keys = [`${protocol}/${ip}/${port.hostPort}`]
      // 0.0.0.0 (or no address) overlaps every address of the same port and protocol.
      const overlaps = ip === '' || ip === '0.0.0.0' ? [...seen].filter((k) => k.startsWith(`${protocol}/`) && k.endsWith(`/${port.hostPort}`)) : [`${protocol}//${port.hostPort}`, `${protocol}/0.0.0.0/${port.hostPort}`].filter((k) => seen.has(k))
      if (seen.has(keys[0] ?? '') || overlaps.length > 0) out.push(duplicate(path.index(i).child('ports').index(j).child('hostPort'), `${port.hostPort}/${protocol}`))
      for (const k of keys) seen.add(k)
    })
  })
  return out
}
