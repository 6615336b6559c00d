/**
 * Certificate renewal over the authenticated link (DESIGN.md §6): the edge sends a CSR for a new
 * key as a request (group `identity`, operation `renew`, resource `node/certificate`); the cloud
 * answers with the new certificate (IssuedCertificate) or an error with its code. The node is the
 * session's, which its certificate named; the serial it connected with must still be in its record.
 */
import { TernError } from '../../schemas/tern-error.js'
import { IssuedCertificate as issuedCertificateCheck } from '../../schemas/generated/validators/IssuedCertificate.js'
import { RenewRequest as renewRequestCheck } from '../../schemas/generated/validators/RenewRequest.js'
import { validator } from '../../schemas/validate.js'
import { errorResponse, message, response, Sources, type Envelope } from '../messages.js'
import type { Session } from '../session.js'
import type { IssuedCertificate, RenewRequest } from '../../schemas/cloud-link.js'
import type { NodeIdentities } from './node-identities.js'

export const RENEW_ROUTE = { group: 'identity', operation: 'renew', resource: 'node/certificate' } as const

const validateRenew = validator(renewRequestCheck)
export const validateIssued = validator(issuedCertificateCheck)

export const isRenewal = (m: Envelope): boolean => m.route.group === RENEW_ROUTE.group && m.route.operation === RENEW_ROUTE.operation

/** The edge's renewal request. */
export function renewalRequest(csr: string): Envelope {
  return message({ source: Sources.edge, ...RENEW_ROUTE }, { csr } satisfies RenewRequest)
}

/** Renewal requests of one session remembered by msg_id (a node renews once per ~70 % of a lifetime). */
const REMEMBERED = 16

/**
 * Cloud side: answers the session's renewal requests. The edge re-sends a request that is not
 * answered within its resend interval (same msg_id), and renewing takes API server round trips:
 * every copy gets the answer of the first. Issuing again would record a second certificate as
 * the node's current one, and the first, which the edge takes and reconnects with, would be
 * refused from then on as if the node were revoked.
 */
export function serveRenewals(session: Session, identities: NodeIdentities): void {
  const answers = new Map<string, Promise<Envelope>>()
  session.onMessage((m) => {
    if (!isRenewal(m)) return
    const id = m.header.msg_id
    let answer = answers.get(id)
    if (answer === undefined) {
      answer = answerRenewal(session, identities, m)
      answers.set(id, answer)
      for (const old of answers.keys()) {
        if (answers.size <= REMEMBERED) break
        answers.delete(old)
      }
    }
    void answer.then((a) => session.send(a))
  })
}

async function answerRenewal(session: Session, identities: NodeIdentities, m: Envelope): Promise<Envelope> {
  const checked = validateRenew(m.content)
  if (!checked.ok) return errorResponse(m, Sources.cloud, { code: 'CLOUD_MESSAGE_INVALID', reason: checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ') })
  if (session.identity === undefined) return errorResponse(m, Sources.cloud, { code: 'CLOUD_AUTH_FAILED', reason: 'this session was not opened with a node certificate' })
  try {
    const issued: IssuedCertificate = await identities.renew(session.node, session.identity, checked.value.csr)
    return response(m, Sources.cloud, issued)
  } catch (err) {
    return errorResponse(m, Sources.cloud, { code: err instanceof TernError ? err.code : 'IDENTITY_STORE_FAILED', reason: (err as Error).message })
  }
}
