/**
 * Certificate renewal over the authenticated link (DESIGN.md §6): the edge sends a CSR for a new
 * key as a request (group `identity`, operation `renew`, resource `node/certificate`); the cloud
 * answers with the new certificate (IssuedCertificate) or an error with its code. The node is the
 * session's, which its certificate named; the serial it connected with must still be in its record.
 */
import { TernError } from '../../schemas/errors.js'
import * as checks from '../../schemas/generated/validators.js'
import { validator } from '../../schemas/validate.js'
import { errorResponse, message, response, Sources, type Envelope } from '../messages.js'
import type { Session } from '../session.js'
import type { IssuedCertificate, RenewRequest } from '../../schemas/cloud-link.js'
import type { NodeIdentities } from './node-identities.js'

export const RENEW_ROUTE = { group: 'identity', operation: 'renew', resource: 'node/certificate' } as const

const validateRenew = validator(checks.RenewRequest)
export const validateIssued = validator(checks.IssuedCertificate)

export const isRenewal = (m: Envelope): boolean => m.route.group === RENEW_ROUTE.group && m.route.operation === RENEW_ROUTE.operation

/** The edge's renewal request. */
export function renewalRequest(csr: string): Envelope {
  return message({ source: Sources.edge, ...RENEW_ROUTE }, { csr } satisfies RenewRequest)
}

/** Cloud side: answers the session's renewal requests. */
export function serveRenewals(session: Session, identities: NodeIdentities): void {
  session.onMessage((m) => {
    if (!isRenewal(m)) return
    const checked = validateRenew(m.content)
    if (!checked.ok) return session.send(errorResponse(m, Sources.cloud, { code: 'CLOUD_MESSAGE_INVALID', reason: checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ') }))
    if (session.identity === undefined) return session.send(errorResponse(m, Sources.cloud, { code: 'CLOUD_AUTH_FAILED', reason: 'this session was not opened with a node certificate' }))
    identities.renew(session.node, session.identity, checked.value.csr).then(
      (issued: IssuedCertificate) => session.send(response(m, Sources.cloud, issued)),
      (err: unknown) => session.send(errorResponse(m, Sources.cloud, { code: err instanceof TernError ? err.code : 'IDENTITY_STORE_FAILED', reason: (err as Error).message })),
    )
  })
}
