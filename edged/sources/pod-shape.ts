/**
 * The least a pod document must be for edged to run it: a v1 Pod with a name and containers that
 * each have a name and an image; the namespace defaults to `default`. The full validation (the
 * Pod schema and the API server's rules) takes this one's place where it is wired in.
 */
import { TernError } from '../../schemas/errors.js'
import type { Pod } from '../../schemas/pod.js'

const record = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined)
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

export function checkPodShape(input: unknown, where: string): Pod {
  const fail = (path: string, problem: string): never => {
    throw new TernError('EDGED_POD_INVALID', `${where}: ${path}: ${problem}`)
  }
  const doc = record(input) ?? fail('(root)', 'not an object')
  if (doc.apiVersion !== 'v1') fail('apiVersion', 'must be v1')
  if (doc.kind !== 'Pod') fail('kind', 'must be Pod')
  const metadata = record(doc.metadata) ?? fail('metadata', 'required')
  if (typeof metadata.name !== 'string' || !DNS1123_LABEL.test(metadata.name)) fail('metadata.name', 'must be a DNS-1123 label')
  const spec = record(doc.spec) ?? fail('spec', 'required')
  const containers = Array.isArray(spec.containers) && spec.containers.length > 0 ? (spec.containers as unknown[]) : fail('spec.containers', 'at least one container is required')
  const init = Array.isArray(spec.initContainers) ? (spec.initContainers as unknown[]) : []
  for (const [list, items] of [['initContainers', init], ['containers', containers]] as const) {
    items.forEach((container, i) => {
      const at = `spec.${list}[${i}]`
      const fields = record(container) ?? fail(at, 'not an object')
      if (typeof fields.name !== 'string' || !DNS1123_LABEL.test(fields.name)) fail(`${at}.name`, 'must be a DNS-1123 label')
      if (typeof fields.image !== 'string' || fields.image === '') fail(`${at}.image`, 'required')
    })
  }
  return { ...doc, metadata: { ...metadata, namespace: typeof metadata.namespace === 'string' ? metadata.namespace : 'default' } } as unknown as Pod
}
