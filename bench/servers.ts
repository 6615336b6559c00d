/**
 * The brokers under test, each its own process on a port from the OS, in a scratch directory:
 * `tern edge` (built, from dist/) and Mosquitto. Both keep clean sessions in memory: tern's
 * LevelDB holds only persistent sessions and retained messages, and Mosquitto runs with
 * `persistence false` (with clean sessions and no retained messages it would write nothing anyway).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { freePort, startChild, type Child } from '../test/support/resources.js'
import { TERN_BIN } from '../test/support/tern.js'

export const MOSQUITTO = '/usr/sbin/mosquitto'

export type BrokerName = 'tern' | 'mosquitto'

export interface BrokerProcess {
  name: BrokerName
  port: number
  pid: number
  child: Child
  stop(): Promise<void>
}

/** Every child process the bench has started and not yet stopped, for cleanup on a signal. */
const live = new Set<Child>()

/** Starts a child the bench owns; it stays in `live` until it has exited. */
export function startOwned(command: string, args: readonly string[]): Child {
  const child = startChild(command, args)
  live.add(child)
  void child.exited().then(() => live.delete(child))
  return child
}

/** Stops every child still running (SIGTERM, then SIGKILL after 3 s), each by its own PID. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(3000)))
}

/**
 * Node flags for a tern process a bench starts: TERN_NODE_FLAGS (space-separated, for A/B runs),
 * then a V8 CPU profile into `cpuProfDir` when given (node --cpu-prof).
 */
export function ternNodeFlags(cpuProfDir: string | undefined): string[] {
  const flags = process.env.TERN_NODE_FLAGS?.split(' ').filter((f) => f !== '') ?? []
  return cpuProfDir === undefined ? flags : [...flags, '--cpu-prof', '--cpu-prof-dir', cpuProfDir]
}

export interface TernStartOptions {
  /** Write a V8 CPU profile of the tern process into this directory (node --cpu-prof). */
  cpuProfDir?: string
}

export async function startTern(dir: string, options: TernStartOptions = {}): Promise<BrokerProcess> {
  const port = await freePort()
  const config = join(dir, 'tern.yaml')
  // Log level info, as shipped: the readiness line is an info record. The metrics listener on a
  // port from the OS, as the broker's: another node on the machine may hold the default 9464.
  await writeFile(config, stringify({ dataDir: join(dir, 'data'), mqtt: { listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port }] }, http: { listen: '127.0.0.1:0' } }))
  const child = startOwned(process.execPath, [...ternNodeFlags(options.cpuProfDir), TERN_BIN, 'edge', '--config', config])
  try {
    await child.waitForLine((l) => l.includes('"msg":"edge node ready"'))
  } catch (err) {
    await child.stop()
    throw err
  }
  return { name: 'tern', port, pid: child.pid, child, stop: () => child.stop() }
}

export async function startMosquitto(dir: string, extraConf: readonly string[] = []): Promise<BrokerProcess> {
  const port = await freePort()
  const config = join(dir, 'mosquitto.conf')
  await writeFile(
    config,
    [
      'user root', // run as root here; without it mosquitto drops to user "mosquitto"
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      ...extraConf,
      '',
    ].join('\n'),
  )
  // Without -d, so the PID we hold is the broker's own.
  const child = startOwned(MOSQUITTO, ['-c', config])
  try {
    await waitForPort(port, child)
  } catch (err) {
    await child.stop()
    throw err
  }
  return { name: 'mosquitto', port, pid: child.pid, child, stop: () => child.stop() }
}

async function waitForPort(port: number, child: Child, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    const exited = await Promise.race([child.exited().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 50))])
    if (exited) throw new Error(`the broker exited before listening:\n${child.output()}`)
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms:\n${child.output()}`)
  }
}

const CLOCK_TICKS = 100 // USER_HZ on Linux

/** CPU seconds (user + system, every thread) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

/** Resident set size of the process, in MiB. */
export function rssMiB(pid: number): number {
  return statusMiB(pid, 'VmRSS')
}

/** The process's anonymous (private) resident memory: RSS less the pages of its binary and libraries. */
export function anonMiB(pid: number): number {
  return statusMiB(pid, 'RssAnon')
}

/** The highest RSS the process has had since it started (the kernel's high-water mark). */
export function peakRssMiB(pid: number): number {
  return statusMiB(pid, 'VmHWM')
}

function statusMiB(pid: number, field: 'VmRSS' | 'RssAnon' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]
  return kb === undefined ? 0 : Math.round((Number(kb) / 1024) * 10) / 10
}

export function mosquittoVersion(): string {
  const out = spawnSync(MOSQUITTO, ['-h'], { encoding: 'utf8' })
  return /mosquitto version (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown'
}
