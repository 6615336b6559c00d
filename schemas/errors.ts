/**
 * The catalogue of stable error codes. Logs, results on MQTT and CLI exit messages carry these
 * codes; tests assert codes, never message text.
 */
export const ErrorCodes = {
  CONFIG_UNREADABLE: 'the configuration file cannot be read or parsed',
  CONFIG_INVALID: 'the configuration does not match its schema',
  BROKER_LISTEN_FAILED: 'a broker listener could not bind its address',
  BROKER_TLS_FILE_UNREADABLE: 'a TLS certificate, key or CA file cannot be read or used',
  BROKER_EXTERNAL_UNREACHABLE: 'the external MQTT broker did not accept a connection',
  STORE_OPEN_FAILED: 'the node LevelDB could not be opened (locked by another process?)',
  MQTT_NOT_AUTHORIZED: 'an MQTT client was refused by the topic ACL',
  MQTT_BAD_CREDENTIALS: 'an MQTT client gave an unknown username or a wrong password',
  USAGE: 'the command line is not valid',
  TWIN_BAD_REQUEST: 'a DeviceTwin request is not valid JSON or does not have the shape of its topic (missing `twin`, missing `value`, `null` metadata, wrong JSON types)',
  TWIN_KEY_INVALID: 'a twin key is not 1-128 characters of [A-Za-z0-9-_.,:/@#] (or is `__proto__`)',
  TWIN_VALUE_INVALID: 'a twin value is not valid for its type, or longer than 4 KiB of UTF-8',
  TWIN_VALUE_OUT_OF_RANGE: "a numeric twin value is below the model property's minimum or above its maximum",
  TWIN_TYPE_UNSUPPORTED: 'a twin declares a `metadata.type` tern does not know',
  TWIN_READ_ONLY: 'a local request sets `expected` of a property whose model says `accessMode: ReadOnly`',
  TWIN_DEVICE_NOT_FOUND: 'a DeviceTwin request names a device that is not a member of this node',
  TWIN_VERSION_MISSING: 'a cloud sync carries no version vector for a side it writes',
  TWIN_VERSION_CONFLICT: 'a cloud sync is older than the last cloud write or has not seen every edge write',
  TWIN_STORE_FAILED: 'the twin store could not write a change; nothing was applied',
  DEVICE_STATE_UNKNOWN: 'a device state is not one of online, offline, ok, unknown, unhealthy',
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class TernError extends Error {
  readonly code: ErrorCode
  readonly details: readonly string[]

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, { cause: options.cause })
    this.name = 'TernError'
    this.code = code
    this.details = options.details ?? []
  }
}
