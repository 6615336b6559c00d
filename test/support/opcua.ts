/**
 * OPC-UA peers for tests and the benchmark: test/support/opcua-server.ts in a child process we
 * own (signalled by its PID), restartable on the same port with the same PKI, and a command
 * channel on stdin (set/get values, tick the bench items). Plus EdgeDevice fixtures of that server.
 */
import { join } from 'node:path'
import type { EdgeDevice, EdgeProperty } from '../../schemas/device.js'
import { freePort, scratchDir, startChild, type Child } from './resources.js'

const SCRIPT = join(import.meta.dirname, 'opcua-server.ts')

export interface OpcuaPeer {
  readonly port: number
  readonly url: string
  readonly pid: number
  command(line: string): Promise<string>
  set(name: string, value: unknown): Promise<void>
  get(name: string): Promise<unknown>
  /** SIGKILL: the server vanishes without closing anything */
  kill(): Promise<void>
  stop(): Promise<void>
}

export interface PeerOptions {
  port: number
  /** the server's PKI root (server/ and user/ below it) */
  pki: string
  items?: number
  /** the server refuses subscriptions */
  noSubscriptions?: boolean
}

export async function startOpcuaServer(options: PeerOptions): Promise<OpcuaPeer> {
  const args = ['--import', 'tsx', SCRIPT, '--port', String(options.port), '--pki', options.pki, '--items', String(options.items ?? 0), ...(options.noSubscriptions === true ? ['--no-subscriptions'] : [])]
  const child = startChild(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  try {
    // generous: the server creates its certificates first, which takes 30 s and more on a loaded machine
    await child.waitForLine((l) => l.startsWith('READY '), 120_000)
  } catch (err) {
    await child.kill9()
    throw err
  }
  return peerApi(child, options.port)
}

function peerApi(child: Child, port: number): OpcuaPeer {
  const waiters: Array<(line: string) => void> = []
  let partial = ''
  child.process.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8')
    for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
      const line = partial.slice(0, nl)
      partial = partial.slice(nl + 1)
      if (/^(OK|VALUE |ERROR )/.test(line)) waiters.shift()?.(line)
    }
  })
  let queue: Promise<unknown> = Promise.resolve()
  const command = (line: string): Promise<string> => {
    const answer = queue.then(
      () =>
        new Promise<string>((resolve) => {
          waiters.push(resolve)
          child.process.stdin?.write(`${line}\n`)
        }),
    )
    queue = answer.catch(() => undefined)
    return answer
  }
  return {
    port,
    url: `opc.tcp://127.0.0.1:${port}`,
    pid: child.pid,
    command,
    set: async (name, value) => {
      const answer = await command(`set ${name} ${JSON.stringify(value)}`)
      if (answer !== 'OK') throw new Error(answer)
    },
    get: async (name) => {
      const answer = await command(`get ${name}`)
      if (!answer.startsWith('VALUE ')) throw new Error(answer)
      return JSON.parse(answer.slice('VALUE '.length)) as unknown
    },
    kill: () => child.kill9(),
    stop: () => child.stop(),
  }
}

/**
 * Call inside a `describe`: a fresh server (and scratch dir for both PKIs) for each test, stopped
 * and removed after it. `peer()` and `dir()` are valid inside a test.
 */
export function opcuaPeerEach(): { peer(): OpcuaPeer; dir(): string } {
  let peer: OpcuaPeer | undefined
  let dir: { path: string; remove(): Promise<void> } | undefined
  beforeEach(async () => {
    dir = await scratchDir('tern-opcua-')
    peer = await startOpcuaServer({ port: await freePort(), pki: join(dir.path, 'server-pki') })
  })
  afterEach(async () => {
    await peer?.stop()
    await dir?.remove()
    peer = dir = undefined
  })
  const need = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('no OPC-UA peer outside a test')
    return v
  }
  return { peer: () => need(peer), dir: () => need(dir).path }
}

export function opcuaProperty(name: string, type: EdgeProperty['type'], configData: Record<string, unknown>, extra: Partial<EdgeProperty> = {}): EdgeProperty {
  return { name, type, accessMode: 'ReadWrite', collectCycle: 200, visitors: { protocolName: 'opcua', configData }, ...extra }
}

/** The boiler of opcua-server.ts, every kind of node and visitor. */
export function boilerDevice(name: string, url: string, protocol: Record<string, unknown> = {}): EdgeDevice {
  return {
    id: name,
    name,
    namespace: 'default',
    model: 'boiler-model',
    protocol: { protocolName: 'opcua', configData: { url, timeout: 2000, ...protocol } },
    properties: [
      opcuaProperty('temperature', 'DOUBLE', { nodeID: 'ns=1;s=Temperature' }),
      opcuaProperty('counter', 'INT', { nodeID: 'ns=1,s=Counter' }),
      opcuaProperty('running', 'BOOLEAN', { browseName: '/Objects/Plant/Boiler/Running' }),
      opcuaProperty('mode', 'STRING', { browseName: ['Plant', 'Boiler', 'Mode'] }),
      opcuaProperty('blob', 'BYTES', { nodeID: 'ns=1;s=Blob' }),
      opcuaProperty('pressure', 'DOUBLE', { nodeID: 'ns=1;s=Pressure' }, { accessMode: 'ReadOnly' }),
      opcuaProperty('limited', 'INT', { nodeID: 'ns=1;s=Limited' }),
    ],
  }
}
