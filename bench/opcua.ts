/**
 * OPC-UA monitored items delivered to the twin (kubeedge-compat.md §6.8): one node-opcua server in its own process
 * (test/support/opcua-server.ts) with N Double variables, every one changing every `tickMs`; one
 * device with N properties (collectCycle = `cycleMs`, so N monitored items in ONE subscription);
 * the opcua protocol in a real Mapper on the real clock; the real DeviceTwin (memory-level) on an
 * in-process aedes bus. Measured over `duration` seconds after `warmup`: property values the
 * mapper delivered to the twin in `twin/update` reports, per second (the twin answers only a
 * refused report, on `twin/update/result`: `rejected` counts those); plus the time from mapper
 * start until every item had been reported.
 *
 * Run alone: `npx tsx bench/opcua.ts [--items 1000] [--tick-ms 100] [--cycle-ms 100] [--duration 10]`
 * prints one JSON line `{"bench":"opcua",...}`. For bench/run.ts: `runOpcuaBench(OPCUA_DEFAULTS, log)`.
 */
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'
import { MemoryLevel } from 'memory-level'
import { pino } from 'pino'
import { aedesBus } from '../broker/bus.js'
import { opcuaProtocol } from '../mappers/opcua/protocol.js'
import { realClock } from '../mappers/runtime/clock.js'
import { Mapper } from '../mappers/runtime/mapper.js'
import type { EdgeDevice } from '../schemas/device.js'
import { DeviceTwin } from '../twin/device-twin.js'
import { LevelStore } from '../twin/store.js'
import type { TwinSpaces } from '../twin/stored-device.js'
import { opcuaProperty, startOpcuaServer } from '../test/support/opcua.js'
import { freePort, scratchDir } from '../test/support/resources.js'

export interface OpcuaBenchOptions {
  items: number
  tickMs: number
  cycleMs: number
  warmup: number
  duration: number
}

export const OPCUA_DEFAULTS: OpcuaBenchOptions = { items: 1000, tickMs: 100, cycleMs: 100, warmup: 3, duration: 10 }

export function opcuaEstimateSeconds(o: OpcuaBenchOptions): number {
  return o.warmup + o.duration + 15
}

export interface OpcuaBenchResult {
  bench: 'opcua'
  items: number
  tickMs: number
  cycleMs: number
  durationS: number
  /** value changes the server makes per second */
  offeredPerS: number
  /** property values reported to the twin and accepted, per second */
  deliveredPerS: number
  reportsPerS: number
  /** mapper start → every item reported to the twin */
  allItemsInTwinMs: number
  rejected: number
  rssMiB: number
}

export async function runOpcuaBench(o: OpcuaBenchOptions, log: (line: string) => void = () => {}): Promise<OpcuaBenchResult> {
  const dir = await scratchDir('tern-bench-opcua-')
  const port = await freePort()
  const peer = await startOpcuaServer({ port, pki: `${dir.path}/server-pki`, items: o.items })
  const quiet = pino({ level: 'warn' })
  const aedes = await Aedes.createBroker()
  const bus = aedesBus(aedes, quiet)
  const db = new MemoryLevel<string, unknown>()
  await db.open()
  const twin = new DeviceTwin({ bus, store: new LevelStore<TwinSpaces>(db, ['device', 'twin']), nodeName: 'bench', layout: 'name', log: quiet })
  let mapper: Mapper | undefined
  try {
    await twin.start()
    const device: EdgeDevice = {
      id: 'plc-1',
      name: 'plc-1',
      namespace: 'default',
      model: 'plc',
      protocol: { protocolName: 'opcua', configData: { url: peer.url, timeout: 10_000 } },
      properties: Array.from({ length: o.items }, (_, i) => opcuaProperty(`item${i}`, 'DOUBLE', { nodeID: `ns=1;s=Item${i}` }, { accessMode: 'ReadOnly', collectCycle: o.cycleMs })),
    }
    await twin.setMembers([device])

    let delivered = 0
    let reports = 0
    let rejected = 0
    const seen = new Set<string>()
    let allAt: number | undefined
    await bus.subscribe('$hw/events/device/plc-1/twin/update', (_topic, payload) => {
      const body = JSON.parse(payload.toString('utf8')) as { twin?: Record<string, unknown> }
      const names = Object.keys(body.twin ?? {})
      reports++
      delivered += names.length
      if (allAt === undefined) {
        for (const n of names) seen.add(n)
        if (seen.size === o.items) allAt = performance.now()
      }
    })
    await bus.subscribe('$hw/events/device/plc-1/twin/update/result', (_topic, payload) => {
      if (payload.toString('utf8').includes('"code"')) rejected++
    })

    await peer.command(`tick ${o.tickMs}`)
    const started = performance.now()
    mapper = new Mapper({ bus, protocol: opcuaProtocol({ dataDir: dir.path }), nodeName: 'bench', layout: 'name', log: quiet, clock: realClock, dataDir: dir.path, options: { heartbeatMs: 0 } })
    await mapper.start()
    log(`opcua: ${o.items} items, warming up ${o.warmup} s`)
    await sleep(o.warmup * 1000)
    const d0 = delivered
    const r0 = reports
    const t0 = performance.now()
    await sleep(o.duration * 1000)
    const seconds = (performance.now() - t0) / 1000
    const result: OpcuaBenchResult = {
      bench: 'opcua',
      items: o.items,
      tickMs: o.tickMs,
      cycleMs: o.cycleMs,
      durationS: Math.round(seconds * 10) / 10,
      offeredPerS: Math.round((o.items * 1000) / o.tickMs),
      deliveredPerS: Math.round((delivered - d0) / seconds),
      reportsPerS: Math.round(((reports - r0) / seconds) * 10) / 10,
      allItemsInTwinMs: allAt === undefined ? -1 : Math.round(allAt - started),
      rejected,
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    }
    return result
  } finally {
    await mapper?.stop()
    await twin.stop()
    await bus.stop()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    await db.close()
    await peer.stop()
    await dir.remove()
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({
    options: { items: { type: 'string' }, 'tick-ms': { type: 'string' }, 'cycle-ms': { type: 'string' }, warmup: { type: 'string' }, duration: { type: 'string' } },
  })
  const options: OpcuaBenchOptions = {
    items: Number(values.items ?? OPCUA_DEFAULTS.items),
    tickMs: Number(values['tick-ms'] ?? OPCUA_DEFAULTS.tickMs),
    cycleMs: Number(values['cycle-ms'] ?? OPCUA_DEFAULTS.cycleMs),
    warmup: Number(values.warmup ?? OPCUA_DEFAULTS.warmup),
    duration: Number(values.duration ?? OPCUA_DEFAULTS.duration),
  }
  const result = await runOpcuaBench(options, (line) => console.error(line))
  console.log(JSON.stringify(result))
  process.exit(0)
}
