#!/usr/bin/env node
/** The `tern` command. Parses arguments, runs one sub-command, maps TernErrors to exit codes. */
import '../broker/quiet-debug.js' // first: before aedes loads mqtt-packet
import { parseArgs } from 'node:util'
import { TernError } from '../schemas/tern-error.js'
import type { HttpConfig } from '../schemas/http-config.js'
import { LISTEN_PATTERN } from '../schemas/http-listener.js'
import { createLogger } from './log.js'
import { routeConsoleToLog } from './console-log.js'
import { SetupProblems } from './problems.js'

/** What the command says to its user, written to the streams itself: console may be routed into the log. */
const print = (text: string): void => void process.stdout.write(`${text}\n`)
const say = (text: unknown): void => void process.stderr.write(`${typeof text === 'string' ? text : String((text as Error)?.stack ?? text)}\n`)

// Each command imports its parts when it runs: the process holds in memory only the modules of the
// command it serves (`tern edge` carries neither the cloud's Kubernetes client nor the demo's fan).

async function edge(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' }, 'mqtt-port': { type: 'string' }, 'http-listen': { type: 'string' } },
    strict: true,
  })
  const { holdYoungGeneration, startHeapPolicy } = await import('./heap.js')
  holdYoungGeneration()
  const { checkedEdgeConfig } = await import('./preflight.js')
  const config = await checkedEdgeConfig(values.config, values['data-dir'])
  if (values['mqtt-port'] !== undefined) {
    const first = config.mqtt.listeners.find((l) => l.protocol === 'mqtt')
    if (first === undefined) throw new TernError('USAGE', '--mqtt-port needs a plain mqtt listener in the config')
    first.port = parsePort(values['mqtt-port'])
  }
  if (values['http-listen'] !== undefined) config.http = httpListen(config.http, values['http-listen'])
  const log = createLogger(config.log.level)
  routeConsoleToLog(log)
  const stopOnSignal = onSignals()
  const { startEdge } = await import('./edge.js')
  const node = await startEdge(config, log)
  startHeapPolicy()
  const { notifyReady } = await import('./systemd.js')
  const stopping = await notifyReady(log)
  stopOnSignal(log, async () => {
    await stopping()
    await node.stop()
  })
}

/** `http` with its listen address replaced (`--http-listen`), which turns it on if it was off. */
function httpListen(http: HttpConfig, listen: string): HttpConfig {
  if (!new RegExp(LISTEN_PATTERN).test(listen)) throw new TernError('USAGE', `--http-listen ${listen} is not HOST:PORT or [IPV6]:PORT`)
  return { ...(http === false ? {} : http), listen }
}

function parsePort(text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TernError('USAGE', `${text} is not a port number (0-65535)`)
  return port
}

async function cloud(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, kubeconfig: { type: 'string' }, 'hub-port': { type: 'string' }, 'http-listen': { type: 'string' } },
    strict: true,
  })
  const { dependencyProblem } = await import('./optional-deps.js')
  const missing = dependencyProblem('tern cloud', ['cloud'])
  if (missing !== undefined) throw missing
  // as for the edge: without it the old generation grew to 2–3 × what was live (V8's default
  // growth on a host with GiBs of RAM) and the young generation to 2 × 16 MiB (cli/heap.ts)
  const { holdYoungGeneration, startHeapPolicy } = await import('./heap.js')
  holdYoungGeneration()
  const { loadCloudConfig } = await import('./config.js')
  const config = await loadCloudConfig(values.config)
  if (values.kubeconfig !== undefined) config.kube.kubeconfig = values.kubeconfig
  if (values['hub-port'] !== undefined) config.hub.port = parsePort(values['hub-port'])
  if (values['http-listen'] !== undefined) config.http = httpListen(config.http, values['http-listen'])
  const log = createLogger(config.log.level)
  routeConsoleToLog(log)
  const stopOnSignal = onSignals()
  const { startCloud } = await import('./cloud.js')
  const side = await startCloud(config, log)
  startHeapPolicy()
  const { notifyReady } = await import('./systemd.js')
  const stopping = await notifyReady(log)
  stopOnSignal(log, async () => {
    await stopping()
    await side.stop()
  })
}

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'mqtt-port': { type: 'string' } }, strict: true })
  const log = createLogger('warn')
  routeConsoleToLog(log)
  const stopOnSignal = onSignals()
  const { demoInstructions, startDemo } = await import('./demo.js')
  const running = await startDemo({ mqttPort: parsePort(values['mqtt-port'] ?? '1883'), log })
  print(demoInstructions(running))
  stopOnSignal(log, () => running.stop())
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
  const stopOnSignal = onSignals()
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
  routeConsoleToLog(running.log)
  startHeapPolicy()
  stopOnSignal(running.log, () => running.stop())
}

/**
 * Takes SIGINT/SIGTERM from before a command starts its parts: a signal that comes while they start
 * would otherwise end the process at once, without stopping them. The returned function gives the
 * stop, which runs once, at the first signal (at once if one came already); then the process
 * exits 0, or 1 if stopping failed.
 */
function onSignals(): (log: ReturnType<typeof createLogger>, stop: () => Promise<void>) => void {
  let signal: string | undefined
  let stopWith: (() => void) | undefined
  const shutdown = (received: string): void => {
    if (signal !== undefined) return
    signal = received
    stopWith?.()
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  return (log, stop) => {
    stopWith = () => {
      log.info({ signal }, 'stopping')
      const started = Date.now()
      stop().then(
        () => {
          // the last line a service manager's journal shows: the node stopped on its own, cleanly
          log.info({ signal, stopMs: Date.now() - started }, 'stopped')
          process.exit(0)
        },
        (err: unknown) => {
          log.error({ err }, 'stop failed')
          process.exit(1)
        },
      )
    }
    if (signal !== undefined) stopWith()
  }
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
  print(hashPassword(password))
}

async function gettoken(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, kubeconfig: { type: 'string' }, ttl: { type: 'string' }, node: { type: 'string' }, usages: { type: 'string' }, cloud: { type: 'string' } },
    strict: true,
  })
  const missing = (await import('./optional-deps.js')).dependencyProblem('tern gettoken', ['cloud'])
  if (missing !== undefined) throw missing
  const { getToken } = await import('./tokens.js')
  console.log(await getToken(values))
}

async function join(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { cloud: { type: 'string' }, token: { type: 'string' }, node: { type: 'string' }, config: { type: 'string', short: 'c' }, 'pki-dir': { type: 'string' } },
    strict: true,
  })
  const { joinNode } = await import('./join.js')
  const { 'pki-dir': pkiDir, ...rest } = values
  console.log(await joinNode({ ...rest, ...(pkiDir === undefined ? {} : { pkiDir }) }))
}

async function revoke(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, kubeconfig: { type: 'string' } }, strict: true })
  const [node, ...extra] = positionals
  if (node === undefined || extra.length > 0) throw new TernError('USAGE', 'tern revoke takes exactly one node name')
  const missing = (await import('./optional-deps.js')).dependencyProblem('tern revoke', ['cloud'])
  if (missing !== undefined) throw missing
  const { revokeNode } = await import('./tokens.js')
  console.log(await revokeNode({ node, ...values }))
}

async function reset(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, yes: { type: 'boolean', short: 'y' } }, strict: true })
  const { resetNode } = await import('./join.js')
  console.log(await resetNode(values))
}

async function pods(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' }, output: { type: 'string', short: 'o' } }, strict: true })
  const { listPods } = await import('./pods.js')
  print(await listPods({ config: values.config, dataDir: values['data-dir'], output: values.output }))
}

async function logs(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      container: { type: 'string', short: 'c' },
      follow: { type: 'boolean', short: 'f' },
      tail: { type: 'string' },
      previous: { type: 'boolean', short: 'p' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    strict: true,
  })
  const [pod, ...extra] = positionals
  if (pod === undefined || extra.length > 0) throw new TernError('USAGE', 'tern logs takes exactly one pod name')
  const tail = values.tail === undefined ? undefined : Number(values.tail)
  // kubectl's --tail=-1 means all lines
  if (tail !== undefined && (!Number.isInteger(tail) || tail < -1)) throw new TernError('USAGE', `--tail takes a number of lines, not ${values.tail}`)
  const { podLogs } = await import('./pods.js')
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  process.once('SIGTERM', () => stop.abort())
  await podLogs({
    pod,
    namespace: values.namespace,
    container: values.container,
    follow: values.follow,
    tail: tail === -1 ? undefined : tail,
    previous: values.previous,
    config: values.config,
    dataDir: values['data-dir'],
    write: (text) => void process.stdout.write(text),
    note: say,
    signal: stop.signal,
  })
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { edge, cloud, mapper, demo, passwd, gettoken, join, revoke, reset, pods, logs }

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === '--version' || command === '-v' || command === 'version') {
    const { packageVersion } = await import('./package.js')
    print(packageVersion())
    return
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const { HELP, USAGE } = await import('./help.js')
    const topic = rest[0]
    if (topic !== undefined && !Object.hasOwn(HELP, topic)) throw new TernError('USAGE', `unknown command ${topic}`)
    print(topic === undefined ? USAGE : (HELP[topic] ?? USAGE))
    return
  }
  const run = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (run === undefined) throw new TernError('USAGE', command === undefined ? 'a command is required' : `unknown command ${command}`)
  // before parsing: `--help` answers even beside arguments that would not parse
  if (rest.includes('--help') || rest.includes('-h')) {
    const { HELP, USAGE } = await import('./help.js')
    print(HELP[command as string] ?? USAGE)
    return
  }
  return run(rest)
}

void main(process.argv.slice(2)).catch(async (err: unknown) => {
  if (err instanceof SetupProblems) {
    for (const p of err.problems) say(`tern: ${p.code}: ${p.message}`)
    process.exit(1)
  }
  if (err instanceof TernError) {
    say(`tern: ${err.code}: ${err.message}`)
    if (err.code === 'USAGE') say((await import('./help.js')).USAGE)
    process.exit(err.code === 'USAGE' ? 2 : 1)
  }
  // parseArgs reports unknown options with ERR_PARSE_ARGS_* codes
  if (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
    say(`tern: USAGE: ${err.message}\n${(await import('./help.js')).USAGE}`)
    process.exit(2)
  }
  // Anything else is a defect of tern, not a mistake of the user: one coded line, the stack on request.
  say(`tern: INTERNAL_ERROR: ${err instanceof Error ? err.message : String(err)}`)
  if (process.env.TERN_TRACE !== undefined && process.env.TERN_TRACE !== '') say(err)
  else say('tern: this is a bug in tern; TERN_TRACE=1 prints its stack trace for a report')
  process.exit(1)
})
