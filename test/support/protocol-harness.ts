/**
 * A real protocol's mapper end to end in one process, on real time: aedes (no listener) as the bus,
 * the real DeviceTwin over memory-level, and a Mapper of the given protocol with the real clock —
 * for protocols whose devices are real peers (node-opcua servers), where a manual clock would only
 * stall their sockets' timers. Same shape as mapper-harness.ts (which drives the fake protocol on a
 * manual clock). Call `protocolHarness()` inside a `describe`; its afterEach stops what a test started.
 */
import { Aedes } from 'aedes'
import { MemoryLevel } from 'memory-level'
import { pino, type Logger } from 'pino'
import { aedesBus, type Bus } from '../../broker/bus.js'
import type { Protocol } from '../../mappers/driver.js'
import { realClock } from '../../mappers/runtime/clock.js'
import { Mapper, type MapperOptions } from '../../mappers/runtime/mapper.js'
import type { EdgeDevice } from '../../schemas/device.js'
import { deviceTopic, type DeviceTopicSuffix } from '../../schemas/topics.js'
import { DeviceTwin } from '../../twin/device-twin.js'
import { LevelStore } from '../../twin/store.js'
import type { TwinSpaces } from '../../twin/stored-device.js'

export interface Published {
  topic: string
  body: Record<string, unknown>
  at: number
}

export interface ProtocolHarness {
  bus: Bus
  twin: DeviceTwin
  mapper: Mapper
  log: Logger
  logs: Array<Record<string, unknown>>
  logged(code: string): Array<Record<string, unknown>>
  published: Published[]
  on(device: string, suffix: DeviceTopicSuffix): Published[]
  until(test: () => boolean, what: string, ms?: number): Promise<void>
  actual(device: string, property: string): string | undefined
  expected(device: string, property: string): string | undefined
  /** the last state the mapper reported for the device */
  state(device: string): string | undefined
  publish(topic: string, body: unknown): Promise<void>
  /** sets expected values the way an application does: `…/twin/update` with `expected` */
  desire(device: string, values: Record<string, string>): Promise<void>
}

export interface ProtocolHarnessOptions {
  devices: EdgeDevice[]
  protocol: Protocol
  dataDir: string
  mapper?: MapperOptions['options']
}

export function protocolHarness(): (options: ProtocolHarnessOptions) => Promise<ProtocolHarness> {
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  return async (options) => {
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
    const twin = new DeviceTwin({ bus, store, nodeName: 'edge-1', layout: 'name', log })
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
      published.push({ topic, body, at: Date.now() })
    })
    const mapper = new Mapper({
      bus,
      protocol: options.protocol,
      nodeName: 'edge-1',
      layout: 'name',
      log,
      clock: realClock,
      dataDir: options.dataDir,
      options: { random: () => 0.5, ...options.mapper },
    })
    undo.push(() => mapper.stop())
    await mapper.start()

    const on = (device: string, suffix: DeviceTopicSuffix): Published[] => {
      const topic = deviceTopic({ layout: 'name', name: device }, suffix)
      return published.filter((p) => p.topic === topic)
    }
    const twinOf = (device: string, property: string): { expected?: { value: string }; actual?: { value: string } } | undefined => {
      const record = twin.devices.get(`default/${device}`) as unknown as { twins: Record<string, { expected?: { value: string }; actual?: { value: string } }> } | undefined
      return record?.twins[property]
    }
    const publish = (topic: string, body: unknown): Promise<void> => bus.publish(topic, JSON.stringify(body), { qos: 1 })
    return {
      bus,
      twin,
      mapper,
      log,
      logs,
      logged: (code) => logs.filter((l) => l.code === code),
      published,
      on,
      until: async (test, what, ms = 10_000) => {
        const deadline = Date.now() + ms
        while (!test()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last messages:\n${published.slice(-15).map((p) => `${p.topic} ${JSON.stringify(p.body)}`).join('\n')}`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      },
      actual: (device, property) => twinOf(device, property)?.actual?.value,
      expected: (device, property) => twinOf(device, property)?.expected?.value,
      state: (device) => on(device, 'state/update').at(-1)?.body.state as string | undefined,
      publish,
      desire: (device, values) =>
        publish(deviceTopic({ layout: 'name', name: device }, 'twin/update'), {
          event_id: `app-${Date.now()}`,
          timestamp: Date.now(),
          twin: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { expected: { value: v } }])),
        }),
    }
  }
}
