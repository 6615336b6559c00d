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
  /**
   * The pods of the current set it could not take (EDGED_POD_INVALID), when the source has them
   * from the API server: never run, but reported Failed with why, and terminated once deleted, so
   * the cluster is never left waiting on them.
   */
  refused?(): RefusedPod[]
}

/** A pod its source refused: its metadata (it checked as far as that) and why. */
export interface RefusedPod {
  metadata: Pod['metadata']
  message: string
}

/** Checks a document against the Pod schema and the API server's rules; throws EDGED_POD_INVALID naming the field. */
export type PodValidator = (input: unknown, where: string) => Pod
