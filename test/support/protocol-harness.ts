/**
 * A real protocol's mapper end to end in one process, on real time: aedes (no listener) as the bus,
 * the real DeviceTwin over memory-level, and a Mapper of the given protocol with the real clock —
 * for protocols whose devices are real peers (node-opcua servers), where a manual clock would only
 * stall their sockets' timers. Same shape as mapper-harness.ts (which drives the fake protocol on a
 * manual clock). Call `protocolHarness()` inside a `describe`; its afterEach stops what a test started.
 */
import type { Logger } from 'pino'
import type { Bus } from '../../broker/bus.js'
import type { Protocol } from '../../mappers/driver.js'
import { realClock } from '../../mappers/runtime/clock.js'
import { Mapper, type MapperOptions } from '../../mappers/runtime/mapper.js'
import type { EdgeDevice } from '../../schemas/device.js'
import { deviceTopic, type DeviceTopicSuffix } from '../../schemas/topics.js'
import type { DeviceTwin } from '../../twin/device-twin.js'
import { startTwinOnBus, type Published } from './twin-on-bus.js'

export type { Published } from './twin-on-bus.js'

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
  /** opens a TCP listener of the bus for other clients (apps); its mqtt:// URL */
  listen(): Promise<string>
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
    const { bus, twin, log, logs, published, twinOf, listen } = await startTwinOnBus({ devices: options.devices, layout: 'name', now: () => Date.now(), undo })
    const mapper = new Mapper({
      bus,
      protocol: options.protocol,
      nodeName: 'edge-1',
      layout: 'name',
      log,
      clock: realClock,
      dataDir: options.dataDir,
      options: { random: () => 0.5, spreadPolls: false, ...options.mapper },
    })
    undo.push(() => mapper.stop())
    await mapper.start()

    const on = (device: string, suffix: DeviceTopicSuffix): Published[] => {
      const topic = deviceTopic({ layout: 'name', name: device }, suffix)
      return published.filter((p) => p.topic === topic)
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
      listen,
      desire: (device, values) =>
        publish(deviceTopic({ layout: 'name', name: device }, 'twin/update'), {
          event_id: `app-${Date.now()}`,
          timestamp: Date.now(),
          twin: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { expected: { value: v } }])),
        }),
    }
  }
}
