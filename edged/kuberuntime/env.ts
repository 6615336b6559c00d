/**
 * A container's environment as the kubelet makes it (kubelet_pods.go makeEnvironmentVariables):
 * `envFrom` first (ConfigMaps and Secrets, with their prefix; keys that are not variable names
 * skipped), then `env` in order, each value expanded against the variables before it; values from
 * the pod's own fields (downward API), its resources, or a ConfigMap/Secret key. A ConfigMap or
 * Secret that is missing and not optional refuses the container (CreateContainerConfigError).
 */
import { cpus, totalmem } from 'node:os'
import { TernError } from '../../schemas/tern-error.js'
import type { Container, Pod } from '../../schemas/pod.js'
import { quantityMilli, quantityValue } from '../pod/quantity.js'
import { expand, mappingFor } from './expansion.js'

/** Where ConfigMap and Secret data come from (the cloud's objects, when the node has them); undefined when absent. */
export interface EnvResolver {
  configMap(namespace: string, name: string): Promise<Readonly<Record<string, string>> | undefined>
  /** Secret data, decoded. */
  secret(namespace: string, name: string): Promise<Readonly<Record<string, string>> | undefined>
}

export interface EnvContext {
  nodeName: string
  hostIP: string
  podIP: string
  resolve?: EnvResolver
  /** The node's allocatable cpu (millicores) and memory (bytes): a resourceFieldRef to an unset limit reads them. */
  allocatable?: { milliCpu: bigint; memory: bigint }
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/

export async function containerEnv(pod: Pod, container: Container, ctx: EnvContext): Promise<Map<string, string>> {
  const vars = new Map<string, string>()
  const ns = pod.metadata.namespace
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef
    if (ref === undefined) continue
    const kind = from.configMapRef !== undefined ? 'configmap' : 'secret'
    const data = await lookUp(ctx.resolve, kind, ns, ref.name)
    if (data === undefined) {
      if (ref.optional === true) continue
      throw configError(`${kind} "${ref.name}" not found`)
    }
    for (const [key, value] of Object.entries(data)) {
      const name = `${from.prefix ?? ''}${key}`
      if (ENV_NAME.test(name)) vars.set(name, value)
    }
  }
  for (const env of container.env ?? []) {
    const from = env.valueFrom
    if (from === undefined) {
      vars.set(env.name, expand(env.value ?? '', mappingFor(vars)))
      continue
    }
    if (from.fieldRef !== undefined) vars.set(env.name, fieldValue(pod, from.fieldRef.fieldPath, ctx))
    else if (from.resourceFieldRef !== undefined) vars.set(env.name, resourceValue(pod, container, from.resourceFieldRef, ctx))
    else {
      const ref = from.configMapKeyRef ?? from.secretKeyRef
      if (ref === undefined) continue
      const kind = from.configMapKeyRef !== undefined ? 'configmap' : 'secret'
      const data = await lookUp(ctx.resolve, kind, ns, ref.name)
      const value = data?.[ref.key]
      if (value !== undefined) vars.set(env.name, value)
      else if (ref.optional !== true) throw configError(data === undefined ? `${kind} "${ref.name}" not found` : `couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}`)
    }
  }
  return vars
}

/** `$(VAR)` in command and args, against the container's final environment. */
export function expandCommand(words: readonly string[] | undefined, vars: ReadonlyMap<string, string>): string[] | undefined {
  return words?.map((w) => expand(w, mappingFor(vars)))
}

async function lookUp(resolve: EnvResolver | undefined, kind: 'configmap' | 'secret', namespace: string, name: string): Promise<Readonly<Record<string, string>> | undefined> {
  if (resolve === undefined) return undefined
  return kind === 'configmap' ? resolve.configMap(namespace, name) : resolve.secret(namespace, name)
}

function fieldValue(pod: Pod, path: string, ctx: EnvContext): string {
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name
    case 'metadata.namespace':
      return pod.metadata.namespace
    case 'metadata.uid':
      return pod.metadata.uid ?? ''
    case 'spec.nodeName':
      return pod.spec.nodeName ?? ctx.nodeName
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP
  }
  const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path)
  if (m !== null) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2] ?? ''] ?? ''
  // validatePod refuses every other path.
  throw configError(`unsupported fieldRef ${JSON.stringify(path)}`)
}

/** ExtractContainerResourceValue: rounded up in units of the divisor; an unset limit is the node's allocatable. */
function resourceValue(pod: Pod, container: Container, ref: { resource: string; containerName?: string; divisor?: string | number }, ctx: EnvContext): string {
  const target = ref.containerName === undefined || ref.containerName === '' ? container : [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === ref.containerName)
  if (target === undefined) throw configError(`resourceFieldRef: no container named ${JSON.stringify(ref.containerName)}`)
  const [kind, resource] = ref.resource.split('.') as ['limits' | 'requests', 'cpu' | 'memory']
  const allocatable = ctx.allocatable ?? { milliCpu: BigInt(cpus().length * 1000), memory: BigInt(totalmem()) }
  const set = target.resources?.[kind]?.[resource]
  const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b
  if (resource === 'cpu') {
    const milli = set !== undefined ? quantityMilli(set) : kind === 'limits' ? allocatable.milliCpu : 0n
    return String(ceilDiv(milli, quantityMilli(ref.divisor ?? '1')))
  }
  const bytes = set !== undefined ? quantityValue(set) : kind === 'limits' ? allocatable.memory : 0n
  return String(ceilDiv(bytes, quantityValue(ref.divisor ?? '1')))
}

const configError = (message: string): TernError => new TernError('EDGED_CONTAINER_CONFIG_ERROR', message)
