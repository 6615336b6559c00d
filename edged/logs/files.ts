/**
 * Where a pod's container logs are (edged/labels.ts layout: `<rootDir>/pods/<ns>_<name>_<uid>/
 * <container>/<restartCount>.log`): the current container's file is the highest restart count, the
 * previous container's the one below it.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { TernError } from '../../schemas/tern-error.js'

export interface LogFiles {
  /** The pod's log directory. */
  podDir: string
  /** Container names that have logs, sorted. */
  containers: string[]
}

/** The log directory of pod `namespace/name`: `uid`'s when given, else the most recently written one (an edited static pod has a new uid). */
export async function findPodLogs(rootDir: string, namespace: string, name: string, uid?: string): Promise<LogFiles> {
  const base = join(rootDir, 'pods')
  const prefix = `${namespace}_${name}_`
  const dirs = (await readdir(base).catch(() => [] as string[])).filter((d) => d.startsWith(prefix) && !d.slice(prefix.length).includes('_'))
  let chosen = uid === undefined ? undefined : dirs.find((d) => d === `${prefix}${uid}`)
  if (chosen === undefined) {
    const dated = await Promise.all(dirs.map(async (d) => ({ d, mtime: (await stat(join(base, d))).mtimeMs })))
    chosen = dated.sort((a, b) => b.mtime - a.mtime)[0]?.d
  }
  if (chosen === undefined) throw new TernError('EDGED_POD_NOT_FOUND', `pod ${namespace}/${name} has no logs under ${base}`)
  const podDir = join(base, chosen)
  const containers = (await readdir(podDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort()
  return { podDir, containers }
}

/** The restart counts that have a log file, ascending. */
export async function logAttempts(containerDir: string): Promise<number[]> {
  const names = await readdir(containerDir).catch(() => [] as string[])
  return names.flatMap((n) => (/^[0-9]+\.log$/.test(n) ? [Number(n.slice(0, -4))] : [])).sort((a, b) => a - b)
}

/** The current (or, with `previous`, the previous) log file of a container. */
export async function containerLogFile(podDir: string, container: string, previous: boolean): Promise<{ path: string; attempt: number }> {
  const dir = join(podDir, container)
  const attempts = await logAttempts(dir)
  const attempt = attempts[attempts.length - (previous ? 2 : 1)]
  if (attempt === undefined) {
    throw new TernError('EDGED_LOG_NOT_FOUND', previous ? `previous terminated container ${JSON.stringify(container)} has no log (it has not restarted)` : `container ${JSON.stringify(container)} has no log yet`)
  }
  return { path: join(dir, `${attempt}.log`), attempt }
}
