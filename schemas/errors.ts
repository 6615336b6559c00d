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
