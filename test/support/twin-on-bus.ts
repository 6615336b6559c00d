/**
 * The twin side of the in-process mapper harnesses: aedes as the bus (a TCP listener on request,
 * for other clients such as apps), the real DeviceTwin over memory-level with the given members,
 * every log line captured, and everything published on `$hw/#` recorded. Whatever it starts is
 * undone through `undo`.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { Aedes } from 'aedes'
import { MemoryLevel } from 'memory-level'
import { pino, type Logger } from 'pino'
import { aedesBus, type Bus } from '../../broker/bus.js'
import type { EdgeDevice } from '../../schemas/device.js'
import type { DeviceTopicLayout } from '../../schemas/topics.js'
import { DeviceTwin } from '../../twin/device-twin.js'
import { LevelStore } from '../../twin/store.js'
import type { TwinSpaces } from '../../twin/stored-device.js'

export interface Published {
  topic: string
  body: Record<string, unknown>
  /** `now()` of the harness when it arrived */
  at: number
}

export interface TwinOnBus {
  bus: Bus
  twin: DeviceTwin
  log: Logger
  logs: Array<Record<string, unknown>>
  published: Published[]
  /** the stored twin of a device in namespace `default` */
  twinOf: (device: string, property: string) => { expected?: { value: string }; actual?: { value: string } } | undefined
  /** opens a TCP listener of the bus on 127.0.0.1 (a port from the OS); its mqtt:// URL */
  listen: () => Promise<string>
}

export async function startTwinOnBus(options: {
  devices: EdgeDevice[]
  layout: DeviceTopicLayout
  now: () => number
  undo: Array<() => Promise<void>>
}): Promise<TwinOnBus> {
  const { undo } = options
  const logs: Array<Record<string, unknown>> = []
  const log = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        logs.push(JSON.parse(line) as Record<string, unknown>)
        if (process.env.TERN_TEST_LOG !== undefined) process.stderr.write(line)
      },
    },
  )
  const aedes = await Aedes.createBroker()
  undo.push(() => new Promise<void>((resolve) => aedes.close(() => resolve())))
  const bus = aedesBus(aedes, log)
  undo.push(() => bus.stop())
  const db = new MemoryLevel<string, unknown>()
  await db.open()
  undo.push(() => db.close())
  const store = new LevelStore<TwinSpaces>(db, ['device', 'twin'])
  const twin = new DeviceTwin({ bus, store, nodeName: 'edge-1', layout: options.layout, log })
  undo.push(() => twin.stop())
  await twin.start()
  await twin.setMembers(options.devices)

  const published: Published[] = []
  await bus.subscribe('$hw/#', (topic, payload) => {
    let body: Record<string, unknown>
    try {
      body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>
    } catch {
      body = { unparsable: payload.toString('utf8') }
    }
    published.push({ topic, body, at: options.now() })
  })
  const twinOf: TwinOnBus['twinOf'] = (device, property) => {
    const record = twin.devices.get(`default/${device}`) as unknown as { twins: Record<string, { expected?: { value: string }; actual?: { value: string } }> } | undefined
    return record?.twins[property]
  }
  const listen = async (): Promise<string> => {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      aedes.handle(socket)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    undo.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve())
          // clients still connected must not hold the close up
          for (const socket of sockets) socket.destroy()
        }),
    )
    return `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
  }
  return { bus, twin, log, logs, published, twinOf, listen }
}
