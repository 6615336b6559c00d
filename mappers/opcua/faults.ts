/**
 * node-opcua's errors and OPC-UA status codes → stable codes. Status codes are values on every
 * read, write and notification (Part 4 §7.34); node-opcua rejects connect, session and service
 * calls with Errors whose message names the status (`BadCertificateUntrusted`,
 * `BadIdentityTokenRejected`, ...) or the socket error (`ECONNREFUSED`), and times requests out
 * with "Transaction has timed out".
 */
import type { DriverError } from '../driver.js'
import type { ErrorCode } from '../../schemas/errors.js'

/** The part of node-opcua's StatusCode the driver uses. */
export interface StatusLike {
  readonly name: string
  readonly value: number
  isGood(): boolean
}

/** Severity bits 30-31: 00 Good, 01 Uncertain, 10/11 Bad (Part 4 §7.34.1). */
export function isBad(status: StatusLike): boolean {
  return (status.value & 0x80000000) !== 0
}

const LINK_STATUSES = new Set([
  'BadSessionIdInvalid',
  'BadSessionClosed',
  'BadSessionNotActivated',
  'BadConnectionClosed',
  'BadSecureChannelClosed',
  'BadSecureChannelIdInvalid',
  'BadServerNotConnected',
  'BadNotConnected',
  'BadCommunicationError',
  'BadShutdown',
  'BadServerHalted',
  'BadDisconnect',
  'BadNoSubscription',
  'BadSubscriptionIdInvalid',
  'BadTcpSecureChannelUnknown',
])
const NODE_STATUSES = new Set(['BadNodeIdUnknown', 'BadNodeIdInvalid', 'BadAttributeIdInvalid', 'BadNoMatch', 'BadBrowseNameInvalid'])
const SECURITY = /BadCertificate|BadSecurity|BadNoValidCertificates|BadNonceInvalid|certificate|BadApplicationSignatureInvalid|no endpoint/i
const AUTH = /BadIdentityToken|BadUserAccessDenied|BadUserSignatureInvalid|BadIdentityChangeNotSupported/

/** The driver error for a Bad status on a read, write or notification of one node. */
export function statusError(status: StatusLike, what: string): DriverError {
  const message = `${what}: ${status.name} (0x${(status.value >>> 0).toString(16).padStart(8, '0')})`
  if (LINK_STATUSES.has(status.name)) return { code: 'OPCUA_CONNECTION_LOST', message, connectionLost: true }
  if (NODE_STATUSES.has(status.name)) return { code: 'OPCUA_NODE_NOT_FOUND', message, connectionLost: false }
  if (status.name === 'BadTimeout' || status.name === 'BadRequestTimeout') return { code: 'OPCUA_TIMEOUT', message, connectionLost: false }
  if (status.name === 'BadUserAccessDenied') return { code: 'OPCUA_AUTH_FAILED', message, connectionLost: false }
  return { code: 'OPCUA_BAD_STATUS', message, connectionLost: false }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.message
  return String(err)
}

/** The driver error for an Error thrown while connecting (`connecting`) or by a service call on a connected session. */
export function classify(err: unknown, connecting: boolean): DriverError {
  const message = errorMessage(err)
  const code: ErrorCode = AUTH.test(message)
    ? 'OPCUA_AUTH_FAILED'
    : SECURITY.test(message)
      ? 'OPCUA_SECURITY_REJECTED'
      : /timed out|timeout/i.test(message)
        ? 'OPCUA_TIMEOUT'
        : /BadNodeIdUnknown|BadNodeIdInvalid/.test(message)
          ? 'OPCUA_NODE_NOT_FOUND'
          : connecting
            ? 'OPCUA_CONNECT_FAILED'
            : /ECONN|EPIPE|socket|closed|disconnect|BadSession|BadSecureChannel|BadConnection|BadNotConnected|BadServerNotConnected|BadCommunication|BadShutdown/i.test(message)
              ? 'OPCUA_CONNECTION_LOST'
              : 'OPCUA_BAD_STATUS'
  // On a session, a timeout means the server or the path to it is gone: reconnect.
  const connectionLost = connecting || code === 'OPCUA_CONNECTION_LOST' || code === 'OPCUA_TIMEOUT'
  return { code, message, connectionLost }
}
