/**
 * How edged reaches a pod's address for httpGet and tcpSocket probes and hooks. On a node, pod IPs
 * are routed from the host (containerd's CNI bridge), so a plain TCP connect does it, as the
 * kubelet's prober does. A seam because a node's pod network may be somewhere the process cannot
 * route to directly (the tests' containerd lives in its own network namespace). And the node's own
 * address, where hostNetwork pods answer.
 */
import { connect, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'

/** Resolves with a connected socket, or rejects with the connect error (ECONNREFUSED, ...). */
export type Dial = (host: string, port: number) => Promise<Socket>

export const dialTcp: Dial = (host, port) =>
  new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })

/** The node's address for hostIP (and hostNetwork pods' probes): its first non-loopback IPv4 address. */
export function nodeAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}
