/**
 * Measures the node for its status (node-status.ts): cores, /proc/meminfo, the data directory's
 * filesystem (statfs), pid_max and the processes running (as the kubelet counts them: the numeric
 * entries of /proc), host name, addresses and the system identity files. Anything that cannot be
 * read is left out (an empty string, or undefined) rather than failing the report.
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

function firstAddress(): string | undefined {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? [])
  const usable = all.filter((a) => !a.internal && !a.address.startsWith('fe80:'))
  return (usable.find((a) => a.family === 'IPv4') ?? usable[0])?.address
}

async function osImage(): Promise<string> {
  const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(await text('/etc/os-release'))
  return match?.[1] ?? ''
}

/** Measures the node; `dataDir` is the directory whose filesystem counts as the node's disk. */
export async function measureNode(dataDir: string): Promise<NodeMeasurements> {
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
    internalIP: firstAddress(),
    system: { machineID, systemUUID, bootID, kernelVersion: release(), osImage: image, operatingSystem: platform(), architecture: goArch(arch()) },
  }
}
