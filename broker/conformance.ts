/**
 * MQTT 3.1.1 rules for what a client sends that mqtt-packet 9 (aedes' parser) lets through or
 * answers wrongly; each is checked on the bytes, in the parser aedes made for the connection:
 * - [MQTT-1.5.3-1] [MQTT-1.5.3-2] every UTF-8 string (client id, will topic, username, topic
 *   names and filters) must be well-formed UTF-8 without U+0000, else the connection is closed.
 *   mqtt-packet decoded ill-formed bytes to U+FFFD and passed U+0000 on, so `a\0b` and `a\uFFFDb`
 *   were topics like any other.
 * - [MQTT-3.1.2-2] a CONNECT with a protocol level the broker does not speak gets CONNACK 1
 *   (unacceptable protocol version) before the connection is closed. mqtt-packet refused levels
 *   other than 3, 4 and 5 itself, so aedes closed the connection without a CONNACK (aedes answers
 *   level 5 with CONNACK 1 itself).
 * - [MQTT-3.1.2-22] a CONNECT with the password flag but not the username flag is a protocol
 *   violation: the connection is closed without a CONNACK. mqtt-packet read the password.
 */
import { isUtf8 } from 'node:buffer'
import type { Client } from 'aedes'

/** What is used of mqtt-packet's parser (lib/parser.js) and the `bl` list it reads from. */
interface Parser {
  _list: { length: number; readUInt8(offset: number): number; readUInt16BE(offset: number): number; slice(start: number, end: number): Buffer }
  _pos: number
  _parseString(): string | null
  _parseConnect(): unknown
  _emitError(err: Error): void
}

/** The protocol levels a CONNECT may name: 3 (MQTT 3.1, `MQIsdp`), 4 (3.1.1), 5 (answered CONNACK 1 by aedes). */
const PARSED_LEVELS = new Set([3, 4, 5])
const USERNAME_FLAG = 0x80
const PASSWORD_FLAG = 0x40
/** CONNACK, return code 1: unacceptable protocol version [MQTT-3.2.2.3] */
const CONNACK_UNACCEPTABLE_PROTOCOL = Buffer.from([0x20, 0x02, 0x00, 0x01])

/** Why the bytes of a UTF-8 string are not allowed, or undefined. */
function stringFault(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return 'U+0000 in a UTF-8 string [MQTT-1.5.3-2]'
  if (!isUtf8(bytes)) return 'ill-formed UTF-8 in a UTF-8 string [MQTT-1.5.3-1]'
  return undefined
}

/** Installs the checks on the parser aedes made for `client` (lib/client.js keeps it as `_parser`). */
export function enforceConformance(client: Client): void {
  const parser = (client as unknown as { _parser?: Parser })._parser
  if (parser === undefined || typeof parser._parseString !== 'function' || typeof parser._parseConnect !== 'function') return
  const parseString = parser._parseString.bind(parser)
  const parseConnect = parser._parseConnect.bind(parser)

  // Every topic of every PUBLISH passes here: the decoded string is looked at first (ill-formed
  // bytes decode to U+FFFD), the bytes only when it holds U+0000 or U+FFFD (~30 ns a topic, not
  // the ~300 ns of a byte loop).
  parser._parseString = () => {
    const start = parser._pos + 2
    const decoded = parseString()
    if (decoded === null || (decoded.indexOf('\0') === -1 && decoded.indexOf('\uFFFD') === -1)) return decoded
    const fault = stringFault(parser._list.slice(start, parser._pos))
    if (fault === undefined) return decoded // U+FFFD itself, well-formed
    parser._emitError(new Error(fault))
    return null
  }

  parser._parseConnect = () => {
    const list = parser._list
    // protocol name (2-byte length + bytes), then the level and the flags
    if (list.length >= 2) {
      const levelAt = 2 + list.readUInt16BE(0)
      if (levelAt + 1 < list.length) {
        const level = list.readUInt8(levelAt) & 0x7f // the top bit is mqtt-packet's bridge mode
        const flags = list.readUInt8(levelAt + 1)
        if (!PARSED_LEVELS.has(level)) {
          // mqtt-packet would refuse the level before aedes could answer; the CONNACK goes out first
          client.conn.end(CONNACK_UNACCEPTABLE_PROTOCOL)
          return parser._emitError(new Error(`unacceptable protocol level ${level} [MQTT-3.1.2-2]`))
        }
        if ((flags & PASSWORD_FLAG) !== 0 && (flags & USERNAME_FLAG) === 0) {
          return parser._emitError(new Error('password flag without username flag [MQTT-3.1.2-22]'))
        }
      }
    }
    return parseConnect()
  }
}
