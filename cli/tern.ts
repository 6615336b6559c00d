#!/usr/bin/env node
/** The `tern` command. Parses arguments, runs one sub-command, maps TernErrors to exit codes. */
import '../broker/quiet-debug.js' // first: before aedes loads mqtt-packet
import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { clientBus } from '../broker/bus.js'
import { hashPassword } from '../broker/passwords.js'
import { protocolFactory, protocolNames } from '../mappers/protocols.js'
import { realClock } from '../mappers/runtime/clock.js'
import { Mapper } from '../mappers/runtime/mapper.js'
import { MappersConfig } from '../schemas/config.js'
import { compile, formatProblems } from '../schemas/validate.js'
import { TernError } from '../schemas/errors.js'
import { loadEdgeConfig } from './config.js'
import { demoInstructions, startDemo } from './demo.js'
import { startEdge } from './edge.js'
import { createLogger } from './log.js'

const USAGE = `usage:
  tern edge [--config FILE] [--data-dir DIR] [--mqtt-port N]   start an edge node
  tern mapper PROTOCOL --broker URL --node NAME [--username U --password-file F] [--data-dir DIR]
        [--layout name|namespace/name] [--heartbeat-ms N] [--log-level L]
                                                               run one protocol's mapper as its own process
  tern demo [--mqtt-port N]                                    an edge node with a simulated Modbus fan (default port 1883)
  tern passwd [PASSWORD]                                       print a password hash for mqtt.users (reads stdin without PASSWORD)
  tern help`

async function edge(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' }, 'mqtt-port': { type: 'string' } },
    strict: true,
  })
  const config = await loadEdgeConfig(values.config)
  if (values['data-dir'] !== undefined) config.dataDir = values['data-dir']
  if (values['mqtt-port'] !== undefined) {
    const first = config.mqtt.listeners.find((l) => l.protocol === 'mqtt')
    if (first === undefined) throw new TernError('USAGE', '--mqtt-port needs a plain mqtt listener in the config')
    first.port = parsePort(values['mqtt-port'])
  }
  const log = createLogger(config.log.level)
  const node = await startEdge(config, log)
  onSignals(log, () => node.stop())
}

function parsePort(text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TernError('USAGE', `--mqtt-port must be a port number, got ${text}`)
  return port
}

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'mqtt-port': { type: 'string' } }, strict: true })
  const log = createLogger('warn')
  const running = await startDemo({ mqttPort: parsePort(values['mqtt-port'] ?? '1883'), log })
  console.log(demoInstructions(running))
  onSignals(log, () => running.stop())
}

const validateMappers = compile(MappersConfig)

async function mapper(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      broker: { type: 'string' },
      node: { type: 'string' },
      username: { type: 'string' },
      'password-file': { type: 'string' },
      'data-dir': { type: 'string' },
      layout: { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  })
  const [name, ...extra] = positionals
  if (name === undefined || extra.length > 0) throw new TernError('USAGE', 'tern mapper takes exactly one protocol name')
  if (values.broker === undefined || values.node === undefined) throw new TernError('USAGE', 'tern mapper needs --broker URL and --node NAME')
  const factory = protocolFactory(name)
  if (factory === undefined) throw new TernError('MAPPER_PROTOCOL_UNKNOWN', `no protocol ${name}; known protocols: ${protocolNames().join(', ') || 'none'}`)
  const layout = values.layout ?? 'name'
  if (layout !== 'name' && layout !== 'namespace/name') throw new TernError('USAGE', `--layout must be name or namespace/name, got ${layout}`)
  const tuning = validateMappers(values['heartbeat-ms'] === undefined ? {} : { heartbeatMs: Number(values['heartbeat-ms']) })
  if (!tuning.ok) throw new TernError('USAGE', `invalid mapper option:\n${formatProblems(tuning.problems)}`)
  const level = values['log-level'] ?? 'info'
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) throw new TernError('USAGE', `--log-level ${level} is not a pino level`)
  const log = createLogger(level as Parameters<typeof createLogger>[0])
  const password = values['password-file'] === undefined ? undefined : await readPasswordFile(values['password-file'])
  const url = values.broker.replace(/^tcp:/, 'mqtt:').replace(/^ssl:/, 'mqtts:')
  const bus = await clientBus({
    url,
    clientId: `tern-mapper-${name}-${values.node}-${hostname()}-${process.pid}`,
    log: log.child({ part: 'bus' }),
    mqtt: { username: values.username, password },
  })
  const dataDir = resolve(values['data-dir'] ?? 'tern-data')
  const { enabled: _enabled, ...options } = tuning.value
  const part = new Mapper({ bus, protocol: factory({ dataDir }), nodeName: values.node, layout, log, clock: realClock, dataDir, options })
  try {
    await part.start()
  } catch (err) {
    await bus.stop()
    throw err
  }
  onSignals(log, async () => {
    await part.stop()
    await bus.stop()
  })
}

async function readPasswordFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).split('\n')[0] ?? ''
  } catch (cause) {
    throw new TernError('USAGE', `cannot read --password-file ${path}: ${(cause as Error).message}`, { cause })
  }
}

/** SIGINT/SIGTERM run `stop` once, then exit 0 (1 if stopping failed). */
function onSignals(log: ReturnType<typeof createLogger>, stop: () => Promise<void>): void {
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'stop failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

async function passwd(args: string[]): Promise<void> {
  let password = args[0]
  if (password === undefined) {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  }
  if (password === '') throw new TernError('USAGE', 'the password must not be empty')
  console.log(hashPassword(password))
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'edge':
      return edge(rest)
    case 'mapper':
      return mapper(rest)
    case 'demo':
      return demo(rest)
    case 'passwd':
      return passwd(rest)
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return
    default:
      throw new TernError('USAGE', command === undefined ? 'a command is required' : `unknown command ${command}`)
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof TernError) {
    console.error(`tern: ${err.code}: ${err.message}`)
    if (err.code === 'USAGE') console.error(USAGE)
    process.exit(err.code === 'USAGE' ? 2 : 1)
  }
  // parseArgs reports unknown options with ERR_PARSE_ARGS_* codes
  if (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
    console.error(`tern: USAGE: ${err.message}\n${USAGE}`)
    process.exit(2)
  }
  console.error(err)
  process.exit(1)
})
