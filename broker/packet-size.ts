/**
 * Packet sizes a client may make the broker buffer, checked in mqtt-packet's parser as soon as a
 * packet's fixed header has been read, before its body is buffered and before the client has
 * authenticated. Without it a client could announce a 256 MiB CONNECT and the parser kept every
 * byte of it while it arrived.
 * - After CONNACK: a packet (fixed header included) over maxPacketSize closes the connection
 *   (Mosquitto's `max_packet_size`; 0 = MQTT's own limit).
 * - Before CONNACK, a client has proved nothing yet: it may send at most CONNECT_PHASE_BYTES (or
 *   maxPacketSize, if smaller) in all, its CONNECT and whatever it sends before its CONNACK.
 * What the parser held is released at once; aedes then closes the connection on the error.
 */
import type { Client } from 'aedes'
import type { Logger } from 'pino'
import type { LimitCounters } from './limits.js'

/** Most bytes a connection may send before its CONNACK (a CONNECT with credentials and a will fits). */
export const CONNECT_PHASE_BYTES = 64 * 1024

/** What this needs of the mqtt-packet 9 parser aedes keeps as `_parser` (lib/client.js). */
interface ParserInternals {
  packet: { cmd?: string; length: number }
  _list: { length: number; consume(bytes: number): unknown }
  _parseLength(): boolean
  parse(buf: Buffer): number
  _emitError(err: Error): void
}

class PacketTooLarge extends Error {
  readonly code = 'MQTT_PACKET_TOO_LARGE'
}

/**
 * Puts the limits on the parser aedes made for `client`. Returns whether the parser looked like
 * mqtt-packet's (feature-detected, as hot-path.ts does).
 */
export function limitPacketSize(client: Client, maxPacketSize: number, counters: LimitCounters, log: Logger): boolean {
  const parser = (client as unknown as { _parser?: Partial<ParserInternals> })._parser
  if (!isParser(parser)) return false
  const connectPhase = Math.min(CONNECT_PHASE_BYTES, maxPacketSize === 0 ? Infinity : maxPacketSize)
  const connected = (): boolean => (client as unknown as { connackSent?: boolean }).connackSent === true
  let received = 0

  const refuse = (what: 'packet' | 'connect phase', size: number): void => {
    const limit = what === 'packet' ? maxPacketSize : connectPhase
    if (what === 'packet') counters.packetTooLarge++
    else counters.connectPhaseTooLarge++
    log.warn({ code: 'MQTT_PACKET_TOO_LARGE', clientId: client.id ?? undefined, cmd: parser.packet.cmd, size, limit, before: what === 'connect phase' ? 'CONNACK' : undefined }, 'packet over the size limit: connection closed')
    parser._list.consume(parser._list.length) // nothing of it is kept
    parser._emitError(new PacketTooLarge(`${what} over ${limit} bytes`))
  }

  const parse = parser.parse.bind(parser)
  parser.parse = (buf) => {
    if (!connected()) {
      received += buf.length
      if (received > connectPhase) {
        refuse('connect phase', received)
        return 0
      }
    }
    return parse(buf)
  }

  const parseLength = parser._parseLength.bind(parser)
  parser._parseLength = () => {
    if (!parseLength()) return false
    const length = parser.packet.length
    const size = 1 + lengthBytes(length) + length
    if (!connected() && size > connectPhase) refuse('connect phase', size)
    else if (maxPacketSize > 0 && size > maxPacketSize) refuse('packet', size)
    else return true
    return false
  }
  return true
}

/** Bytes of MQTT's variable-length encoding of `n` [MQTT-2.2.3]. */
function lengthBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

function isParser(p: Partial<ParserInternals> | undefined): p is ParserInternals {
  return p !== undefined && typeof p._parseLength === 'function' && typeof p.parse === 'function' && typeof p._emitError === 'function' && p._list !== undefined && p.packet !== undefined
}
