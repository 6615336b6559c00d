/**
 * Defaults of the twin's request limits: config `twin.maxRequestBytes` and `twin.maxKeysPerDevice`,
 * and the DeviceTwin's own when it is given none. Plain values in a module of their own: the twin
 * applies them at run time, and importing them from the config's schema would load TypeBox and
 * build every config schema in each `tern edge` (schemas/validated.ts: no process does).
 */
export const TWIN_LIMIT_DEFAULTS = { maxRequestBytes: 65_536, maxKeysPerDevice: 1000 } as const
