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

/**
 * The twin type KubeEdge gives a model property type: its name in lower case. KubeEdge's
 * DeviceController wrote `int`, `float`, `double`, `boolean`, `string` and `bytes` into the mapper
 * profile for the model types, legacy mappers put that name in every report's `metadata.type`, and
 * the v1beta1 mapper framework lower-cases the model type (`stream` too); the twin and the cloud
 * pass it on, so KubeEdge clients see `double` for a DOUBLE property. Value checks treat `double`
 * as `float` and `bytes` as base64 (twin/values.ts).
 */
export function twinType(type: PropertyType): Lowercase<PropertyType> {
  return type.toLowerCase() as Lowercase<PropertyType>
}
