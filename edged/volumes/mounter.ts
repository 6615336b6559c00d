/**
 * Mounting tmpfs volumes and finding what is mounted, through mount(8) and umount(8) (Node has
 * no mount call) and /proc/<pid>/mountinfo. The mounts must be in the mount namespace containerd
 * runs in, or the container would bind the empty directory underneath: that is edged's own
 * namespace on a node, and `namespacePid` names another (containerd started in a private one).
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface Mounter {
  /** Mount points at `dir` or below it, deepest first (the order to unmount them). */
  mountsUnder(dir: string): Promise<string[]>
  mountTmpfs(target: string, options: { sizeBytes?: bigint; mode: number }): Promise<void>
  unmount(target: string): Promise<void>
  /** `path` as this process reaches it in that mount namespace, to write files onto a tmpfs mounted there. */
  reach(path: string): string
}

export interface SystemMounterOptions {
  /** A process in the mount namespace to act in (default: this process's own). */
  namespacePid?: number
}

export function systemMounter(options: SystemMounterOptions = {}): Mounter {
  const pid = options.namespacePid
  const run = async (command: string, args: string[]): Promise<void> => {
    const [file, argv] = pid === undefined ? [command, args] : ['nsenter', [`--target=${pid}`, '--mount', '--', command, ...args]]
    await execFileAsync(file, argv, { timeout: 30_000 })
  }
  return {
    mountsUnder: async (dir) => {
      const text = await readFile(`/proc/${pid ?? 'self'}/mountinfo`, 'utf8')
      return mountPoints(text)
        .filter((m) => m === dir || m.startsWith(dir.endsWith(sep) ? dir : dir + sep))
        .sort((a, b) => b.length - a.length)
    },
    mountTmpfs: (target, { sizeBytes, mode }) => run('mount', ['-t', 'tmpfs', '-o', [`mode=${mode.toString(8)}`, ...(sizeBytes === undefined ? [] : [`size=${sizeBytes}`])].join(','), 'tmpfs', target]),
    unmount: (target) => run('umount', [target]),
    reach: (path) => (pid === undefined ? path : join(`/proc/${pid}/root`, path)),
  }
}

/** The mount points of a mountinfo text (field 5), with its octal escapes (`\040` for a space) decoded. */
export function mountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && p !== '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))))
}
