/**
 * Two network namespaces joined by a veth pair, for partition tests (DESIGN.md §9; recipe in
 * test-env-notes.md §9): `edge` (10.x.y.1) and `cloud` (10.x.y.2) on a random /30-in-/24 subnet that
 * is blackholed in the root namespace, so no test packet can ever leave the machine. A cut is the
 * edge's veth going down or an iptables DROP in the edge namespace; healing undoes it.
 *
 * A process of the root namespace is reached from the cloud namespace through {@link NetnsPair.bridge}:
 * socat listening on the cloud address, forwarding over a unix socket (sockets on the filesystem
 * cross namespaces) to a socat that connects to 127.0.0.1 in the root namespace. The cut is on the
 * veth, between the edge and the bridge, which is where the partition is.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startChild, type Child } from './resources.js'

const run = promisify(execFile)
const IP = '/usr/sbin/ip'
const IPTABLES = '/usr/sbin/iptables'
const SOCAT = '/usr/bin/socat'

export type CutMode = 'link-down' | 'iptables-drop'

export interface NetnsPair {
  readonly edgeNs: string
  readonly cloudNs: string
  readonly edgeIp: string
  readonly cloudIp: string
  /** Starts `command` inside a namespace (`ip netns exec` execs in place: the PID is the command's). */
  spawn(ns: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Child
  /** Makes 127.0.0.1:`rootPort` of the root namespace reachable at cloudIp:`cloudPort`. */
  bridge(rootPort: number, cloudPort: number, dir: string): Promise<void>
  cut(mode: CutMode): Promise<void>
  heal(): Promise<void>
  remove(): Promise<void>
}

/** Why namespaces cannot be used here, or undefined when they can (root, iproute2, iptables, socat). */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  for (const tool of [IP, IPTABLES, SOCAT]) if (!existsSync(tool)) return `${tool} is missing (npm test provisions it)`
  return undefined
}

/**
 * Makes 127.0.0.1:`rootPort` of the root namespace reachable at `address` (`ip:port`) inside a
 * namespace: socat listening there, over a unix socket, to a socat of the root namespace; resolves
 * once a connect from `probeNs` to `address` succeeds.
 */
async function bridgeRoot(rootPort: number, dir: string, children: Child[], spawnInNs: (command: string, args: readonly string[]) => Child, probeNs: string, address: string): Promise<void> {
  const socket = join(dir, `bridge-${rootPort}.sock`)
  const root = startChild(SOCAT, [`UNIX-LISTEN:${socket},fork,unlink-early`, `TCP:127.0.0.1:${rootPort}`])
  children.push(root)
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20))
  const [host = '', port = ''] = address.split(':')
  spawnInNs(SOCAT, [`TCP-LISTEN:${port},bind=${host},fork,reuseaddr`, `UNIX-CONNECT:${socket}`])
  // wait until the listener in the namespace accepts
  for (let i = 0; i < 100; i++) {
    const probe = await run(IP, ['netns', 'exec', probeNs, SOCAT, '-u', 'OPEN:/dev/null', `TCP:${address},connect-timeout=1`]).then(
      () => true,
      () => false,
    )
    if (probe) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`the bridge to ${address} did not come up`)
}

/** One network namespace with only its loopback up: a node whose interfaces and addresses a test sets. */
export interface Netns {
  readonly ns: string
  /** Starts `command` inside the namespace. */
  spawn(command: string, args: readonly string[]): Child
  /** `ip -n <ns> ...args` */
  ip(...args: string[]): Promise<void>
  /** Makes 127.0.0.1:`rootPort` of the root namespace reachable at 127.0.0.1:`rootPort` inside it. */
  forward(rootPort: number, dir: string): Promise<void>
  remove(): Promise<void>
}

export async function makeNetns(): Promise<Netns> {
  const ns = `tern-n${process.pid % 10000}${Math.floor(Math.random() * 1000)}`
  const children: Child[] = []
  await run(IP, ['netns', 'add', ns])
  const remove = async (): Promise<void> => {
    for (const child of children.splice(0)) await child.stop(1000)
    await run(IP, ['netns', 'del', ns]).catch(() => undefined)
  }
  const ip = async (...args: string[]): Promise<void> => {
    await run(IP, ['-n', ns, ...args])
  }
  const spawn = (command: string, args: readonly string[]): Child => {
    const child = startChild(IP, ['netns', 'exec', ns, command, ...args])
    children.push(child)
    return child
  }
  try {
    await ip('link', 'set', 'lo', 'up')
  } catch (err) {
    await remove()
    throw err
  }
  return { ns, spawn, ip, forward: (rootPort, dir) => bridgeRoot(rootPort, dir, children, spawn, ns, `127.0.0.1:${rootPort}`), remove }
}

export async function makeNetnsPair(): Promise<NetnsPair> {
  const tag = `${process.pid % 10000}${Math.floor(Math.random() * 1000)}`
  const edgeNs = `tern-e${tag}`
  const cloudNs = `tern-c${tag}`
  const vethEdge = `tve${tag}`.slice(0, 15)
  const vethCloud = `tvc${tag}`.slice(0, 15)
  const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`
  const edgeIp = `${subnet}.1`
  const cloudIp = `${subnet}.2`
  const ip = (...args: string[]): Promise<unknown> => run(IP, args)
  const children: Child[] = []
  let cutMode: CutMode | undefined

  const steps: Array<() => Promise<unknown>> = []
  const remove = async (): Promise<void> => {
    for (const child of children.splice(0)) await child.stop(1000)
    for (const undo of steps.splice(0).reverse()) await undo().catch(() => undefined)
  }
  try {
    await ip('route', 'add', 'blackhole', `${subnet}.0/24`)
    steps.push(() => ip('route', 'del', 'blackhole', `${subnet}.0/24`))
    await ip('netns', 'add', edgeNs)
    steps.push(() => ip('netns', 'del', edgeNs))
    await ip('netns', 'add', cloudNs)
    steps.push(() => ip('netns', 'del', cloudNs))
    await ip('link', 'add', vethEdge, 'type', 'veth', 'peer', 'name', vethCloud)
    await ip('link', 'set', vethEdge, 'netns', edgeNs)
    await ip('link', 'set', vethCloud, 'netns', cloudNs)
    await ip('-n', edgeNs, 'addr', 'add', `${edgeIp}/24`, 'dev', vethEdge)
    await ip('-n', cloudNs, 'addr', 'add', `${cloudIp}/24`, 'dev', vethCloud)
    for (const [ns, dev] of [[edgeNs, vethEdge], [cloudNs, vethCloud]] as const) {
      await ip('-n', ns, 'link', 'set', 'lo', 'up')
      await ip('-n', ns, 'link', 'set', dev, 'up')
    }
  } catch (err) {
    await remove()
    throw err
  }

  const spawn = (ns: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Child => {
    const child = startChild(IP, ['netns', 'exec', ns, command, ...args], { env: env ?? process.env })
    children.push(child)
    return child
  }
  const dropRule = ['OUTPUT', '-o', vethEdge, '-j', 'DROP']
  const dropInput = ['INPUT', '-i', vethEdge, '-j', 'DROP']

  return {
    edgeNs,
    cloudNs,
    edgeIp,
    cloudIp,
    spawn,
    bridge: (rootPort, cloudPort, dir) => bridgeRoot(rootPort, dir, children, (command, args) => spawn(cloudNs, command, args), edgeNs, `${cloudIp}:${cloudPort}`),
    cut: async (mode) => {
      cutMode = mode
      if (mode === 'link-down') await ip('-n', edgeNs, 'link', 'set', vethEdge, 'down')
      else {
        await run(IP, ['netns', 'exec', edgeNs, IPTABLES, '-A', ...dropRule])
        await run(IP, ['netns', 'exec', edgeNs, IPTABLES, '-A', ...dropInput])
      }
    },
    heal: async () => {
      if (cutMode === 'link-down') {
        await ip('-n', edgeNs, 'link', 'set', vethEdge, 'up')
        // a downed veth loses its routes' readiness for a moment; wait for the address to be usable
        await new Promise((r) => setTimeout(r, 100))
      } else if (cutMode === 'iptables-drop') {
        await run(IP, ['netns', 'exec', edgeNs, IPTABLES, '-D', ...dropRule])
        await run(IP, ['netns', 'exec', edgeNs, IPTABLES, '-D', ...dropInput])
      }
      cutMode = undefined
    },
    remove,
  }
}
