/**
 * Measures the node for its status (node-status.ts): cores, /proc/meminfo, the data directory's
 * filesystem (statfs), pid_max and the processes running (as the kubelet counts them: the numeric
 * entries of /proc), host name, addresses and the system identity files. Anything that cannot be
 * read is left out (an empty string, or undefined) rather than failing the report.
 *
 * The addresses are read at every measurement, as the kubelet re-reads them at every status update,
 * but from /proc/net (node-addresses.ts: file reads on the thread pool, no RTNL lock). Only when
 * they changed since the last measurement does the probe list the interfaces with
 * os.networkInterfaces() to choose the InternalIP: that is a netlink dump on the event loop, which
 * waits for the RTNL lock container networking holds while pods start or go. Listed every 10 s
 * while 100 pods started, it once held the loop for 3.9 s, and every twin request of the node with
 * it; the addresses a pod start adds (its veth's link-local one) are not counted. An interface is
 * listed only once it is up and running, and its address may come before that: while a listing
 * misses an address /proc/net has, the interfaces are listed again every minute.
 */
import { readdir, readFile, statfs } from 'node:fs/promises'
import { arch, availableParallelism, hostname, networkInterfaces, platform, release, totalmem } from 'node:os'
import type { Logger } from 'pino'
import { realClock, type Clock } from '../../mappers/runtime/clock.js'
import { canonicalIP, hostAddresses } from './node-addresses.js'
import { goArch, type NodeMeasurements } from './node-status.js'

async function text(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch {
    return ''
  }
}

async function memoryAvailable(): Promise<number | undefined> {
  const match = /^MemAvailable:\s+(\d+) kB$/m.exec(await text('/proc/meminfo'))
  return match === null ? undefined : Number(match[1]) * 1024
}

async function disk(dir: string): Promise<NodeMeasurements['disk']> {
  try {
    const s = await statfs(dir)
    return { totalBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize, inodes: s.files, inodesFree: s.ffree }
  } catch {
    return undefined
  }
}

async function pids(): Promise<NodeMeasurements['pids']> {
  const max = Number(await text('/proc/sys/kernel/pid_max'))
  if (!(max > 0)) return undefined
  try {
    const running = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).length
    return { max, running }
  } catch {
    return undefined
  }
}

/** Where the probe learns the node's addresses. */
export interface AddressSource {
  /** the host's addresses, sorted: read at every measurement (undefined: they cannot be read so) */
  read: () => Promise<readonly string[] | undefined>
  /** the interfaces and their addresses, to choose the InternalIP from (a netlink dump, on the event loop) */
  list: () => ReturnType<typeof networkInterfaces>
}

export const hostAddressSource: AddressSource = { read: hostAddresses, list: networkInterfaces }

/** The InternalIP the interfaces give (the first non-loopback IPv4, else IPv6), and every address they show. */
function listAddresses(source: AddressSource): { first: string | undefined; shown: Set<string> } {
  const all = Object.values(source.list()).flatMap((entries) => entries ?? [])
  const usable = all.filter((a) => !a.internal && !a.address.startsWith('fe80:'))
  return { first: (usable.find((a) => a.family === 'IPv4') ?? usable[0])?.address, shown: new Set(usable.map((a) => a.address)) }
}

async function osImage(): Promise<string> {
  const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(await text('/etc/os-release'))
  return match?.[1] ?? ''
}

/** Measures the node. */
export type MeasureNode = () => Promise<NodeMeasurements>

export interface NodeProbeOptions {
  /** the directory whose filesystem counts as the node's disk */
  dataDir: string
  /** edged.nodeIP: the InternalIP when set (the kubelet's --node-ip); a warning when the host does not have it */
  nodeIP?: string
  addresses?: AddressSource
  log: Logger
  clock?: Clock
}

/**
 * The interfaces are listed again after this long while the last listing did not show every address
 * /proc/net has: an interface must be up and running to be listed, and its address can come first.
 */
export const RELIST_MS = 60_000

/** The node's probe. */
export function nodeProbe(options: NodeProbeOptions): MeasureNode {
  const source = options.addresses ?? hostAddressSource
  const clock = options.clock ?? realClock
  const nodeIP = options.nodeIP === undefined ? undefined : (canonicalIP(options.nodeIP) ?? options.nodeIP)
  let listed: { addresses: string | undefined; at: number; complete: boolean } | undefined
  let internalIP: string | undefined
  return async () => {
    const addresses = await source.read()
    const now = addresses?.join(' ')
    const changed = now === undefined || now !== listed?.addresses
    if (nodeIP !== undefined) {
      if (changed && addresses !== undefined && !addresses.includes(nodeIP)) {
        options.log.warn({ code: 'NODE_IP_NOT_LOCAL', nodeIP, addresses }, 'edged.nodeIP is not an address of this host; the Node reports it as its InternalIP all the same')
      }
      listed = { addresses: now, at: clock.now(), complete: true }
      internalIP = nodeIP
    } else if (listed === undefined || changed || (!listed.complete && clock.now() - listed.at >= RELIST_MS)) {
      const { first, shown } = listAddresses(source)
      listed = { addresses: now, at: clock.now(), complete: (addresses ?? []).every((a) => shown.has(a)) }
      internalIP = first
    }
    return measureNode(options.dataDir, internalIP)
  }
}

async function measureNode(dataDir: string, internalIP: string | undefined): Promise<NodeMeasurements> {
  const [memoryAvailableBytes, fs, processes, machineID, systemUUID, bootID, image] = await Promise.all([
    memoryAvailable(),
    disk(dataDir),
    pids(),
    text('/etc/machine-id'),
    text('/sys/class/dmi/id/product_uuid'),
    text('/proc/sys/kernel/random/boot_id'),
    osImage(),
  ])
  return {
    cpus: availableParallelism(),
    memoryTotalBytes: totalmem(),
    memoryAvailableBytes,
    disk: fs,
    pids: processes,
    hostname: hostname(),
    internalIP,
    system: { machineID, systemUUID, bootID, kernelVersion: release(), osImage: image, operatingSystem: platform(), architecture: goArch(arch()) },
  }
}
