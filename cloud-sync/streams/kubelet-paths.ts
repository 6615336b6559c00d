/**
 * The kubelet server's streaming paths (pkg/kubelet/server/server.go), as the API server calls
 * them for pods/log, pods/exec, pods/attach and pods/portforward (pure):
 *
 *   GET  /containerLogs/{namespace}/{pod}/{container}?follow&previous&tailLines&timestamps&sinceSeconds&sinceTime&limitBytes
 *   GET|POST /exec/{namespace}/{pod}[/{uid}]/{container}?command=…&input=1&output=1&error=1&tty=1
 *   GET|POST /attach/{namespace}/{pod}[/{uid}]/{container}?input=1&output=1&error=1&tty=1
 *   GET|POST /portForward/{namespace}/{pod}[/{uid}][?port=…]
 */

export type KubeletTarget =
  | { kind: 'logs'; namespace: string; pod: string; container: string }
  | { kind: 'exec' | 'attach'; namespace: string; pod: string; uid?: string; container: string }
  | { kind: 'portforward'; namespace: string; pod: string; uid?: string }

const SEGMENT = /^[A-Za-z0-9][-A-Za-z0-9_.]{0,252}$/

/** The target of a kubelet path, or undefined when it is not one tern serves. */
export function parseKubeletPath(pathname: string): KubeletTarget | undefined {
  let parts: string[]
  try {
    parts = pathname.split('/').slice(1).map(decodeURIComponent)
  } catch {
    return undefined
  }
  const [head, namespace, pod, ...rest] = parts
  if (namespace === undefined || pod === undefined || !SEGMENT.test(namespace) || !SEGMENT.test(pod) || !rest.every((p) => SEGMENT.test(p))) return undefined
  switch (head) {
    case 'containerLogs':
      return rest.length === 1 ? { kind: 'logs', namespace, pod, container: rest[0] as string } : undefined
    case 'exec':
    case 'attach':
      if (rest.length === 1) return { kind: head, namespace, pod, container: rest[0] as string }
      if (rest.length === 2) return { kind: head, namespace, pod, uid: rest[0] as string, container: rest[1] as string }
      return undefined
    case 'portForward':
      if (rest.length === 0) return { kind: 'portforward', namespace, pod }
      if (rest.length === 1) return { kind: 'portforward', namespace, pod, uid: rest[0] as string }
      return undefined
    default:
      return undefined
  }
}

/** The containerLogs query keys the kubelet reads; others are ignored, as the kubelet ignores them. */
export const LOG_QUERY_KEYS = ['follow', 'previous', 'tailLines', 'timestamps', 'sinceSeconds', 'sinceTime', 'limitBytes'] as const

/** The kubelet's boolean query values ("true", "1"; kubectl and the API server send "true" and "1"). */
export function queryFlag(value: string | null | undefined): boolean {
  return value === 'true' || value === '1'
}
