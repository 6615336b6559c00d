/**
 * Modbus peers for tests: pymodbus (test/support/pymodbus_server.py, Debian python3-pymodbus,
 * run with /usr/bin/python3) over TCP on a port from the OS or RTU on a socat pty pair. Every
 * process is ours and signalled by its own PID; the peer answers a small command channel on stdin
 * (set/get registers, fault modes, request counts).
 */
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { startChild, type Child } from './resources.js'

export const PYTHON = '/usr/bin/python3'
export const SOCAT = '/usr/bin/socat'
const SCRIPT = join(import.meta.dirname, 'pymodbus_server.py')

/** A Modbus fan model for end-to-end tests: speed (a holding register to write) and temperature (read-only). */
export const FAN_MODEL = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: fan-model }
spec:
  protocol: modbus
  properties:
    - { name: speed, type: INT, accessMode: ReadWrite, minimum: "0", maximum: "3000" }
    - { name: temperature, type: FLOAT, accessMode: ReadOnly }
`

export type PeerTable = 'co' | 'di' | 'hr' | 'ir'
export type PeerMode = 'normal' | 'silent' | 'garbage' | 'badcrc' | `exception:${number}`

export interface PymodbusPeer {
  readonly pid: number
  /** TCP: the port; RTU: 0 */
  readonly port: number
  command(line: string): Promise<string>
  set(slave: number, table: PeerTable, address: number, values: readonly number[]): Promise<void>
  get(slave: number, table: PeerTable, address: number, count: number): Promise<number[]>
  mode(slave: number, mode: PeerMode): Promise<void>
  /** requests answered (or swallowed) per `slave:functionCode` since the last reset */
  stats(): Promise<Record<string, number>>
  reset(): Promise<void>
  stop(): Promise<void>
  kill9(): Promise<void>
  exited(): Promise<unknown>
}

export type PeerOptions =
  | { mode: 'tcp'; port?: number; slaves?: readonly number[] }
  | { mode: 'rtu'; device: string; baudRate?: number; slaves?: readonly number[] }

/** `wrap`: a command prefix that execs the peer in place, e.g. `ip netns exec <ns>` to run it in a network namespace. */
export async function startPymodbus(options: PeerOptions, wrap: readonly string[] = []): Promise<PymodbusPeer> {
  const args = [SCRIPT, options.mode, '--slaves', (options.slaves ?? [1]).join(',')]
  if (options.mode === 'tcp') args.push('--port', String(options.port ?? 0))
  else args.push('--device', options.device, '--baud', String(options.baudRate ?? 9600))
  const [command, ...prefix] = [...wrap, PYTHON]
  const child = startChild(command, [...prefix, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  let ready: string
  try {
    // generous: on a loaded 2-core machine Python takes 20 s and more to import pymodbus and bind 247 slaves
    ready = await child.waitForLine((l) => l.startsWith('READY '), 60_000)
  } catch (err) {
    await child.kill9()
    throw err
  }
  const port = options.mode === 'tcp' ? Number(ready.slice('READY '.length)) : 0
  return peerApi(child, port)
}

function peerApi(child: Child, port: number): PymodbusPeer {
  const answers: string[] = []
  const waiters: Array<(line: string) => void> = []
  let partial = ''
  child.process.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8')
    for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
      const line = partial.slice(0, nl)
      partial = partial.slice(nl + 1)
      if (!line.startsWith('= ')) continue
      const waiter = waiters.shift()
      if (waiter !== undefined) waiter(line.slice(2))
      else answers.push(line.slice(2))
    }
  })
  let chain: Promise<unknown> = Promise.resolve()
  const command = (line: string): Promise<string> => {
    const next = chain.then(
      () =>
        new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`pymodbus did not answer ${line}`)), 5000)
          waiters.push((answer) => {
            clearTimeout(timer)
            if (answer.startsWith('error')) reject(new Error(`pymodbus: ${answer} (${line})`))
            else resolve(answer)
          })
          child.process.stdin?.write(`${line}\n`)
        }),
    )
    chain = next.catch(() => undefined)
    return next
  }
  return {
    pid: child.pid,
    port,
    command,
    set: async (slave, table, address, values) => {
      await command(`set ${slave} ${table} ${address} ${values.join(',')}`)
    },
    get: async (slave, table, address, count) => (await command(`get ${slave} ${table} ${address} ${count}`)).split(',').map(Number),
    mode: async (slave, mode) => {
      await command(`mode ${slave} ${mode}`)
    },
    stats: async () => JSON.parse(await command('stats')) as Record<string, number>,
    reset: async () => {
      await command('reset')
    },
    stop: () => child.stop(2000),
    kill9: () => child.kill9(),
    exited: () => child.exited(),
  }
}

export interface PtyPair {
  /** the two ends: what one side writes, the other reads */
  readonly a: string
  readonly b: string
  readonly pid: number
  stop(): Promise<void>
}

/** A socat pty pair with stable link names in `dir`. */
export async function startPtyPair(dir: string, name = 'tty'): Promise<PtyPair> {
  const a = join(dir, `${name}A`)
  const b = join(dir, `${name}B`)
  const child = startChild(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`])
  try {
    await child.waitForLine((l) => l.includes('starting data transfer loop'), 10_000)
    await Promise.all([access(a), access(b)])
  } catch (err) {
    await child.kill9()
    throw err
  }
  return { a, b, pid: child.pid, stop: () => child.stop(2000) }
}
