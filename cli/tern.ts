#!/usr/bin/env node
/** The `tern` command. Parses arguments, runs one sub-command, maps TernErrors to exit codes. */
import '../broker/quiet-debug.js' // first: before aedes loads mqtt-packet
import { parseArgs } from 'node:util'
import { TernError } from '../schemas/errors.js'
import { createLogger } from './log.js'

// Each command imports its parts when it runs: the process holds in memory only the modules of the
// command it serves (`tern edge` carries neither the cloud's Kubernetes client nor the demo's fan).

const USAGE = `usage:
  tern edge [--config FILE] [--data-dir DIR] [--mqtt-port N]   start an edge node
  tern cloud [--config FILE] [--kubeconfig FILE] [--hub-port N]
                                                               the cloud side: Device controllers and CloudHub
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
  const { holdYoungGeneration, startHeapPolicy } = await import('./heap.js')
  holdYoungGeneration()
  const { loadEdgeConfig } = await import('./config.js')
  const config = await loadEdgeConfig(values.config)
  if (values['data-dir'] !== undefined) config.dataDir = values['data-dir']
  if (values['mqtt-port'] !== undefined) {
    const first = config.mqtt.listeners.find((l) => l.protocol === 'mqtt')
    if (first === undefined) throw new TernError('USAGE', '--mqtt-port needs a plain mqtt listener in the config')
    first.port = parsePort(values['mqtt-port'])
  }
  const log = createLogger(config.log.level)
  const { startEdge } = await import('./edge.js')
  const node = await startEdge(config, log)
  startHeapPolicy()
  onSignals(log, () => node.stop())
}

function parsePort(text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TernError('USAGE', `${text} is not a port number (0-65535)`)
  return port
}

async function cloud(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, kubeconfig: { type: 'string' }, 'hub-port': { type: 'string' } },
    strict: true,
  })
  const { loadCloudConfig } = await import('./config.js')
  const config = await loadCloudConfig(values.config)
  if (values.kubeconfig !== undefined) config.kube.kubeconfig = values.kubeconfig
  if (values['hub-port'] !== undefined) config.hub.port = parsePort(values['hub-port'])
  const log = createLogger(config.log.level)
  const { startCloud } = await import('./cloud.js')
  const side = await startCloud(config, log)
  onSignals(log, () => side.stop())
}

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'mqtt-port': { type: 'string' } }, strict: true })
  const log = createLogger('warn')
  const { demoInstructions, startDemo } = await import('./demo.js')
  const running = await startDemo({ mqttPort: parsePort(values['mqtt-port'] ?? '1883'), log })
  console.log(demoInstructions(running))
  onSignals(log, () => running.stop())
}

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
  const { holdYoungGeneration, startHeapPolicy } = await import('./heap.js')
  holdYoungGeneration()
  const { startMapperProcess } = await import('./mapper.js')
  const running = await startMapperProcess({
    protocol: name,
    broker: values.broker,
    node: values.node,
    username: values.username,
    passwordFile: values['password-file'],
    dataDir: values['data-dir'],
    layout: values.layout,
    heartbeatMs: values['heartbeat-ms'],
    logLevel: values['log-level'],
  })
  startHeapPolicy()
  onSignals(running.log, () => running.stop())
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
  const { hashPassword } = await import('../broker/passwords.js')
  console.log(hashPassword(password))
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'edge':
      return edge(rest)
    case 'cloud':
      return cloud(rest)
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
