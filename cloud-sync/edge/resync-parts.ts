/**
 * The edge's side of a workload resync sent in parts (schemas/workloads.ts ResyncPart): each part
 * is checked on arrival as a resync is (workload-resync.ts) and held; the last one gives back the
 * objects of all of them as one checked resync, which the store applies as it applies a resync in
 * one frame, so the node's set changes once, to exactly the cloud's, and an object refused in any
 * part costs only itself. A resync whose parts did not all arrive is refused whole (the cloud sends
 * it again). No I/O.
 */
import type { Problem } from '../../schemas/validate.js'
import type { NodeWorkloadSet, ResyncPart } from '../../schemas/workloads.js'
import type { RefusedObject } from './workload-resync.js'

export interface CheckedSet {
  set: NodeWorkloadSet
  refused: RefusedObject[]
}

/** `held`: kept until the last part; `whole`: the resync all parts make; `done`: a copy of a part of the resync applied last. */
export type PartOutcome = { held: true } | { whole: CheckedSet } | { done: true } | { problems: Problem[] }

export class ResyncParts {
  #resync: string | undefined
  #count = 0
  #parts = new Map<number, CheckedSet>()
  /** the id of the last resync in parts applied, whose re-sent copies change nothing */
  #applied: string | undefined

  /** A checked resync content that is a part (`set.part`). */
  take(checked: CheckedSet, part: ResyncPart): PartOutcome {
    const problem = (message: string): PartOutcome => ({ problems: [{ path: '/content/part', message }] })
    if (part.index >= part.count) return problem(`index ${part.index} is not below count ${part.count}`)
    if (part.resync === this.#applied) return { done: true }
    if (part.resync !== this.#resync) {
      this.clear()
      this.#resync = part.resync
      this.#count = part.count
    }
    if (part.count !== this.#count) return problem(`count ${part.count}, where the resync's earlier parts said ${this.#count}`)
    this.#parts.set(part.index, checked)
    if (part.index < part.count - 1) return { held: true }
    const missing = Array.from({ length: part.count - 1 }, (_, i) => i).filter((i) => !this.#parts.has(i))
    const parts = [...this.#parts.entries()].sort(([a], [b]) => a - b).map(([, p]) => p)
    this.clear()
    if (missing.length > 0) return problem(`parts ${missing.join(', ')} of resync ${part.resync} did not arrive before its last`)
    this.#applied = part.resync
    return { whole: merged(parts) }
  }

  /** Forgets the parts held (a new session: the cloud starts its resync again). */
  clear(): void {
    this.#resync = undefined
    this.#count = 0
    this.#parts = new Map()
  }
}

function merged(parts: CheckedSet[]): CheckedSet {
  const set: NodeWorkloadSet = { pods: [], configmaps: [], secrets: [] }
  const kept = parts.flatMap((p) => p.set.kept ?? [])
  for (const p of parts) {
    set.pods.push(...p.set.pods)
    set.configmaps.push(...p.set.configmaps)
    set.secrets.push(...p.set.secrets)
  }
  return { set: kept.length === 0 ? set : { ...set, kept }, refused: parts.flatMap((p) => p.refused) }
}
