/**
 * The error tern throws for what a user can act on: a stable code and a message. Apart from the
 * catalogue (schemas/errors.ts), whose descriptions are documentation: every command throws and
 * prints codes from its first line on, and only the type of the codes is needed for that, so a
 * process loads the descriptions only where it looks codes up (a peer's answer, the docs).
 */
import type { ErrorCode } from './errors.js'

export type { ErrorCode }

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
