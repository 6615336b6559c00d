/**
 * Where a pod's container logs are (edged/labels.ts layout: `<rootDir>/pods/<ns>_<name>_<uid>/
 * <container>/<restartCount>.log`): the current container's file is the highest restart count, the
 * previous container's the one below it. Log rotation (rotate.ts) renames a full file to
 * `<restartCount>.log.<UTC time>` and later compresses it to `….gz`, as the kubelet names them.
 */
import { readdir, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { PodStatus } from '../../schemas/pod.js'
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
  // removed meanwhile (the pod was): as if it had never been there
  const entries = await readdir(podDir, { withFileTypes: true }).catch(() => undefined)
  if (entries === undefined) throw new TernError('EDGED_POD_NOT_FOUND', `pod ${namespace}/${name} has no logs under ${base}`)
  const containers = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  return { podDir, containers }
}

/** The restart counts that have a log file, ascending. */
export async function logAttempts(containerDir: string): Promise<number[]> {
  const names = await readdir(containerDir).catch(() => [] as string[])
  return names.flatMap((n) => (/^[0-9]+\.log$/.test(n) ? [Number(n.slice(0, -4))] : [])).sort((a, b) => a - b)
}

/** The restart count a file of a container's log belongs to: `<n>.log` and its rotated `<n>.log.<…>`. */
export function attemptOf(fileName: string): number | undefined {
  const m = /^([0-9]+)\.log(\..*)?$/.exec(fileName)
  return m === null ? undefined : Number(m[1])
}

/**
 * The restart count of a container's first instance the runtime has no trace of (none of that name
 * in the pod): one more than the highest that left a log, as the kubelet's calcRestartCountByLogDir
 * (after containerd lost its state, counting on from the logs keeps the new container's log apart
 * from the old ones, and the newest of those its previous log).
 */
export async function nextAttempt(containerDir: string): Promise<number> {
  const names = await readdir(containerDir).catch(() => [] as string[])
  return Math.max(-1, ...names.map((n) => attemptOf(n) ?? -1)) + 1
}

/**
 * The current (or, with `previous`, the previous) log file of a container. `lastAttempt` is the
 * restart count of the container that ended last, when the pod's status knows it: while the
 * container waits to restart (crash back-off) that is the newest file, which the kubelet's
 * `--previous` shows; the one before it went with its container. A status a little behind (the
 * snapshot file's) names a log that went meanwhile: then the one before the newest, or, when the
 * newest is the only one, that one (it ended, as the status says one did).
 */
export async function containerLogFile(podDir: string, container: string, previous: boolean, lastAttempt?: number): Promise<{ path: string; attempt: number }> {
  const dir = join(podDir, container)
  const attempts = await logAttempts(dir)
  const newest = attempts[attempts.length - 1]
  const attempt = !previous ? newest : lastAttempt !== undefined && attempts.includes(lastAttempt) ? lastAttempt : (attempts[attempts.length - 2] ?? (lastAttempt === undefined ? undefined : newest))
  if (attempt === undefined) {
    throw new TernError('EDGED_LOG_NOT_FOUND', previous ? `previous terminated container ${JSON.stringify(container)} has no log (it has not restarted)` : `container ${JSON.stringify(container)} has no log yet`)
  }
  return { path: join(dir, `${attempt}.log`), attempt }
}

/** The restart count of container `name`'s instance that ended last, from the pod's status (undefined when it tells none). */
export function lastAttempt(status: PodStatus | undefined, name: string): number | undefined {
  const s = [...(status?.containerStatuses ?? []), ...(status?.initContainerStatuses ?? [])].find((c) => c.name === name)
  const last = s?.lastState.terminated
  if (s === undefined || last === undefined) return undefined
  // waiting after the newest instance ended (crash back-off): that instance is the last state
  return last.containerID !== undefined && last.containerID === s.containerID ? s.restartCount : s.restartCount - 1
}

/** A temporary file of a compression under way (or cut short): never part of the log. */
export const TEMP_SUFFIX = '.tmp'
export const GZIP_SUFFIX = '.gz'

/** One file of a container's log: rotated ones (`gz` when compressed) and the current one. */
export interface LogSegment {
  path: string
  gz: boolean
}

/**
 * The rotated files of the log file `path` that hold part of the log, oldest first (their UTC
 * times sort as text), as the kubelet's filterUnusedLogs sees them: a temporary file is not one,
 * nor a file whose compressed copy exists (the compression ended, its removal did not).
 * `unused` are those others, to remove.
 */
export async function rotatedLogs(path: string): Promise<{ inUse: LogSegment[]; unused: string[] }> {
  const dir = dirname(path)
  const prefix = `${basename(path)}.`
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(prefix)).sort()
  const all = new Set(names)
  const inUse: LogSegment[] = []
  const unused: string[] = []
  for (const n of names) {
    if (n.endsWith(TEMP_SUFFIX) || all.has(`${n}${GZIP_SUFFIX}`)) unused.push(join(dir, n))
    else inUse.push({ path: join(dir, n), gz: n.endsWith(GZIP_SUFFIX) })
  }
  return { inUse, unused }
}

/** The files of one container's log, oldest first: its rotated files, then `path` itself. */
export async function logSegments(path: string): Promise<LogSegment[]> {
  return [...(await rotatedLogs(path)).inUse, { path, gz: false }]
}
