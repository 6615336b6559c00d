/**
 * Modbus batching (DESIGN.md §8: reads of 100 properties on one slave ≥ 3 × the reads/s of one
 * request per property). The real driver (mappers/modbus) reads 100 adjacent holding registers
 * from a real pymodbus peer, over TCP and over RTU on a socat pty pair: once as the runtime does
 * (one read() of all properties, which the planner batches), once one property per request.
 */
import { performance } from 'node:perf_hooks'
import { pino } from 'pino'
import type { DeviceDriver } from '../mappers/driver.js'
import { modbusProtocol } from '../mappers/modbus/protocol.js'
import type { EdgeDevice, EdgeProperty } from '../schemas/device.js'
import { startPtyPair, startPymodbus } from '../test/support/modbus.js'
import { scratchDir } from '../test/support/resources.js'
import { round } from './phases.js'

export interface ModbusBenchOptions {
  /** seconds per measurement */
  seconds: number
  properties: number
}

export const MODBUS_DEFAULTS: ModbusBenchOptions = { seconds: 3, properties: 100 }

export function modbusEstimateSeconds(o: ModbusBenchOptions): number {
  return 4 * o.seconds + 10
}

const props = (n: number): EdgeProperty[] =>
  Array.from({ length: n }, (_, i) => ({ name: `r${i}`, type: 'INT', accessMode: 'ReadOnly', visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: i, dataType: 'uint16' } } }))

/** Property reads per second for `seconds`, reading all at once or one property per request. */
async function rate(driver: DeviceDriver, properties: EdgeProperty[], batched: boolean, seconds: number): Promise<number> {
  let reads = 0
  const end = performance.now() + seconds * 1000
  const t0 = performance.now()
  while (performance.now() < end) {
    if (batched) {
      const out = await driver.read(properties)
      for (const o of out.values()) if (!o.ok) throw new Error(`read failed: ${o.error.code} ${o.error.message}`)
      reads += properties.length
    } else {
      for (const p of properties) {
        const out = (await driver.read([p])).get(p.name)
        if (out === undefined || !out.ok) throw new Error(`read failed: ${out?.ok === false ? out.error.code : 'no outcome'}`)
        reads++
      }
    }
  }
  return reads / ((performance.now() - t0) / 1000)
}

async function measure(transport: string, configData: Record<string, unknown>, o: ModbusBenchOptions): Promise<Record<string, unknown>> {
  const protocol = modbusProtocol()
  const properties = props(o.properties)
  const device: EdgeDevice = { id: 'bench', name: 'bench', namespace: 'default', model: 'm', protocol: { protocolName: 'modbus', configData }, properties }
  const problems = protocol.validate(device)
  if (problems.length > 0) throw new Error(`invalid bench device: ${JSON.stringify(problems)}`)
  const driver = protocol.createDriver(device, { log: pino({ level: 'silent' }), dataDir: '.' })
  try {
    const connected = await driver.connect()
    if (!connected.ok) throw new Error(`connect failed: ${connected.error.message}`)
    const batched = await rate(driver, properties, true, o.seconds)
    const single = await rate(driver, properties, false, o.seconds)
    return { bench: 'modbus', transport, properties: o.properties, batchedReadsPerSec: Math.round(batched), perPropertyReadsPerSec: Math.round(single), ratio: round(batched / single, 1) }
  } finally {
    await driver.close()
    await protocol.close?.()
  }
}

export async function runModbusBench(o: ModbusBenchOptions, log: (line: string) => void): Promise<unknown[]> {
  const results: unknown[] = []
  log('modbus: TCP against pymodbus')
  const tcpPeer = await startPymodbus({ mode: 'tcp' })
  try {
    results.push(await measure('tcp', { ip: '127.0.0.1', port: tcpPeer.port, slaveID: 1, timeout: 1000 }, o))
  } finally {
    await tcpPeer.stop()
  }
  log('modbus: RTU at 115200 baud over a socat pty pair against pymodbus')
  const dir = await scratchDir('tern-bench-modbus-')
  const pty = await startPtyPair(dir.path)
  try {
    const rtuPeer = await startPymodbus({ mode: 'rtu', device: pty.a, baudRate: 115200 })
    try {
      results.push(await measure('rtu', { serialPort: pty.b, baudRate: 115200, slaveID: 1, timeout: 1000 }, o))
    } finally {
      await rtuPeer.stop()
    }
  } finally {
    await pty.stop()
    await dir.remove()
  }
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`)
  return results
}
