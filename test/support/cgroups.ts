/** A container's cgroup files as the host sees them (cgroup v1): found from its process's /proc/<pid>/cgroup. */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** controller → cgroup path of the process whose cgroup names the container, or undefined when none runs. */
export async function processCgroups(containerId: string): Promise<Map<string, string> | undefined> {
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const text = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '')
    if (!text.includes(containerId)) continue
    const map = new Map<string, string>()
    for (const line of text.split('\n')) {
      const [, controllers, path] = line.split(':')
      for (const c of (controllers ?? '').split(',')) if (c !== '' && path !== undefined) map.set(c, path)
    }
    return map
  }
  return undefined
}

/** The trimmed content of a cgroup file of the container (`memory`, `memory.limit_in_bytes`). */
export async function readCgroupFile(cgroups: ReadonlyMap<string, string>, controller: string, file: string): Promise<string> {
  const path = cgroups.get(controller)
  if (path === undefined) throw new Error(`the process has no ${controller} cgroup`)
  return (await readFile(join('/sys/fs/cgroup', controller, path, file), 'utf8')).trim()
}
