/**
 * A real Mosquitto 2.0 broker for compatibility tests: a generated config in a scratch directory,
 * run in the foreground (no -d) so we own its PID and signal only that PID. Persistence is on and
 * saved after every change, so a `kill -9` loses as little as Mosquitto can lose.
 */
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { AclRule } from '../../schemas/config.js'
import { startChild, type Child } from './resources.js'

const execFileAsync = promisify(execFile)

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto'
export const MOSQUITTO_PASSWD_BIN = '/usr/bin/mosquitto_passwd'

export interface MosquittoListener {
  protocol: 'mqtt' | 'mqtts' | 'ws'
  port: number
  allowAnonymous: boolean
  /** PEM files for an mqtts listener; `requireCertificate` makes Mosquitto refuse clients without one signed by `ca`. */
  tls?: { ca: string; cert: string; key: string; requireCertificate: boolean }
}

export interface MosquittoOptions {
  /** Scratch directory owned by the caller: config, password file, ACL file and persistence live here. */
  dir: string
  listeners: readonly MosquittoListener[]
  users?: ReadonlyArray<{ username: string; password: string }>
  /** tern's ACL rules, translated to a Mosquitto acl_file. */
  acl?: readonly AclRule[]
  /** `max_queued_messages` and `max_queued_bytes`; Mosquitto's defaults (1000, 0) when absent. */
  maxQueuedMessages?: number
  maxQueuedBytes?: number
}

export interface MosquittoBroker {
  readonly pid: number
  /** Log of the current process. */
  readonly output: () => string
  /** Log of every process so far, the current one last. */
  readonly history: () => string
  /** SIGTERM (Mosquitto saves its database on the way out), then start again on the same ports and data. */
  readonly restart: () => Promise<void>
  /** SIGKILL, then start again on the same ports and data. */
  readonly kill9AndRestart: () => Promise<void>
  readonly stop: () => Promise<void>
}

export async function startMosquitto(options: MosquittoOptions): Promise<MosquittoBroker> {
  const configPath = await writeMosquittoFiles(options)
  let child = await launch(configPath)
  let past = ''
  const relaunch = async (how: 'stop' | 'kill9'): Promise<void> => {
    await (how === 'stop' ? child.stop() : child.kill9())
    past += child.output()
    child = await launch(configPath)
  }
  return {
    get pid() {
      return child.pid
    },
    output: () => child.output(),
    history: () => past + child.output(),
    restart: () => relaunch('stop'),
    kill9AndRestart: () => relaunch('kill9'),
    stop: () => child.stop(),
  }
}

async function launch(configPath: string): Promise<Child> {
  const child = startChild(MOSQUITTO_BIN, ['-c', configPath])
  try {
    // Printed after every listener is bound.
    await child.waitForLine((l) => /mosquitto version \S+ running/.test(l), 10_000)
  } catch (err) {
    await child.kill9()
    throw err
  }
  return child
}

/** Writes mosquitto.conf (and the password and ACL files it names) into `options.dir`; returns the config path. */
export async function writeMosquittoFiles(options: MosquittoOptions): Promise<string> {
  const { dir } = options
  const dataDir = join(dir, 'data')
  await mkdir(dataDir, { recursive: true })
  const security: string[] = []
  if (options.users !== undefined && options.users.length > 0) {
    const passwordFile = join(dir, 'passwd')
    await writePasswordFile(passwordFile, options.users)
    security.push(`password_file ${passwordFile}`)
  }
  if (options.acl !== undefined) {
    const aclFile = join(dir, 'acl')
    await writeFile(aclFile, mosquittoAcl(options.acl))
    security.push(`acl_file ${aclFile}`)
  }
  const lines = [
    'user root', // without it Mosquitto drops to user "mosquitto", which cannot write the root-owned scratch dir
    'per_listener_settings true', // allow_anonymous differs per listener, as tern's allowAnonymous does
    'persistence true',
    `persistence_location ${dataDir}/`,
    // Save after every change (subscription, retained or queued message), not every 30 minutes.
    'autosave_interval 1',
    'autosave_on_changes true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'log_type subscribe',
    'connection_messages true',
    'log_timestamp_format %H:%M:%S',
    ...(options.maxQueuedMessages === undefined ? [] : [`max_queued_messages ${options.maxQueuedMessages}`]),
    ...(options.maxQueuedBytes === undefined ? [] : [`max_queued_bytes ${options.maxQueuedBytes}`]),
  ]
  for (const listener of options.listeners) {
    // A websockets listener ignores the bind address (test-env-notes §1); clients only use 127.0.0.1.
    lines.push('', `listener ${listener.port} 127.0.0.1`, 'socket_domain ipv4')
    lines.push(`protocol ${listener.protocol === 'ws' ? 'websockets' : 'mqtt'}`)
    lines.push(`allow_anonymous ${listener.allowAnonymous}`)
    if (listener.protocol === 'mqtts') {
      const tls = listener.tls
      if (tls === undefined) throw new Error(`mqtts listener on port ${listener.port} needs tls files`)
      lines.push(`cafile ${tls.ca}`, `certfile ${tls.cert}`, `keyfile ${tls.key}`, `require_certificate ${tls.requireCertificate}`)
    }
    lines.push(...security) // with per_listener_settings, security options belong to each listener
  }
  const configPath = join(dir, 'mosquitto.conf')
  await writeFile(configPath, lines.join('\n') + '\n')
  return configPath
}

async function writePasswordFile(path: string, users: ReadonlyArray<{ username: string; password: string }>): Promise<void> {
  let first = true
  for (const { username, password } of users) {
    // -c creates (truncates) the file; -b takes the password from the command line.
    await execFileAsync(MOSQUITTO_PASSWD_BIN, ['-b', ...(first ? ['-c'] : []), path, username, password])
    first = false
  }
}

/**
 * tern's rules as a Mosquitto acl_file. A rule for every client becomes a `pattern` line (patterns
 * apply to all clients and fill `%u`/`%c`); a rule for named users becomes `topic` lines in a
 * `user` section, with `%u` filled in here since Mosquitto substitutes only in patterns. Rules for
 * `$anonymous` go before the first `user` line, where Mosquitto keeps anonymous clients' topics.
 *
 * Precedence is close to, not exactly, tern's: Mosquitto decides on a client's user section first
 * (denies, then grants) and only then on the patterns, so a pattern `deny` does not override a
 * user-section grant as a tern `deny` would. Tests should not depend on that corner.
 */
export function mosquittoAcl(rules: readonly AclRule[]): string {
  const patterns: string[] = []
  const byUser = new Map<string, string[]>()
  for (const rule of rules) {
    if (rule.users === undefined) {
      patterns.push(`pattern ${rule.access} ${rule.topic}`)
      continue
    }
    for (const user of rule.users) {
      if (rule.topic.includes('%c')) throw new Error(`a %c rule for named users cannot be written as a Mosquitto acl_file: ${rule.topic}`)
      const topic = user === '$anonymous' ? rule.topic : rule.topic.replaceAll('%u', user)
      if (user === '$anonymous' && topic.includes('%u')) continue // never matches a client without a username
      const lines = byUser.get(user) ?? []
      lines.push(`topic ${rule.access} ${topic}`)
      byUser.set(user, lines)
    }
  }
  const out = [...(byUser.get('$anonymous') ?? [])]
  for (const [user, lines] of byUser) {
    if (user !== '$anonymous') out.push(`user ${user}`, ...lines)
  }
  out.push(...patterns)
  return out.join('\n') + '\n'
}
