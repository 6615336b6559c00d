/** Secrets from the API server, checked at the boundary: their shape (schemas/identity.ts) and each data key tern reads. */
import { TernError, type ErrorCode } from '../../schemas/tern-error.js'
import * as checks from '../../schemas/generated/validators.js'
import type { SecretObject } from '../../schemas/identity.js'
import { validator } from '../../schemas/validate.js'

const validateSecret = validator(checks.SecretObject)

export function checkedSecret(raw: unknown, where: string, code: ErrorCode): SecretObject {
  const checked = validateSecret(raw)
  if (!checked.ok) throw new TernError(code, `${where} is not a valid Secret: ${checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`)
  return checked.value
}

/** The decoded value of `data[key]`; `code` when it is missing. */
export function secretField(secret: SecretObject, key: string, where: string, code: ErrorCode = 'IDENTITY_CA_INVALID'): Buffer {
  const value = secret.data[key]
  if (value === undefined) throw new TernError(code, `${where} has no data key ${key}`)
  return Buffer.from(value, 'base64')
}

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')
