/**
 * `metav1.Status` failures as kube-apiserver sends them (k8s.io/apimachinery/pkg/api/errors), so
 * clients that switch on `reason`/`code` (kubectl, @kubernetes/client-node, tern cloud) see the
 * real thing.
 */

export interface StatusCause {
  reason: string
  message: string
  field?: string
}

export interface StatusDetails {
  name?: string
  group?: string
  kind?: string
  causes?: StatusCause[]
}

export interface Status {
  kind: 'Status'
  apiVersion: 'v1'
  /** `continue`: where a paged list whose token expired can go on from (inconsistently) */
  metadata: { continue?: string }
  status: 'Failure' | 'Success'
  message: string
  reason: string
  details?: StatusDetails
  code: number
}

/** A request that ends in a Status response; thrown inside handlers, caught at the top. */
export class ApiError extends Error {
  readonly status: Status
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message)
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code }
  }
}

/** `devices.devices.kubeedge.io`, or `namespaces` for the core group. */
export function qualified(plural: string, group: string): string {
  return group === '' ? plural : `${plural}.${group}`
}

export const notFound = (plural: string, group: string, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${qualified(plural, group)} "${name}" not found`, { name, group, kind: plural })

export const alreadyExists = (plural: string, group: string, name: string): ApiError =>
  new ApiError(409, 'AlreadyExists', `${qualified(plural, group)} "${name}" already exists`, { name, group, kind: plural })

export const conflict = (plural: string, group: string, name: string): ApiError =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(plural, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group, kind: plural },
  )

export const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message)

export const gone = (requested: string | number, oldest: number): ApiError =>
  new ApiError(410, 'Expired', `too old resource version: ${requested} (${oldest})`)

/** 422 with one cause per field, message in the apiserver's `Kind.group "name" is invalid: …` form. */
export function invalid(kind: string, group: string, name: string, causes: StatusCause[]): ApiError {
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message))
  const summary = list.length === 1 ? (list[0] ?? '') : `[${list.join(', ')}]`
  return new ApiError(422, 'Invalid', `${qualified(kind, group)} "${name}" is invalid: ${summary}`, { name, group, kind, causes })
}
