/**
 * The mapper runtime end to end in one process: a real aedes broker (no listener) as the bus, the
 * real DeviceTwin over memory-level, a Mapper of the fake protocol, and a manual clock for the
 * mapper's time. Everything published on `$hw/#` is recorded. Call `mapperHarness()` inside a
 * `describe`; its afterEach hook stops what a test started.
 */
import type { Logger } from 'pino'
import type { Bus } from '../../broker/bus.js'
import { Mapper, type MapperOptions } from '../../mappers/runtime/mapper.js'
import type { Protocol } from '../../mappers/driver.js'
import type { EdgeDevice } from '../../schemas/device.js'
import { deviceTopic, nodeTopic, type DeviceTopicLayout, type DeviceTopicSuffix } from '../../schemas/topics.js'
import type { DeviceTwin } from '../../twin/device-twin.js'
import { startTwinOnBus, type Published } from './twin-on-bus.js'
import { FakeProtocol } from './fake-protocol.js'
import { ManualClock, settle } from './manual-clock.js'

export type { Published } from './twin-on-bus.js'

export interface Harness {
  clock: ManualClock
  protocol: FakeProtocol
  bus: Bus
  twin: DeviceTwin
  mapper: Mapper
  log: Logger
  /** every log line of the twin and the mapper, parsed */
  logs: Array<Record<string, unknown>>
  /** log lines carrying `code` */
  logged(code: string): Array<Record<string, unknown>>
  published: Published[]
  /** messages on `$hw/events/device/<name>/<suffix>` (flat layout) */
  on(device: string, suffix: DeviceTopicSuffix): Published[]
  /** settles the event loop until `test` holds (real time limit `ms`) */
  until(test: () => boolean, what: string, ms?: number): Promise<void>
  /** the twin's stored actual value of a device property */
  actual(device: string, property: string): string | undefined
  expected(device: string, property: string): string | undefined
  publish(topic: string, body: unknown): Promise<void>
  /** opens a TCP listener of the bus for other clients (apps); its mqtt:// URL */
  listen(): Promise<string>
  membershipUpdatedCount(): number
}

export interface HarnessOptions {
  devices: EdgeDevice[]
  layout?: DeviceTopicLayout
  mapper?: MapperOptions['options']
  /** set up the fake devices before the mapper starts */
  prepare?(protocol: FakeProtocol): void
  /** run the mapper on this protocol instead of the fake one (e.g. a real driver against a simulated device) */
  protocol?: Protocol
}

export function mapperHarness(): (options: HarnessOptions) => Promise<Harness> {
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  return async (options) => {
    const layout = options.layout ?? 'name'
    const clock = new ManualClock()
    const { bus, twin, log, logs, published, twinOf, listen } = await startTwinOnBus({ devices: options.devices, layout, now: () => clock.now(), undo })

    const protocol = new FakeProtocol(clock)
    options.prepare?.(protocol)
    const mapper = new Mapper({ bus, protocol: options.protocol ?? protocol, nodeName: 'edge-1', layout, log, clock, dataDir: '/nonexistent', options: { random: () => 0.5, spreadPolls: false, ...options.mapper } })
    undo.push(() => mapper.stop())
    await mapper.start()
    await settle()

    const until = async (test: () => boolean, what: string, ms = 3000): Promise<void> => {
      const deadline = Date.now() + ms
      while (!test()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; published:\n${published.map((p) => `${p.topic} ${JSON.stringify(p.body)}`).join('\n')}`)
        await settle(1)
      }
    }
    return {
      clock,
      protocol,
      bus,
      twin,
      mapper,
      log,
      logs,
      logged: (code) => logs.filter((l) => l.code === code),
      published,
      on: (device, suffix) => {
        const topic = deviceTopic({ layout: 'name', name: device }, suffix)
        return published.filter((p) => p.topic === topic)
      },
      until,
      actual: (device, property) => twinOf(device, property)?.actual?.value,
      expected: (device, property) => twinOf(device, property)?.expected?.value,
      publish: (topic, body) => bus.publish(topic, JSON.stringify(body), { qos: 1 }),
      listen,
      membershipUpdatedCount: () => published.filter((p) => p.topic === nodeTopic('edge-1', 'membership/updated')).length,
    }
  }
}
