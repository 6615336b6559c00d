/**
 * `tern pods` and `tern logs`: read what edged leaves on disk (the pods.json snapshot, the CRI log
 * files), so both work with the node offline and with tern edge stopped, and load nothing of
 * edged's runtime or gRPC.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { containerLogFile, findPodLogs, lastAttempt } from '../edged/logs/files.js'
import { followLog, readLogLines } from '../edged/logs/read.js'
import { edgedRootDir } from '../edged/root-dir.js'
import { SNAPSHOT_FILE, type PodSnapshot } from '../edged/status-manager.js'
import { TernError } from '../schemas/tern-error.js'
import { loadEdgeConfig } from './config.js'
import { podsTable } from './pods-table.js'

async function rootDirOf(configPath: string | undefined, dataDir: string | undefined): Promise<string> {
  const config = await loadEdgeConfig(configPath)
  return edgedRootDir(config.edged?.rootDir, dataDir ?? config.dataDir)
}

/** The snapshot, or an empty one when tern edge has never written it (no pods yet, or edged not configured). */
async function readSnapshot(rootDir: string): Promise<PodSnapshot> {
  const path = join(rootDir, SNAPSHOT_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { node: '', updatedAt: '', pods: [] }
    throw new TernError('CONFIG_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`)
  }
  try {
    return JSON.parse(text) as PodSnapshot
  } catch (err) {
    throw new TernError('CONFIG_UNREADABLE', `${path} is not valid JSON: ${(err as Error).message}`)
  }
}

export async function listPods(o: { config?: string; dataDir?: string; output?: string }): Promise<string> {
  if (o.output !== undefined && o.output !== 'wide' && o.output !== 'json') throw new TernError('USAGE', `-o takes wide or json, not ${JSON.stringify(o.output)}`)
  const snapshot = await readSnapshot(await rootDirOf(o.config, o.dataDir))
  if (o.output === 'json') return JSON.stringify(snapshot, null, 2)
  return podsTable(snapshot, o.output === 'wide', Date.now())
}

export interface LogsOptions {
  pod: string
  namespace?: string
  container?: string
  follow?: boolean
  tail?: number
  previous?: boolean
  config?: string
  dataDir?: string
  write(text: string): void
  /** Notes for the user beside the log (which container was chosen). */
  note(text: string): void
  signal: AbortSignal
}

export async function podLogs(o: LogsOptions): Promise<void> {
  if (o.follow === true && o.previous === true) throw new TernError('USAGE', 'only one of --follow and --previous may be given')
  const rootDir = await rootDirOf(o.config, o.dataDir)
  const namespace = o.namespace ?? 'default'
  const entry = (await readSnapshot(rootDir)).pods.find((p) => p.namespace === namespace && p.name === o.pod)
  const files = await findPodLogs(rootDir, namespace, o.pod, entry?.uid)
  const names = entry?.spec.containers.map((c) => c.name) ?? files.containers
  let container = o.container
  if (container === undefined) {
    container = names[0]
    if (container === undefined) throw new TernError('EDGED_LOG_NOT_FOUND', `pod ${namespace}/${o.pod} has no container logs`)
    if (names.length > 1) o.note(`Defaulted container "${container}" out of: ${names.join(', ')}`)
  } else if (!names.includes(container) && !files.containers.includes(container) && !(entry?.spec.initContainers ?? []).some((c) => c.name === container)) {
    throw new TernError('EDGED_LOG_NOT_FOUND', `container ${JSON.stringify(container)} is not valid for pod ${namespace}/${o.pod}; choose one of: ${names.join(', ')}`)
  }
  const file = await containerLogFile(files.podDir, container, o.previous === true, lastAttempt(entry?.status, container))
  const first = await readLogLines(file.path, o.tail)
  for (const line of first.lines) o.write(`${line.text}\n`)
  if (o.follow !== true) return
  await followLog({ containerDir: join(files.podDir, container), attempt: file.attempt, offset: first.offset, ino: first.ino, rest: first.rest, pending: first.pending, onLine: (l) => o.write(`${l.text}\n`), signal: o.signal })
}
