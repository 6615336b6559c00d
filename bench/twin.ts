/**
 * DeviceTwin end to end (DESIGN.md §8): `tern edge` with N devices from local manifests; one raw
 * MQTT connection publishes QoS 1 `twin/update` reports and receives every
 * `twin/update/result` (QoS 1). A device's next update is sent only after its result arrived, so
 * each measured update went publish → merge → LevelDB write → result received.
 *   - throughput: as fast as the results come back (every device always has one update in flight)
 *   - latency: paced at a fixed rate (half the measured throughput), percentiles of publish→result
 *   - RSS of the tern process after the load; start time of a node with N devices persisted
 * `mapper: 'modbus'` runs the target configuration of DESIGN.md §8 (broker + twin + Modbus mapper):
 * the devices are Modbus TCP slaves 1-247 of a real pymodbus peer on loopback (4 devices a slave
 * id), each polled every second (two requests: input registers 0-3 and coil 0) while the bench
 * runs; the mapper's own reports are told from the bench's by their event ids. `modbus-down`: the
 * same devices on a port where nothing listens, so the mapper holds 1,000 devices that back off
 * reconnecting (the worst case for its memory: every device in a retry loop).
 * Environment: TERN_NODE_FLAGS (node flags for the tern process, e.g. --max-semi-space-size=2; with
 * --trace-gc-verbose the result also gives the V8 heap's committed size, new space apart, at each
 * settled reading, from the last GC's trace before it),
 * TERN_BENCH_BIN (another built tern.js, for A/B runs), TERN_BENCH_CPU_PROF (a directory for a
 * CPU profile).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { stringify } from 'yaml'
import { startPymodbus, type PymodbusPeer } from '../test/support/modbus.js'
import { freePort, scratchDir } from '../test/support/resources.js'
import { TERN_BIN } from '../test/support/tern.js'
import { gcTotals, heapCommittedMiB } from '../test/support/v8-trace.js'
import { Connection } from './connection.js'
import { gatewayMemory, type Gateway } from './gateway.js'
import { PUBLISH, pubacks } from './mqtt-wire.js'
import { percentiles, round } from './phases.js'
import { anonMiB, cpuSeconds, rssMiB, startOwned, ternNodeFlags } from './servers.js'

export interface TwinBenchOptions {
  devices: number
  warmup: number
  duration: number
  latencyDuration: number
  starts: number
  /** an in-process mapper, enabled in the node's config (`mappers.enabled`), serving the devices */
  mapper?: TwinBenchMapper | undefined
  /** run tern in a memory cgroup of this many MiB, so V8 sizes its heap as on a gateway with that RAM (gateway.ts) */
  gatewayMemoryMiB?: number | undefined
  /** the node's `http` config: `false` = no metrics listener; absent = no `http` key, the built tern's default (builds from before the listener know no `http`) */
  http?: false | { listen: string } | undefined
}

export const TWIN_BENCH_MAPPERS = ['modbus', 'modbus-down'] as const
export type TwinBenchMapper = (typeof TWIN_BENCH_MAPPERS)[number]

// The metrics listener on a port from the OS: another node on the machine may hold the default 9464.
export const TWIN_DEFAULTS: TwinBenchOptions = { devices: 1000, warmup: 3, duration: 10, latencyDuration: 10, starts: 3, http: { listen: '127.0.0.1:0' } }

/**
 * How long an idle node is left before its settled RSS is read: V8's memory reducer runs a
 * compacting GC some seconds after start-up has stopped allocating (seen at 8-10 s on Node 20;
 * 15-25 s after a first start since the node limits old-generation growth once it has loaded,
 * cli/heap.ts: a full GC in start-up's tail restarts the reducer's 8 s wait).
 */
const SETTLE_SECONDS = 30

export function twinEstimateSeconds(o: TwinBenchOptions): number {
  return o.warmup + o.duration + o.latencyDuration + o.starts * 3 + 2 * SETTLE_SECONDS + 10
}

export function manifests(count: number, modbusPort?: number): string {
  const model = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata: { name: meter }\nspec:\n  properties:\n    - { name: energy, type: INT, accessMode: ReadOnly }\n    - { name: power, type: FLOAT, accessMode: ReadOnly }\n    - { name: relay, type: BOOLEAN, accessMode: ReadWrite }\n'
  const plain = '  properties: [ { name: energy }, { name: power }, { name: relay } ]\n'
  const modbus = (i: number): string =>
    `  protocol: { protocolName: modbus, configData: { ip: 127.0.0.1, port: ${modbusPort}, slaveID: ${(i % 247) + 1} } }\n  properties:\n` +
    '    - { name: energy, visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 0, dataType: int32 } } }\n' +
    '    - { name: power, visitors: { protocolName: modbus, configData: { register: InputRegister, offset: 2, dataType: float32 } } }\n' +
    '    - { name: relay, visitors: { protocolName: modbus, configData: { register: CoilRegister, offset: 0 } } }\n'
  const device = (i: number): string =>
    `apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: meter-${i} }\nspec:\n  deviceModelRef: { name: meter }\n${modbusPort === undefined ? plain : modbus(i)}`
  return [model, ...Array.from({ length: count }, (_, i) => device(i))].join('---\n')
}

function publishPacket(topic: string, messageId: number, payload: string): Buffer {
  const t = Buffer.from(topic)
  const p = Buffer.from(payload)
  const len = 2 + t.length + 2 + p.length
  const header: number[] = [0x32]
  let n = len
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    header.push(byte)
  } while (n > 0)
  return Buffer.concat([Buffer.from(header), Buffer.from([t.length >> 8, t.length & 0xff]), t, Buffer.from([messageId >> 8, messageId & 0xff]), p])
}

interface Driver {
  /** results received so far */
  results(): number
  errors(): number
  /** start sending; `rate` = updates/s overall, or undefined for as fast as results return */
  run(rate: number | undefined): void
  stop(): void
  latencies(): Float64Array
  resetLatencies(): void
}

export async function driver(port: number, devices: number): Promise<{ driver: Driver; close(): Promise<void> }> {
  const conn = await Connection.open(port, 'twin-bench')
  await conn.subscribe('$hw/events/device/+/twin/update/result', 1)
  const sentAt = new Float64Array(devices).fill(-1)
  const seq = new Uint32Array(devices)
  let results = 0
  let errors = 0
  let messageId = 0
  let running = false
  let paced: NodeJS.Timeout | undefined
  let samples: number[] = []
  const ready: number[] = [] // devices whose previous update has its result
  const prefix = '$hw/events/device/meter-'
  const send = (i: number, now: number, out: Buffer[]): void => {
    messageId = (messageId % 65535) + 1
    seq[i] = (seq[i] ?? 0) + 1
    sentAt[i] = now
    const s = seq[i] ?? 0
    out.push(publishPacket(`${prefix}${i}/twin/update`, messageId, `{"event_id":"${s}","timestamp":0,"twin":{"energy":{"actual":{"value":"${s}"}},"power":{"actual":{"value":"${(s % 1000) / 10}"}}}}`))
  }
  const acks: number[] = []
  conn.handle(
    (type, flags, buf, start, end, now) => {
      if (type !== PUBLISH) return
      const topicLen = ((buf[start] ?? 0) << 8) | (buf[start + 1] ?? 0)
      const topic = buf.toString('latin1', start + 2, start + 2 + topicLen)
      const idAt = start + 2 + topicLen
      if (((flags >> 1) & 3) > 0) acks.push(((buf[idAt] ?? 0) << 8) | (buf[idAt + 1] ?? 0))
      const i = Number(topic.slice(prefix.length, topic.indexOf('/', prefix.length)))
      // the bench's event ids are digits; a mapper's report has its own
      const id = buf.indexOf('"event_id":"', idAt, 'latin1')
      const first = id === -1 || id >= end ? -1 : (buf[id + 12] ?? -1)
      if (first < 0x30 || first > 0x39) return
      if (buf.indexOf('"code"', idAt, 'latin1') !== -1 && buf.indexOf('"code"', idAt, 'latin1') < end) errors++
      results++
      const at = sentAt[i] ?? -1
      if (at >= 0) samples.push(now - at)
      sentAt[i] = -1
      ready.push(i)
    },
    () => {
      const out: Buffer[] = []
      if (acks.length > 0) out.push(pubacks(acks.splice(0)))
      if (running && paced === undefined) {
        const now = performance.now()
        for (const i of ready.splice(0)) send(i, now, out)
      }
      if (out.length > 0) conn.socket.write(Buffer.concat(out))
    },
    (err) => {
      if (running) process.stderr.write(`[bench] twin connection failed: ${err.message}\n`)
    },
  )
  for (let i = 0; i < devices; i++) ready.push(i)
  return {
    driver: {
      results: () => results,
      errors: () => errors,
      run(rate) {
        running = true
        if (rate === undefined) {
          const out: Buffer[] = []
          const now = performance.now()
          for (const i of ready.splice(0)) send(i, now, out)
          conn.socket.write(Buffer.concat(out))
          return
        }
        // Paced: every 5 ms send the updates due, from devices that are ready.
        const tickMs = 5
        const perTick = (rate * tickMs) / 1000
        let credit = 0
        paced = setInterval(() => {
          credit += perTick
          const out: Buffer[] = []
          const now = performance.now()
          while (credit >= 1 && ready.length > 0) {
            send(ready.shift() as number, now, out)
            credit--
          }
          if (credit > perTick * 4) credit = perTick * 4 // do not burst after a stall
          if (out.length > 0) conn.socket.write(Buffer.concat(out))
        }, tickMs)
      },
      stop() {
        running = false
        clearInterval(paced)
        paced = undefined
      },
      latencies: () => Float64Array.from(samples),
      resetLatencies() {
        samples = []
      },
    },
    close: () => conn.close(),
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function startNode(dir: string, gateway: Gateway | undefined): Promise<{ pid: number; readyMs: number; httpPort: number; output(): string; stop(): Promise<void> }> {
  const t0 = performance.now()
  const args = [...ternNodeFlags(process.env.TERN_BENCH_CPU_PROF), process.env.TERN_BENCH_BIN ?? TERN_BIN, 'edge', '--config', join(dir, 'tern.yaml')]
  const child = startOwned(...(gateway === undefined ? ([process.execPath, args] as const) : gateway.wrap(process.execPath, args)))
  let ready: string
  try {
    ready = await child.waitForLine((l) => l.includes('"msg":"edge node ready"'), 30_000)
  } catch (err) {
    await child.stop()
    throw err
  }
  const httpPort = (JSON.parse(ready) as { http?: { port: number } }).http?.port ?? 0
  return { pid: child.pid, readyMs: performance.now() - t0, httpPort, output: () => child.output(), stop: () => child.stop(10_000) }
}

export async function runTwinBench(o: TwinBenchOptions, log: (line: string) => void): Promise<unknown> {
  const dir = await scratchDir('tern-bench-twin-')
  let peer: PymodbusPeer | undefined
  const gateway = o.gatewayMemoryMiB === undefined ? undefined : gatewayMemory(o.gatewayMemoryMiB)
  try {
    const port = await freePort()
    await mkdir(join(dir.path, 'devices'))
    // modbus: a live pymodbus peer; modbus-down: a port from the OS that nothing listens on
    if (o.mapper === 'modbus') peer = await startPymodbus({ mode: 'tcp', slaves: Array.from({ length: 247 }, (_, i) => i + 1) })
    const modbusPort = o.mapper === undefined ? undefined : (peer?.port ?? (await freePort()))
    await writeFile(join(dir.path, 'devices', 'meters.yaml'), manifests(o.devices, modbusPort))
    const config = { node: { name: 'bench' }, dataDir: join(dir.path, 'data'), twin: { manifestsDir: join(dir.path, 'devices') }, mqtt: { listeners: [{ port }] }, ...(o.http === undefined ? {} : { http: o.http }) }
    await writeFile(join(dir.path, 'tern.yaml'), stringify(o.mapper === undefined ? config : { ...config, mappers: { enabled: ['modbus'] } }))

    log(`twin: starting tern edge with ${o.devices} devices${o.mapper === undefined ? '' : ` and the ${o.mapper} mapper`}`)
    const first = await startNode(dir.path, gateway)
    const rssIdle = rssMiB(first.pid)
    await peer?.reset()
    await sleep(SETTLE_SECONDS * 1000)
    const rssIdleSettled = rssMiB(first.pid)
    const anonIdleSettled = anonMiB(first.pid)
    const heapIdleSettled = heapCommittedMiB(first.output())
    const polled = peer === undefined ? undefined : await modbusRequestsPerSec(peer, SETTLE_SECONDS)
    const session = await driver(port, o.devices)
    const d = session.driver

    log(`twin: throughput for ${o.duration} s after ${o.warmup} s warm-up`)
    d.run(undefined)
    await sleep(o.warmup * 1000)
    const r0 = d.results()
    const c0 = cpuSeconds(first.pid)
    const out0 = first.output().length
    const t0 = performance.now()
    d.resetLatencies()
    await sleep(o.duration * 1000)
    const seconds = (performance.now() - t0) / 1000
    const throughput = (d.results() - r0) / seconds
    const saturatedLatency = percentiles(d.latencies())
    const cpu = (cpuSeconds(first.pid) - c0) / seconds
    const gc = gcTotals(first.output().slice(out0))
    const updates = d.results() - r0
    d.stop()
    await sleep(1000)
    const rssLoaded = rssMiB(first.pid)

    const rate = Math.max(100, Math.round(throughput / 2))
    log(`twin: latency at ${rate} updates/s for ${o.latencyDuration} s`)
    d.run(rate)
    await sleep(1000)
    d.resetLatencies()
    const l0 = d.results()
    await sleep(o.latencyDuration * 1000)
    const achieved = (d.results() - l0) / o.latencyDuration
    const latency = percentiles(d.latencies())
    d.stop()
    await sleep(500)
    const errors = d.errors()
    await session.close()
    await first.stop()

    const starts: number[] = []
    let rssRestarted = 0
    let rssRestartedSettled = 0
    let anonRestartedSettled = 0
    let heapRestartedSettled: ReturnType<typeof heapCommittedMiB>
    for (let i = 0; i < o.starts; i++) {
      const node = await startNode(dir.path, gateway)
      starts.push(node.readyMs)
      await sleep(500)
      rssRestarted = rssMiB(node.pid)
      if (i === o.starts - 1) {
        log(`twin: restarted with ${o.devices} devices persisted in ${round(node.readyMs, 0)} ms`)
        await sleep(SETTLE_SECONDS * 1000)
        rssRestartedSettled = rssMiB(node.pid)
        anonRestartedSettled = anonMiB(node.pid)
        heapRestartedSettled = heapCommittedMiB(node.output())
      }
      await node.stop()
    }
    const result = {
      bench: 'twin',
      devices: o.devices,
      ...(o.mapper === undefined ? {} : { mapper: o.mapper }),
      ...(o.gatewayMemoryMiB === undefined ? {} : { gatewayMemoryMiB: o.gatewayMemoryMiB }),
      qos: 1,
      throughput: { updatesPerSec: Math.round(throughput), seconds: round(seconds, 1), ternCpuCores: round(cpu, 2), cpuMicrosPerUpdate: round((cpu * 1e6) / throughput, 1), latencyMs: saturatedLatency },
      // with --trace-gc-nvp in TERN_NODE_FLAGS: the tern process's allocation, promotion and GC pauses per update over the measured seconds
      ...(gc.collections === 0 ? {} : { gcPerUpdate: { allocatedKB: round(gc.allocated / updates / 1000, 2), promotedKB: round(gc.promoted / updates / 1000, 2), pauseMicros: round((gc.pauseMs * 1000) / updates, 1), collections: gc.collections, full: gc.full } }),
      latency: { rate, achievedPerSec: Math.round(achieved), latencyMs: latency },
      errors,
      // the mapper at work while the node is idle: Modbus requests/s the peer answered (2 per device per second)
      ...(polled === undefined ? {} : { modbusRequestsPerSec: polled }),
      // idle: first start (manifests parsed from YAML); restarted: devices and parsed manifests from
      // LevelDB; each at ready (+0.5 s after a restart) and settled (SETTLE_SECONDS later, idle)
      rssMiB: { idle: rssIdle, idleSettled: rssIdleSettled, afterLoad: rssLoaded, restarted: rssRestarted, restartedSettled: rssRestartedSettled },
      // the settled figures' anonymous part: RSS less the node binary's and libraries' file pages (~40-44 MiB)
      anonMiB: { idleSettled: anonIdleSettled, restartedSettled: anonRestartedSettled },
      // with --trace-gc-verbose in TERN_NODE_FLAGS: the V8 heap's committed size (all spaces, and new space alone) at the same two readings
      ...(heapIdleSettled === undefined || heapRestartedSettled === undefined ? {} : { heapCommittedMiB: { idleSettled: heapIdleSettled, restartedSettled: heapRestartedSettled } }),
      ...(o.http === undefined ? {} : { http: o.http }),
      startToReadyMs: { runs: starts.map((s) => Math.round(s)), median: Math.round([...starts].sort((a, b) => a - b)[Math.floor(starts.length / 2)] ?? NaN) },
    }
    process.stdout.write(`${JSON.stringify(result)}\n`)
    return result
  } finally {
    await peer?.stop()
    gateway?.remove()
    await dir.remove()
  }
}

/** Requests the peer answered over the last `seconds` (since its last reset). */
async function modbusRequestsPerSec(peer: PymodbusPeer, seconds: number): Promise<number> {
  const stats = await peer.stats()
  return Math.round(Object.values(stats).reduce((a, b) => a + b, 0) / seconds)
}
