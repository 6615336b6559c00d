/**
 * The boundary every pod crosses before edged acts on it (a static manifest, later a pod from the
 * cloud): the schema of schemas/pod.ts with its defaults, the API server's defaults that depend on
 * other fields, then its rules beyond a schema. A pod that fails is refused whole, with every
 * problem named by its field path; other pods are unaffected.
 */
import { Pod as podCheck } from '../../schemas/generated/validators/Pod.js'
import { TernError } from '../../schemas/tern-error.js'
import type { Pod } from '../../schemas/pod.js'
import { applyPodDefaults } from './defaults.js'
import { fromPointer, type PodProblem } from './field-path.js'
import { podProblems } from './pod-rules.js'

/**
 * The pod, checked and with defaults filled in (a copy: the input is left as it was). Throws
 * `TernError('EDGED_POD_INVALID')` whose message is `<where>: <path>: <problem>` (each problem on
 * its own line) and whose `details` are the `<path>: <problem>` lines.
 */
export function validatePod(input: unknown, where: string): Pod {
  const pod = structuredClone(input)
  if (!podCheck(pod)) throw invalidPod(where, schemaProblems(podCheck.errors))
  applyPodDefaults(pod)
  const problems = podProblems(pod)
  if (problems.length > 0) throw invalidPod(where, problems)
  return pod
}

function schemaProblems(errors: typeof podCheck.errors): PodProblem[] {
  return (errors ?? []).map((e) => {
    const path = fromPointer(e.instancePath)
    if (e.keyword === 'required') {
      const key = (e.params as { missingProperty: string }).missingProperty
      return { path: path === '' ? key : `${path}.${key}`, message: 'Required value' }
    }
    if (e.keyword === 'enum') return { path, message: `Unsupported value: supported values: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` }
    if (e.keyword === 'const') return { path, message: `Unsupported value: must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` }
    return { path: path === '' ? '<pod>' : path, message: `Invalid value: ${e.message ?? e.keyword}` }
  })
}

function invalidPod(where: string, problems: readonly PodProblem[]): TernError {
  // Unions report each branch's failure: one line per path is enough to find the field.
  const lines = [...new Set(problems.map((p) => `${p.path}: ${p.message}`))]
  return new TernError('EDGED_POD_INVALID', `${where}: ${lines.join(`\n${where}: `)}`, { details: lines })
}
