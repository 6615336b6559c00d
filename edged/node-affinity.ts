/**
 * Whether a pod's `nodeSelector` and required node affinity match a Node, as
 * k8s.io/component-helpers/scheduling/corev1/nodeaffinity GetRequiredNodeAffinity(pod).Match(node):
 * every nodeSelector label equal, and, when `requiredDuringSchedulingIgnoredDuringExecution` is
 * set, one of its terms matching. A term ANDs its `matchExpressions` (In, NotIn, Exists,
 * DoesNotExist, Gt, Lt over the labels) and `matchFields` (only `metadata.name`, In or NotIn with
 * one value); a term with neither matches nothing, and a malformed requirement fails its term.
 */
import type { Pod } from '../schemas/pod.js'

interface Requirement {
  key?: string
  operator?: string
  values?: string[]
}

interface Term {
  matchExpressions?: Requirement[]
  matchFields?: Requirement[]
}

interface Scheduling {
  nodeSelector?: Record<string, string>
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: Term[] } } }
}

const INTEGER = /^[+-]?[0-9]+$/

/** strconv.ParseInt(s, 10, 64), or undefined. */
function int64(s: string | undefined): bigint | undefined {
  if (s === undefined || !INTEGER.test(s)) return undefined
  const n = BigInt(s)
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : undefined
}

/** One label requirement; undefined when it is malformed (labels.NewRequirement refuses it). */
function labelMatch(r: Requirement, labels: Record<string, string>): boolean | undefined {
  const key = r.key ?? ''
  const values = r.values ?? []
  const has = Object.hasOwn(labels, key)
  const value = labels[key]
  switch (r.operator) {
    case 'In':
      return values.length === 0 ? undefined : has && values.includes(value ?? '')
    case 'NotIn':
      return values.length === 0 ? undefined : !has || !values.includes(value ?? '')
    case 'Exists':
      return values.length !== 0 ? undefined : has
    case 'DoesNotExist':
      return values.length !== 0 ? undefined : !has
    case 'Gt':
    case 'Lt': {
      const bound = values.length === 1 ? int64(values[0]) : undefined
      if (bound === undefined) return undefined
      const actual = has ? int64(value) : undefined
      if (actual === undefined) return false
      return r.operator === 'Gt' ? actual > bound : actual < bound
    }
    default:
      return undefined
  }
}

/** One field requirement: `metadata.name` In/NotIn a single value. */
function fieldMatch(r: Requirement, nodeName: string): boolean | undefined {
  if (r.key !== 'metadata.name' || r.values?.length !== 1) return undefined
  if (r.operator === 'In') return nodeName === r.values[0]
  if (r.operator === 'NotIn') return nodeName !== r.values[0]
  return undefined
}

function termMatches(term: Term, labels: Record<string, string>, nodeName: string): boolean {
  const results = [...(term.matchExpressions ?? []).map((r) => labelMatch(r, labels)), ...(term.matchFields ?? []).map((r) => fieldMatch(r, nodeName))]
  return results.every((ok) => ok === true)
}

export function matchesNodeAffinity(pod: Pod, node: { name: string; labels: Record<string, string> }): boolean {
  const spec = pod.spec as Scheduling
  for (const [key, value] of Object.entries(spec.nodeSelector ?? {})) {
    if (!Object.hasOwn(node.labels, key) || node.labels[key] !== value) return false
  }
  const required = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
  if (required === undefined) return true
  const terms = (required.nodeSelectorTerms ?? []).filter((t) => (t.matchExpressions?.length ?? 0) + (t.matchFields?.length ?? 0) > 0)
  return terms.some((t) => termMatches(t, node.labels, node.name))
}
