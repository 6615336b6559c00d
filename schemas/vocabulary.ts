/**
 * The vocabularies the schemas and the code share, as plain values: code that needs one imports it
 * from here and loads no schema (schemas are checked by validators compiled at build time, see
 * schemas/validate.ts).
 */

export const PROPERTY_TYPES = ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES', 'STREAM'] as const
export type PropertyType = (typeof PROPERTY_TYPES)[number]

export const ACCESS_MODES = ['ReadWrite', 'ReadOnly'] as const

/** Device states (DESIGN §4.6), matched case-insensitively on `.../state/update`. */
export const DeviceStates = ['online', 'offline', 'ok', 'unknown', 'unhealthy'] as const
export type DeviceState = (typeof DeviceStates)[number]

/** KubeEdge's twin type vocabulary (kubeedge-compat.md §2.5) for a model property type: a new twin gets it. */
export function twinType(type: PropertyType): string {
  switch (type) {
    case 'INT':
      return 'int'
    case 'FLOAT':
    case 'DOUBLE':
      return 'float'
    case 'BOOLEAN':
      return 'boolean'
    case 'STRING':
    case 'BYTES':
    case 'STREAM':
      return 'string'
  }
}
