/**
 * The hash of a container's spec that the kubelet keeps in the `io.kubernetes.container.hash`
 * annotation: a running container whose spec no longer hashes the same is killed and started
 * again (a changed image, command, env...).
 */
import { createHash } from 'node:crypto'
import type { Container } from '../../schemas/pod.js'
import { stableJson } from '../stable-json.js'

export function containerHash(container: Container): string {
  return createHash('sha256').update(stableJson(container)).digest('hex').slice(0, 16)
}
