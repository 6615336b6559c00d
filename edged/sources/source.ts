/**
 * Where desired pods come from. Each source gives its whole current set every time (level
 * triggered, like the kubelet's config sources in SET mode); edged merges the sources' sets.
 * A pod with `metadata.deletionTimestamp` is being deleted: edged stops it and never starts it.
 * Static pods from a directory, and pods bound to the node from the cloud.
 */
import type { Pod } from '../../schemas/pod.js'

export interface PodSource {
  /** Stable name, recorded with each pod (the kubelet's `kubernetes.io/config.source`). */
  readonly name: string
  /** Reads the initial set and starts watching; `onChange` gets every later whole set. */
  start(onChange: (pods: Pod[]) => void): Promise<Pod[]>
  stop(): Promise<void>
}

/** Checks a document against the Pod schema and the API server's rules; throws EDGED_POD_INVALID naming the field. */
export type PodValidator = (input: unknown, where: string) => Pod
