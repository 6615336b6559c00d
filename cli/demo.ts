/**
 * `tern demo`: a simulated Modbus TCP fan in this process (modbus-serial's ServerTCP, values that
 * drift) and an edge node with the Modbus mapper serving it from examples/modbus/devices/fan.yaml,
 * in a scratch directory that is removed on stop. Prints how to watch and change the values.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import modbusSerial from 'modbus-serial'
import type { Logger } from 'pino'
import { parseAllDocuments } from 'yaml'
import { TernError } from '../schemas/tern-error.js'
import { parseEdgeConfig } from './config.js'
import { packageRoot } from './package.js'
import { startEdge, type EdgeNode } from './edge.js'

// The example ships beside package.json, wherever this module is (cli/ in the sources, a chunk of
// the bundle in dist/cli/chunks/ when built).
const example = (): string => join(packageRoot(import.meta.dirname), 'examples/modbus/devices/fan.yaml')

export interface DemoOptions {
  /** the embedded broker's port (0: the OS chooses) */
  mqttPort: number
  log: Logger
}

export interface Demo {
  readonly mqttPort: number
  readonly modbusPort: number
  readonly node: EdgeNode
  stop(): Promise<void>
}

/** The fan: input registers 0 temperature ×10, 1 rpm, 2-5 energy (float64, low word first); holding register 0 speed setpoint; coil 0 running. */
class SimulatedFan {
  temperature = 21.5
  rpm = 0
  setpoint = 1200
  running = false
  energy = 0
  readonly #timer: NodeJS.Timeout

  constructor() {
    this.#timer = setInterval(() => this.#tick(), 250)
  }

  #tick(): void {
    const target = this.running ? this.setpoint : 0
    this.rpm = Math.round(this.rpm + (target - this.rpm) * 0.2)
    this.temperature = Math.round((this.temperature + (Math.random() - 0.5) * 0.4 - (this.rpm / 3000) * 0.05 + 0.02) * 10) / 10
    this.energy += (this.rpm / 3000) * 0.002
  }

  inputRegister(addr: number): number {
    if (addr === 0) return (Math.round(this.temperature * 10) + 0x10000) & 0xffff
    if (addr === 1) return this.rpm
    if (addr >= 2 && addr <= 5) {
      const buf = Buffer.alloc(8)
      buf.writeDoubleBE(this.energy)
      return buf.readUInt16BE((5 - addr) * 2) // low word first (isRegisterSwap)
    }
    return 0
  }

  stop(): void {
    clearInterval(this.#timer)
  }
}

/** modbus-serial's ServerTCP takes port 0 for "502": ask the OS for a free port first. */
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolvePort(port))
    })
  })
}

async function serveFan(fan: SimulatedFan): Promise<{ port: number; close(): Promise<void> }> {
  const port = await freePort()
  const server = new modbusSerial.ServerTCP(
    {
      getInputRegister: (addr: number) => fan.inputRegister(addr),
      getHoldingRegister: (addr: number) => (addr === 0 ? fan.setpoint : 0),
      setRegister: (addr: number, value: number) => {
        if (addr === 0) fan.setpoint = value
      },
      getCoil: (addr: number) => addr === 0 && fan.running,
      setCoil: (addr: number, value: boolean) => {
        if (addr === 0) fan.running = value
      },
    },
    { host: '127.0.0.1', port, unitID: 1 },
  )
  await new Promise<void>((resolveReady, reject) => {
    server.on('initialized', () => resolveReady())
    server.on('serverError', reject)
  })
  return { port, close: () => new Promise((done) => server.close(() => done())) }
}

/** The example manifest, pointed at the simulated fan. */
async function writeManifest(dir: string, port: number): Promise<void> {
  const path = example()
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new TernError('DEMO_EXAMPLES_MISSING', `tern demo serves ${path}, which cannot be read (${(cause as Error).message}); reinstall tern, or run the demo from a checkout`, { cause })
  }
  const docs = parseAllDocuments(text)
  for (const doc of docs) {
    if (doc.get('kind') === 'Device') doc.setIn(['spec', 'protocol', 'configData', 'port'], port)
  }
  await writeFile(join(dir, 'fan.yaml'), docs.map((d) => d.toString()).join('---\n'))
}

export async function startDemo(options: DemoOptions): Promise<Demo> {
  const scratch = await mkdtemp(join(tmpdir(), 'tern-demo-'))
  const fan = new SimulatedFan()
  const cleanups: Array<() => Promise<void>> = [() => rm(scratch, { recursive: true, force: true }), () => Promise.resolve(fan.stop())]
  const stop = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => options.log.error({ err }, 'demo cleanup failed'))
  }
  try {
    const sim = await serveFan(fan)
    cleanups.push(() => sim.close())
    const manifests = join(scratch, 'devices')
    await mkdir(manifests)
    await writeManifest(manifests, sim.port)
    const config = parseEdgeConfig(
      {
        node: { name: 'demo' },
        dataDir: join(scratch, 'data'),
        mqtt: { listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port: options.mqttPort }] },
        twin: { manifestsDir: manifests },
        mappers: { enabled: ['modbus'], heartbeatMs: 10_000 },
        http: false, // the demo shows the MQTT side; a second demo beside a node must not clash on 9464
      },
      'the demo configuration',
    )
    const node = await startEdge(config, options.log)
    cleanups.push(() => node.stop())
    const mqttPort = node.listeners[0]?.port ?? options.mqttPort
    return { mqttPort, modbusPort: sim.port, node, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

export function demoInstructions(demo: Demo): string {
  const p = demo.mqttPort
  return `tern demo: a simulated Modbus TCP fan on 127.0.0.1:${demo.modbusPort} (slave 1), served by an edge node
whose MQTT broker listens on 127.0.0.1:${p}. Device: fan-1 (examples/modbus/devices/fan.yaml).

Watch the twin (values every second, state changes):
  mosquitto_sub -h 127.0.0.1 -p ${p} -t '$hw/#' -v

Set the fan's speed setpoint (written to holding register 0; rpm follows):
  mosquitto_pub -h 127.0.0.1 -p ${p} -t '$hw/events/device/fan-1/twin/update' \\
    -m '{"event_id":"","timestamp":0,"twin":{"speed":{"expected":{"value":"2400"}}}}'

Read the whole twin:
  mosquitto_sub -h 127.0.0.1 -p ${p} -t '$hw/events/device/fan-1/twin/get/result' -C 1 -v &
  mosquitto_pub -h 127.0.0.1 -p ${p} -t '$hw/events/device/fan-1/twin/get' -m '{"event_id":"demo"}'

Ctrl-C stops the demo and removes its scratch directory.`
}
