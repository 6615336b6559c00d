/**
 * What running one probe action gave (pkg/probe's Success / Warning / Failure / Unknown): Warning
 * counts as success (a redirect to another host); `error` means the check itself could not run
 * (the container is gone, a named port does not exist), and the kubelet throws such results away.
 */
export type ProbeOutcome = { result: 'success' | 'warning' | 'failure'; output: string } | { result: 'error'; output: string }

/** The kubelet keeps at most 10 KiB of a probe's output for its messages. */
export const MAX_PROBE_OUTPUT = 10 * 1024

export const clip = (text: string): string => (text.length > MAX_PROBE_OUTPUT ? text.slice(0, MAX_PROBE_OUTPUT) : text)
