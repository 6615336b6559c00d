/**
 * Field paths and messages as the API server writes them (k8s.io/apimachinery field.Error):
 * `spec.containers[1].ports[0].hostPort: Duplicate value: 8080`, so an error from edged reads as
 * `kubectl apply` would have printed it.
 */

export interface PodProblem {
  /** `spec.containers[1].ports[0].hostPort` */
  path: string
  message: string
}

/** A path that grows: `p.child('ports').index(0).child('hostPort')`. */
export class FieldPath {
  constructor(readonly text: string) {}
  child(name: string): FieldPath {
    return new FieldPath(this.text === '' ? name : `${this.text}.${name}`)
  }
  index(i: number): FieldPath {
    return new FieldPath(`${this.text}[${i}]`)
  }
  key(k: string): FieldPath {
    return new FieldPath(`${this.text}[${k}]`)
  }
}

const show = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(value))

export const required = (path: FieldPath, detail = ''): PodProblem => ({ path: path.text, message: `Required value${detail === '' ? '' : `: ${detail}`}` })
export const duplicate = (path: FieldPath, value: unknown): PodProblem => ({ path: path.text, message: `Duplicate value: ${show(value)}` })
export const notFound = (path: FieldPath, value: unknown): PodProblem => ({ path: path.text, message: `Not found: ${show(value)}` })
export const invalid = (path: FieldPath, value: unknown, detail: string): PodProblem => ({ path: path.text, message: `Invalid value: ${show(value)}: ${detail}` })
export const forbidden = (path: FieldPath, detail: string): PodProblem => ({ path: path.text, message: `Forbidden: ${detail}` })
/** A field the API server accepts that edged does not run: refused, so nothing silently differs from a kubelet. */
export const unsupported = (path: FieldPath, detail: string): PodProblem => ({ path: path.text, message: `Unsupported by edged: ${detail}` })

/** ajv's JSON pointer (`/spec/containers/1/name`) as a field path (`spec.containers[1].name`). */
export function fromPointer(pointer: string): string {
  let out = ''
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    out += /^[0-9]+$/.test(segment) ? `[${segment}]` : out === '' ? segment : `.${segment}`
  }
  return out
}
