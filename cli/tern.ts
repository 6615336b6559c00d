#!/usr/bin/env node
/** The `tern` command. Parses arguments, runs one sub-command, maps TernErrors to exit codes. */
import { parseArgs } from 'node:util'
import { hashPassword } from '../broker/passwords.js'
import { TernError } from '../schemas/errors.js'
import { loadEdgeConfig } from './config.js'
import { startEdge } from './edge.js'
import { createLogger } from './log.js'

const USAGE = `usage:
  tern edge [--config FILE] [--data-dir DIR] [--mqtt-port N]   start an edge node
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
    const port = Number(values['mqtt-port'])
    const first = config.mqtt.listeners.find((l) => l.protocol === 'mqtt')
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TernError('USAGE', `--mqtt-port must be a port number, got ${values['mqtt-port']}`)
    if (first === undefined) throw new TernError('USAGE', '--mqtt-port needs a plain mqtt listener in the config')
    first.port = port
  }
  const log = createLogger(config.log.level)
  const node = await startEdge(config, log)
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    node.stop().then(
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
