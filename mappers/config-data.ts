/**
 * Validation of a device's free-form KubeEdge `configData` (protocol config and property visitors)
 * against a protocol's schema, with problems reported at their path in the Device manifest.
 */
import type { Problem, Validator } from '../schemas/validate.js'

/** Where a device's protocol configData sits in its manifest. */
export const PROTOCOL_CONFIG_PATH = '/spec/protocol/configData'

/** Where property `index`'s visitor configData sits in its manifest. */
export function visitorConfigPath(index: number): string {
  return `/spec/properties/${index}/visitors/configData`
}

/**
 * Checks a copy of `configData` (validators fill defaults in place; the device belongs to the
 * runtime) and returns the typed value, or undefined after adding every problem under `base`.
 */
export function checkConfigData<T>(check: Validator<T>, configData: Record<string, unknown>, base: string, problems: Problem[]): T | undefined {
  const checked = check(structuredClone(configData))
  if (checked.ok) return checked.value
  problems.push(...checked.problems.map((p) => ({ path: base + (p.path === '/' ? '' : p.path), message: p.message })))
  return undefined
}
