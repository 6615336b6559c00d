/**
 * Measures the node for its status (node-status.ts): cores, /proc/meminfo, the data directory's
 * filesystem (statfs), pid_max and the processes running (as the kubelet counts them: the numeric
 * entries of /proc), host name, addresses and the system identity files. Anything that cannot be
 * read is left out (an empty string, or undefined) rather than failing the report.
 *
 * The addresses are listed at the first measurement and at each connect to the cloud, not at every
 * update: os.networkInterfaces() is a netlink dump, which waits for the kernel's RTNL lock on the
 * event loop, and container networking holds that lock while it sets up or removes a pod's network.
 * Listed every 10 s while 100 pods started, it once held the loop for 3.9 s, and every twin request
 * of the node with it. An address that changes drops the cloud link, and the connect after reads it.
 */
import { readdir, readFile, statfs } from 'node:fs/promises'
import { arch, availableParallelism, hostname, networkInterfaces, platform, release, totalmem } from 'node:os'
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

export type ListAddresses = () => ReturnType<typeof networkInterfaces>

function firstAddress(list: ListAddresses): string | undefined {
  const all = Object.values(list()).flatMap((entries) => entries ?? [])
  const usable = all.filter((a) => !a.internal && !a.address.startsWith('fe80:'))
  return (usable.find((a) => a.family === 'IPv4') ?? usable[0])?.address
}

async function osImage(): Promise<string> {
  const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(await text('/etc/os-release'))
  return match?.[1] ?? ''
}

/** Measures the node (`atConnect`: a new session, so the addresses are listed again). */
export type MeasureNode = (atConnect: boolean) => Promise<NodeMeasurements>

/** The node's probe; `dataDir` is the directory whose filesystem counts as the node's disk. */
export function nodeProbe(dataDir: string, listAddresses: ListAddresses = networkInterfaces): MeasureNode {
  let internalIP: { address: string | undefined } | undefined
  return (atConnect) => {
    if (atConnect || internalIP === undefined) internalIP = { address: firstAddress(listAddresses) }
    return measureNode(dataDir, internalIP.address)
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
