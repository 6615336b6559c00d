/**
 * A subscriber that stops reading: a raw TCP connection that subscribes and then reads nothing,
 * so the broker's writes back up into the kernel's buffers and then the broker's own. `resume()`
 * starts reading again and parses whatever arrives, in order.
 */
import type { Socket } from 'node:net'
import * as mqttPacket from 'mqtt-packet'
import { connectPacket, rawConnect, type ClientPool } from './mqtt.js'

export interface StalledSubscriber {
  socket: Socket
  /** Resolves with the time the broker closed the connection (performance.now()). */
  closed: Promise<number>
  /** Reads again; every PUBLISH from then on is collected (and acknowledged) here. */
  resume(): mqttPacket.IPublishPacket[]
}

export async function stalledSubscriber(pool: ClientPool, port: number, clientId: string, filter: string, qos: 0 | 1): Promise<StalledSubscriber> {
  const { socket, closed } = await rawConnect(pool, port, connectPacket({ clientId, keepalive: 0 }))
  const suback = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }))
  await suback
  socket.pause()
  return {
    socket,
    closed,
    resume: () => {
      const received: mqttPacket.IPublishPacket[] = []
      const parser = mqttPacket.parser({ protocolVersion: 4 })
      parser.on('packet', (packet) => {
        if (packet.cmd !== 'publish') return
        received.push(packet)
        if (packet.qos === 1) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId ?? 0 }))
      })
      socket.on('data', (chunk: Buffer) => parser.parse(chunk))
      socket.resume()
      return received
    },
  }
}
