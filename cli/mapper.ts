/**
 * `tern mapper PROTOCOL`: one protocol's mapper as its own process, on an MQTT client bus to the
 * node's broker. The options arrive as the command line gave them; this checks them.
 */
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import type { Logger } from 'pino'
import { clientBus } from '../broker/bus.js'
import { protocolFactory, protocolNames } from '../mappers/protocols.js'
import { realClock } from '../mappers/runtime/clock.js'
import { Mapper } from '../mappers/runtime/mapper.js'
import { TernError } from '../schemas/tern-error.js'
import { MappersConfig as mappersConfigCheck } from '../schemas/generated/validators/MappersConfig.js'
import { validator, formatProblems } from '../schemas/validate.js'
import { readFirstLine } from './config.js'
import { createLogger } from './log.js'
import { dependencyProblem } from './optional-deps.js'

export interface MapperProcessOptions {
  protocol: string
  /** mqtt://, mqtts://, tcp:// or ssl:// URL of the broker */
  broker: string
  node: string
  username?: string | undefined
  passwordFile?: string | undefined
  /** default: ./tern-data */
  dataDir?: string | undefined
  /** name (default) or namespace/name */
  layout?: string | undefined
  heartbeatMs?: string | undefined
  /** a pino level; default info */
  logLevel?: string | undefined
}

export interface MapperProcess {
  readonly log: Logger
  stop(): Promise<void>
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export async function startMapperProcess(o: MapperProcessOptions): Promise<MapperProcess> {
  // without a scheme, mqtt.js would take the host for a path and connect somewhere unintended
  if (!/^(mqtts?|wss?|tcp|ssl):\/\/[^/]/.test(o.broker)) {
    throw new TernError('USAGE', `--broker needs a URL with a scheme, e.g. mqtt://127.0.0.1:1883 (got ${o.broker})`)
  }
  const missing = dependencyProblem(`tern mapper ${o.protocol}`, [o.protocol])
  if (missing !== undefined) throw missing
  const factory = await protocolFactory(o.protocol)
  if (factory === undefined) throw new TernError('MAPPER_PROTOCOL_UNKNOWN', `no protocol ${o.protocol}; known protocols: ${protocolNames().join(', ') || 'none'}`)
  const layout = o.layout ?? 'name'
  if (layout !== 'name' && layout !== 'namespace/name') throw new TernError('USAGE', `--layout must be name or namespace/name, got ${layout}`)
  const tuning = validator(mappersConfigCheck)(o.heartbeatMs === undefined ? {} : { heartbeatMs: Number(o.heartbeatMs) })
  if (!tuning.ok) throw new TernError('USAGE', `invalid mapper option:\n${formatProblems(tuning.problems)}`)
  const level = LEVELS.find((l) => l === (o.logLevel ?? 'info'))
  if (level === undefined) throw new TernError('USAGE', `--log-level ${o.logLevel ?? ''} is not a pino level`)
  const log = createLogger(level)
  const password = o.passwordFile === undefined ? undefined : await readFirstLine(o.passwordFile, '--password-file', 'USAGE')
  const bus = await clientBus({
    url: o.broker.replace(/^tcp:/, 'mqtt:').replace(/^ssl:/, 'mqtts:'),
    clientId: `tern-mapper-${o.protocol}-${o.node}-${hostname()}-${process.pid}`,
    log: log.child({ part: 'bus' }),
    mqtt: { username: o.username, password },
  })
  const dataDir = resolve(o.dataDir ?? 'tern-data')
  const { enabled: _enabled, ...options } = tuning.value
  const mapper = new Mapper({ bus, protocol: factory({ dataDir }), nodeName: o.node, layout, log, clock: realClock, dataDir, options })
  try {
    await mapper.start()
  } catch (err) {
    await bus.stop()
    throw err
  }
  return {
    log,
    async stop() {
      await mapper.stop()
      await bus.stop()
    },
  }
}
