/**
 * A {@link Wire} over an open `ws` WebSocket. KubeEdge's viaduct writes JSON as text frames; a
 * binary frame is read as UTF-8 too, so a peer that sends bytes is not cut off for it (a frame that
 * is not a valid envelope is the Session's business).
 */
import type { Logger } from 'pino'
import WebSocket from 'ws'
import type { Wire } from '../session.js'

export function wsWire(socket: WebSocket, log: Logger): Wire {
  // A protocol violation by the peer (bad frame, frame over maxPayload); 'close' follows, and that
  // is what the session acts on.
  socket.on('error', (err) => log.warn({ err }, 'websocket error; closing'))
  return {
    send(text) {
      // after close, ws drops the frame (sendAfterClose); the session has seen or will see 'close'
      socket.send(text)
    },
    close(code, reason) {
      if (socket.readyState === WebSocket.CLOSED) return
      // ws throws on codes a peer may not send and on reasons over 123 bytes; closing must not throw
      socket.close(code !== undefined && sendableCode(code) ? code : 1000, reason !== undefined && Buffer.byteLength(reason) <= 123 ? reason : undefined)
    },
    onText(handler) {
      socket.on('message', (data) => handler(toText(data)))
    },
    onClose(handler) {
      socket.on('close', (code, reason) => handler(code, reason.toString('utf8')))
    },
  }
}

function toText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}

/** RFC 6455 §7.4: codes an endpoint may put in a close frame. */
function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
}
