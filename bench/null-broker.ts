/**
 * A stand-in broker that does almost nothing, to find where the load generator itself saturates:
 * it answers CONNECT, SUBSCRIBE and QoS 1 PUBLISH, drops every message, and in `source` mode
 * streams pre-encoded PUBLISH packets to every subscriber as fast as the socket takes them.
 *
 *   node --import tsx bench/null-broker.ts <sink|source> <payloadBytes>
 * prints `listening <port>` on stdout; runs until SIGTERM.
 */
import { createServer, type Socket } from 'node:net'
import { CONNACK, FrameReader, PUBLISH, SUBACK, pubacks, publishTemplate } from './mqtt-wire.js'

const [mode = 'sink', payloadArg = '64'] = process.argv.slice(2)
const payloadBytes = Number(payloadArg)
const SUBSCRIBE = 8
const DISCONNECT = 14
const BLOCK = 64

function block(qos: 0 | 1): Buffer {
  const tpl = publishTemplate('bench/null/all', qos, payloadBytes)
  const out = Buffer.alloc(BLOCK * tpl.bytes.length)
  for (let i = 0; i < BLOCK; i++) {
    tpl.bytes.copy(out, i * tpl.bytes.length)
    if (qos === 1) out.writeUInt16BE(i + 1, i * tpl.bytes.length + tpl.messageIdAt)
  }
  return out
}
const blocks = { 0: block(0), 1: block(1) }

function blast(socket: Socket, data: Buffer): void {
  const go = (): void => {
    while (!socket.destroyed && socket.write(data));
  }
  socket.on('drain', go)
  go()
}

const server = createServer((socket) => {
  socket.setNoDelay(true)
  let acks: number[] = []
  const reader = new FrameReader((type, flags, buf, start, end) => {
    switch (type) {
      case 1: // CONNECT
        socket.write(Buffer.from([CONNACK << 4, 2, 0, 0]))
        break
      case SUBSCRIBE: {
        const qos = buf[end - 1] === 1 ? 1 : 0
        socket.write(Buffer.from([SUBACK << 4, 3, buf[start] ?? 0, buf[start + 1] ?? 0, qos]))
        if (mode === 'source') setImmediate(() => blast(socket, blocks[qos]))
        break
      }
      case PUBLISH:
        if ((flags & 0x06) !== 0) acks.push(buf.readUInt16BE(start + 2 + buf.readUInt16BE(start)))
        break
      case DISCONNECT:
        socket.end()
        break
    }
  })
  socket.on('data', (chunk: Buffer) => {
    reader.push(chunk)
    if (acks.length > 0) {
      socket.write(pubacks(acks))
      acks = []
    }
  })
  socket.on('error', () => socket.destroy())
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  console.log(`listening ${typeof address === 'object' && address !== null ? address.port : 0}`)
})
process.on('SIGTERM', () => process.exit(0))
