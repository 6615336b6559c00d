/**
 * One broker setup, two implementations: tern's embedded broker (the built `tern edge` process) and
 * a real Mosquitto 2.0. A contract suite describes the broker it needs once and runs against both.
 */
import type { AclRule } from '../../schemas/config.js'
import { hashPassword } from '../../broker/passwords.js'
import { startMosquitto } from './mosquitto.js'
import { freePort, scratchDir } from './resources.js'
import { startTernEdge, type TernEdgeProcess } from './tern.js'

export type TargetName = 'tern' | 'mosquitto'

export type ListenerWanted =
  | { protocol: 'mqtt'; allowAnonymous?: boolean }
  | { protocol: 'ws'; allowAnonymous?: boolean }
  | { protocol: 'mqtts'; allowAnonymous?: boolean; tls: { ca: string; cert: string; key: string; requireClientCertificate: boolean } }

export interface BrokerSetup<L extends string> {
  /** Listeners by a name the test chooses; each gets a port from the OS, kept across restarts. */
  listeners: Record<L, ListenerWanted>
  /** Default for listeners that do not say. */
  allowAnonymous: boolean
  /** Plaintext passwords; each target stores them in its own hashed form. */
  users?: ReadonlyArray<{ username: string; password: string }>
  acl?: readonly AclRule[]
  /** Messages (QoS 1/2) and payload bytes kept for one client; each broker's default when absent. */
  maxQueuedMessages?: number
  maxQueuedBytes?: number
}

export interface RunningBroker<L extends string> {
  readonly target: TargetName
  readonly ports: Readonly<Record<L, number>>
  /** Client URL of a listener: mqtt://, mqtts:// or ws://127.0.0.1:PORT/mqtt. */
  url(listener: L): string
  /** A clean stop (SIGTERM) and a new process on the same ports and data. */
  restart(): Promise<void>
  /** SIGKILL and a new process on the same ports and data. */
  kill9AndRestart(): Promise<void>
  /** Stops the broker and removes its scratch directory; idempotent. */
  stop(): Promise<void>
  /** Everything the broker processes logged, for failure messages. */
  log(): string
}

export interface BrokerTarget {
  readonly name: TargetName
  start<L extends string>(setup: BrokerSetup<L>): Promise<RunningBroker<L>>
}

const WS_PATH = '/mqtt'

interface Process {
  restart(): Promise<void>
  kill9AndRestart(): Promise<void>
  stop(): Promise<void>
  log(): string
}

async function startTarget<L extends string>(
  target: TargetName,
  setup: BrokerSetup<L>,
  launch: (dir: string, listeners: Array<{ name: L; port: number; wanted: ListenerWanted; allowAnonymous: boolean }>) => Promise<Process>,
): Promise<RunningBroker<L>> {
  const dir = await scratchDir(`tern-${target}-`)
  const entries = Object.entries(setup.listeners) as Array<[L, ListenerWanted]>
  const listeners = []
  const taken = new Set<number>()
  for (const [name, wanted] of entries) {
    let port = await freePort()
    while (taken.has(port)) port = await freePort() // the OS may hand out a just-released port again
    taken.add(port)
    listeners.push({ name, port, wanted, allowAnonymous: wanted.allowAnonymous ?? setup.allowAnonymous })
  }
  let proc: Process
  try {
    proc = await launch(dir.path, listeners)
  } catch (err) {
    await dir.remove()
    throw err
  }
  const ports = Object.fromEntries(listeners.map((l) => [l.name, l.port])) as Record<L, number>
  let stopped = false
  return {
    target,
    ports,
    url: (name) => {
      const { protocol } = setup.listeners[name]
      return `${protocol}://127.0.0.1:${ports[name]}${protocol === 'ws' ? WS_PATH : ''}`
    },
    restart: () => proc.restart(),
    kill9AndRestart: () => proc.kill9AndRestart(),
    stop: async () => {
      if (stopped) return
      stopped = true
      try {
        await proc.stop()
      } finally {
        await dir.remove()
      }
    },
    log: () => proc.log(),
  }
}

export const ternTarget: BrokerTarget = {
  name: 'tern',
  start: (setup) =>
    startTarget('tern', setup, async (dir, listeners) => {
      const config = {
        log: { level: 'info' },
        mqtt: {
          listeners: listeners.map(({ port, wanted, allowAnonymous }) => ({
            protocol: wanted.protocol,
            host: '127.0.0.1',
            port,
            allowAnonymous,
            ...(wanted.protocol === 'ws' ? { path: WS_PATH } : {}),
            ...(wanted.protocol === 'mqtts'
              ? {
                  tls: {
                    cert: wanted.tls.cert,
                    key: wanted.tls.key,
                    // tern asks for client certificates only when a CA is configured.
                    ...(wanted.tls.requireClientCertificate ? { ca: wanted.tls.ca } : {}),
                    requireClientCertificate: wanted.tls.requireClientCertificate,
                  },
                }
              : {}),
          })),
          users: (setup.users ?? []).map((u) => ({ username: u.username, passwordHash: hashPassword(u.password) })),
          ...(setup.acl === undefined ? {} : { acl: setup.acl }),
          ...(setup.maxQueuedMessages === undefined ? {} : { maxQueuedMessages: setup.maxQueuedMessages }),
          ...(setup.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: setup.maxQueuedBytes }),
        },
      }
      let past = ''
      let node: TernEdgeProcess = await startTernEdge(dir, config)
      // Same config file, same dataDir: a real restart of the process on the node's LevelDB.
      const relaunch = async (how: 'stop' | 'kill9'): Promise<void> => {
        await (how === 'stop' ? node.stop() : node.kill9())
        past += node.output()
        node = await startTernEdge(dir, config)
      }
      return {
        restart: () => relaunch('stop'),
        kill9AndRestart: () => relaunch('kill9'),
        stop: () => node.stop(),
        log: () => past + node.output(),
      }
    }),
}

export const mosquittoTarget: BrokerTarget = {
  name: 'mosquitto',
  start: (setup) =>
    startTarget('mosquitto', setup, async (dir, listeners) => {
      const broker = await startMosquitto({
        dir,
        listeners: listeners.map(({ port, wanted, allowAnonymous }) => ({
          protocol: wanted.protocol,
          port,
          allowAnonymous,
          ...(wanted.protocol === 'mqtts'
            ? { tls: { ca: wanted.tls.ca, cert: wanted.tls.cert, key: wanted.tls.key, requireCertificate: wanted.tls.requireClientCertificate } }
            : {}),
        })),
        ...(setup.users === undefined ? {} : { users: setup.users }),
        ...(setup.acl === undefined ? {} : { acl: setup.acl }),
        ...(setup.maxQueuedMessages === undefined ? {} : { maxQueuedMessages: setup.maxQueuedMessages }),
        ...(setup.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: setup.maxQueuedBytes }),
      })
      return { restart: broker.restart, kill9AndRestart: broker.kill9AndRestart, stop: broker.stop, log: broker.history }
    }),
}

export const brokerTargets: readonly BrokerTarget[] = [ternTarget, mosquittoTarget]
