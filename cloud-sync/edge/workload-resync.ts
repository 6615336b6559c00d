/**
 * How the edge checks a workload `resync` (workload-sync.ts): its shape as a whole, each object on
 * its own. A content that is not a set (not an object, a list missing or not a list, `kept` not a
 * list of names, `part` not a part, an object without a name) is refused whole; an object its
 * schema refuses (another tern version's cloud sends what this edge's schema does not take) costs
 * only itself, as a refused `update` of it would: it is left out of the set and named in the
 * answer, with the same problems (paths from `/content`, as in the update's answer). Pure.
 */
import type { Problem, Validation } from '../../schemas/validate.js'
import type { CloudPod, ConfigMap, ResyncPart, Secret } from '../../schemas/workloads.js'
import { workloadResource, type NodeWorkloadSet, type WorkloadKind } from '../messages.js'
import { contentProblems } from './downlink-receiver.js'

/** An object of a resync the edge refused. */
export interface RefusedObject {
  resource: string
  kind: WorkloadKind
  /** its uid, when it names one */
  uid: string | undefined
  /** as a refused `update` of the object reports them */
  problems: Problem[]
}

export type CheckedResync = { ok: true; set: NodeWorkloadSet; refused: RefusedObject[] } | { ok: false; problems: Problem[] }

const LISTS = [
  ['pods', 'pod'],
  ['configmaps', 'configmap'],
  ['secrets', 'secret'],
] as const

/** The objects of `content` `validate` takes, and those it refuses; or why `content` is no set at all. */
export function checkResync(content: unknown, validate: Record<WorkloadKind, (doc: unknown) => Validation<CloudPod | ConfigMap | Secret>>): CheckedResync {
  if (!isRecord(content)) return { ok: false, problems: [{ path: '/content', message: 'must be object' }] }
  const problems: Problem[] = []
  const { kept } = content
  if (kept !== undefined && !(Array.isArray(kept) && kept.every((k) => typeof k === 'string' && k.length > 0 && k.length <= 600))) {
    problems.push({ path: '/content/kept', message: 'must be an array of resource names' })
  }
  const { part } = content
  if (part !== undefined && !isPart(part)) problems.push({ path: '/content/part', message: 'must be {resync, index, count}: an id and integers, 0 <= index < count' })
  const set: NodeWorkloadSet = { pods: [], configmaps: [], secrets: [], ...(kept === undefined ? {} : { kept: kept as string[] }), ...(part === undefined ? {} : { part: part as ResyncPart }) }
  const refused: RefusedObject[] = []
  for (const [list, kind] of LISTS) {
    const objects = content[list]
    if (!Array.isArray(objects)) {
      problems.push({ path: `/content/${list}`, message: objects === undefined ? 'is required' : 'must be array' })
      continue
    }
    objects.forEach((object: unknown, i) => {
      const named = nameOf(object)
      if (named === undefined) return problems.push({ path: `/content/${list}/${i}/metadata`, message: 'must name the object (name and namespace)' })
      const checked = validate[kind](object)
      if (checked.ok) return (set[list] as unknown[]).push(checked.value)
      refused.push({ resource: workloadResource(kind, named.namespace, named.name), kind, uid: named.uid, problems: contentProblems(checked.problems) })
    })
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, set, refused }
}

/** The name of an object its schema may refuse, read defensively (the namespace defaults as the schema's does). */
function nameOf(object: unknown): { namespace: string; name: string; uid: string | undefined } | undefined {
  const metadata = isRecord(object) ? object.metadata : undefined
  if (!isRecord(metadata)) return undefined
  const { name, namespace = 'default', uid } = metadata
  if (typeof name !== 'string' || name === '' || typeof namespace !== 'string' || namespace === '') return undefined
  return { namespace, name, uid: typeof uid === 'string' && uid !== '' ? uid : undefined }
}

function isPart(value: unknown): value is ResyncPart {
  if (!isRecord(value)) return false
  const { resync, index, count } = value
  return typeof resync === 'string' && resync.length > 0 && resync.length <= 128 && Number.isInteger(index) && Number.isInteger(count) && (index as number) >= 0 && (index as number) < (count as number)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
