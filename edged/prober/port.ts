/** A probe's or hook's port: a number, a number written as a string, or the name of a container port (the kubelet's resolvePort). */
import type { Container } from '../../schemas/pod.js'

export function resolvePort(port: number | string, container: Container): number | undefined {
  if (typeof port === 'number') return port
  if (/^[0-9]+$/.test(port)) return Number(port)
  return container.ports?.find((p) => p.name === port)?.containerPort
}
