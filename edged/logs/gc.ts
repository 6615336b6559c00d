/**
 * Container logs go with their containers, as the kubelet's do (pkg/kubelet/kuberuntime:
 * removeContainer removes the container's log, its file and rotated ones (logManager.Clean),
 * before the container; container GC's evictPodLogsDirectories removes the log directory of a pod
 * that is gone). Edged removes a container's log with the container (pod-sync.ts: the newest
 * exited instance of each container stays, so `--previous` still has its log) and a pod's log
 * directory with the pod. What that misses — logs of containers the runtime no longer has (tern
 * edge or containerd restarted meanwhile, containerd's state wiped) and the directories of pods
 * removed while tern edge was down — is collected from what is on disk (readLogDirs, collectLogs).
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { attemptOf, rotatedLogs } from './files.js'

/** Removes a container's log: its rotated files first, then the file (a reader following it sees it gone once all of it is). */
export async function removeContainerLog(path: string): Promise<void> {
  const { inUse, unused } = await rotatedLogs(path)
  for (const file of [...inUse.map((s) => s.path), ...unused]) await rm(file, { force: true })
  await rm(path, { force: true })
}

/** The pod uid a log directory `<namespace>_<name>_<uid>` is named for (neither a namespace nor a name has `_`). */
const uidOfDir = (dir: string): string | undefined => {
  const parts = dir.split('_')
  return parts.length === 3 && parts[2] !== '' ? parts[2] : undefined
}

/** Removes the log directory of pod `uid` (with the pod). */
export async function removePodLogs(rootDir: string, uid: string): Promise<void> {
  const base = join(rootDir, 'pods')
  for (const dir of await readdir(base).catch(() => [] as string[])) if (uidOfDir(dir) === uid) await rm(join(base, dir), { recursive: true, force: true })
}

/** A pod's log directory as it was read: container name → restart counts that have files. */
export interface PodLogDir {
  uid: string
  path: string
  containers: Map<string, number[]>
}

/** Every pod log directory under `rootDir` and the restart counts of the files in it. */
export async function readLogDirs(rootDir: string): Promise<PodLogDir[]> {
  const base = join(rootDir, 'pods')
  const found: PodLogDir[] = []
  for (const dir of await readdir(base).catch(() => [] as string[])) {
    const uid = uidOfDir(dir)
    if (uid === undefined) continue
    const path = join(base, dir)
    const containers = new Map<string, number[]>()
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue
      const names = await readdir(join(path, entry.name)).catch(() => [] as string[])
      containers.set(entry.name, [...new Set(names.flatMap((n) => attemptOf(n) ?? []))])
    }
    found.push({ uid, path, containers })
  }
  return found
}

/**
 * The restart counts of a container whose logs go, from those with files and those the runtime
 * holds (listed after the files were read). Kept: every instance the runtime holds (the one
 * running, the newest exited one), the two newest logs (the current and the previous container's,
 * also when the runtime lost them), and any log newer than all the runtime holds (a container
 * started since). A container the runtime lost comes back counting on from the newest log
 * (files.ts nextAttempt), so a log that goes is never one a container writes to.
 */
export function staleAttempts(files: readonly number[], held: readonly number[]): number[] {
  const newest = [...new Set([...files, ...held])].sort((a, b) => b - a).slice(0, 2)
  const maxHeld = held.length === 0 ? undefined : Math.max(...held)
  return files.filter((a) => !held.includes(a) && !newest.includes(a) && (maxHeld === undefined || a < maxHeld)).sort((a, b) => a - b)
}

export interface CollectOptions {
  /** the log directories, read before the runtime was listed */
  found: readonly PodLogDir[]
  /** whether pod `uid` is still edged's (a source has it, it is being stopped, or the runtime holds some of it) */
  live(uid: string): boolean
  /** the restart counts of the runtime's containers of `name` in pod `uid` */
  held(uid: string, name: string): number[]
}

/** Removes the log directories of pods that are gone and the stale logs of the others; returns the paths removed. */
export async function collectLogs(o: CollectOptions): Promise<string[]> {
  const removed: string[] = []
  for (const pod of o.found) {
    if (!o.live(pod.uid)) {
      await rm(pod.path, { recursive: true, force: true })
      removed.push(pod.path)
      continue
    }
    for (const [name, attempts] of pod.containers) {
      for (const attempt of staleAttempts(attempts, o.held(pod.uid, name))) {
        const path = join(pod.path, name, `${attempt}.log`)
        await removeContainerLog(path)
        removed.push(path)
      }
    }
  }
  return removed
}
