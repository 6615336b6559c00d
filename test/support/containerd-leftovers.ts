/**
 * What a private containerd (containerd.ts) may leave running when it cannot be asked to stop its
 * tasks (it was killed and does not start again): its shims, which outlive it by design, and the
 * containers they supervise. Found by what identifies them as this containerd's, never by name
 * alone: a shim's command line carries the containerd socket it reports to (a path in this
 * containerd's scratch directory), and a container's init PID is in its bundle under this
 * containerd's state directory, checked against the container's cgroup before it is signalled (a
 * PID may have been reused). Each is killed by its PID.
 */
import { readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** containerd 1.6's v2 runtime keeps one bundle per task here: `<namespace>/<id>/init.pid`. */
const TASK_STATE = 'io.containerd.runtime.v2.task'
const GONE_TIMEOUT_MS = 10_000

export async function killLeftovers(dir: string, socket: string): Promise<number[]> {
  const inits = await containerInits(join(dir, 'state', TASK_STATE))
  const shims = await shimsOf(socket)
  // the containers first: a shim killed first leaves its container to the reaper, still running
  for (const pid of [...inits, ...shims]) kill(pid)
  const killed = [...inits, ...shims]
  const deadline = Date.now() + GONE_TIMEOUT_MS
  while (killed.some(alive)) {
    if (Date.now() > deadline) throw new Error(`containerd leftovers still running after SIGKILL: ${killed.filter(alive).join(', ')}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return killed
}

/** PIDs of the containers' init processes whose bundle is under `taskState` and that still are those containers. */
async function containerInits(taskState: string): Promise<number[]> {
  const pids: number[] = []
  for (const namespace of await readdir(taskState).catch((): string[] => [])) {
    for (const id of await readdir(join(taskState, namespace)).catch((): string[] => [])) {
      const pid = Number(await readFile(join(taskState, namespace, id, 'init.pid'), 'utf8').catch(() => ''))
      if (!Number.isInteger(pid) || pid <= 1) continue
      const cgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '')
      if (cgroup.includes(id)) pids.push(pid)
    }
  }
  return pids
}

/** PIDs of the shims reporting to the containerd on `socket`. */
async function shimsOf(socket: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0')
    const address = argv.indexOf('-address')
    if (argv[0]?.includes('containerd-shim') === true && address > 0 && argv[address + 1] === socket) pids.push(Number(entry))
  }
  return pids
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // gone already
  }
}

/** Running, or not yet reaped by its new parent (a zombie has ended: it holds nothing but its PID). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}
