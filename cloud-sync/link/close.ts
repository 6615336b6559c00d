/** Ending a WebSocket politely, but not waiting forever for a peer that may be gone. */
import WebSocket from 'ws'
import type { Clock } from '../../mappers/runtime/clock.js'

/** Resolves once `socket` has emitted 'close' (at once if it already has). */
export function socketClosed(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve()
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

/**
 * Cuts the TCP connection if the close handshake has not finished after `graceMs` (ws itself
 * waits 30 s). A silent or replaced peer is often a dead one; its socket should not linger.
 */
export function terminateAfter(socket: WebSocket, graceMs: number, clock: Clock): void {
  if (socket.readyState === WebSocket.CLOSED) return
  if (socket.readyState === WebSocket.CONNECTING) {
    socket.terminate()
    return
  }
  const handle = clock.setTimeout(() => socket.terminate(), graceMs)
  socket.once('close', () => clock.clearTimeout(handle))
}
