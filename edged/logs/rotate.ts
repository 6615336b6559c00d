/**
 * Container log rotation, as the kubelet's container log manager
 * (pkg/kubelet/logs/container_log_manager.go): every `intervalMs` the log of each running container
 * of edged's is checked, and one that reached `maxBytes` is renamed to `<log>.<UTC time>` and the
 * runtime asked (CRI ReopenContainerLog) to write to a new file of the old name. At most `maxFiles`
 * files are kept of each log, the one being written included: before a rotation, the oldest
 * rotated ones past that are deleted and the others compressed (`.gz`), all but the newest, which
 * is compressed only at the next rotation: the runtime may still be writing its last records, and
 * a `logs -f` reading it finishes it (log-stream.ts).
 *
 * A failure (the runtime refusing the reopen, a full disk while compressing) loses nothing: the log
 * keeps its name (a refused reopen renames the file back, as the kubelet does), a half-written
 * compressed file is removed, and the next round tries again. It is logged with
 * EDGED_LOG_ROTATION_FAILED.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { access, rename, rm, stat, utimes } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { Logger } from 'pino'
import { TernError } from '../../schemas/tern-error.js'
import { Alarm, realClock, type Clock } from '../../mappers/runtime/clock.js'
import type { ContainerRuntime } from '../cri/runtime.js'
import { MANAGED_BY, MANAGED_BY_EDGED } from '../labels.js'
import { GZIP_SUFFIX, rotatedLogs, TEMP_SUFFIX } from './files.js'

export interface LogRotationOptions {
  runtime: ContainerRuntime
  /** a log file is rotated once it has this many bytes */
  maxBytes: number
  /** files kept of each container's log, the current one included (≥ 2) */
  maxFiles: number
  /** how often the logs are checked, ms */
  intervalMs: number
  /** containers handled at the same time in one round */
  workers: number
  log: Logger
  clock?: Clock
}

export class LogRotator {
  readonly #o: LogRotationOptions
  readonly #clock: Clock
  readonly #alarm: Alarm
  #loop: Promise<void> | undefined
  #stopped = false

  constructor(options: LogRotationOptions) {
    this.#o = options
    this.#clock = options.clock ?? realClock
    this.#alarm = new Alarm(this.#clock)
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#alarm.wake()
    await this.#loop
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await this.#alarm.sleep(this.#o.intervalMs)
      if (this.#stopped) return
      await this.round().catch((err: unknown) => this.#o.log.warn({ code: err instanceof TernError ? err.code : undefined, err }, 'listing containers for log rotation failed; tried again next round'))
    }
  }

  /** Checks every running container's log once, `workers` at a time, and rotates those that are full. */
  async round(): Promise<void> {
    const running = await this.#o.runtime.listContainers({ state: 'CONTAINER_RUNNING', labelSelector: { [MANAGED_BY]: MANAGED_BY_EDGED } })
    const queue = running.map((c) => c.id)
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined && !this.#stopped; id = queue.shift()) await this.#container(id)
    }
    await Promise.all(Array.from({ length: Math.min(this.#o.workers, queue.length) }, worker))
  }

  async #container(id: string): Promise<void> {
    const { runtime, log } = this.#o
    let path: string | undefined
    try {
      path = (await runtime.containerStatus(id)).logPath
      if (path === '') return
      let size = await fileSize(path)
      if (size === undefined) {
        // the runtime has no file to write to (a rotation cut short by a crash): as the kubelet, ask it for one
        await runtime.reopenContainerLog(id)
        size = (await fileSize(path)) ?? 0
      }
      if (size < this.#o.maxBytes) return
      await this.#rotate(id, path)
      log.debug({ container: id, path, bytes: size }, 'container log rotated')
    } catch (err) {
      if (await this.#gone(id)) {
        log.debug({ container: id, path, err }, 'container ended while its log was rotated; its log keeps its name')
        return
      }
      log.warn({ code: 'EDGED_LOG_ROTATION_FAILED', container: id, path, err }, `rotating a container log failed; tried again next round: ${(err as Error).message}`)
    }
  }

  /** Whether the container no longer runs (its end, not a fault, made the rotation fail). */
  async #gone(id: string): Promise<boolean> {
    try {
      return (await this.#o.runtime.containerStatus(id)).state !== 'CONTAINER_RUNNING'
    } catch (err) {
      return err instanceof TernError && err.code === 'EDGED_RUNTIME_NOT_FOUND'
    }
  }

  async #rotate(id: string, path: string): Promise<void> {
    const { inUse, unused } = await rotatedLogs(path)
    for (const file of unused) await rm(file, { force: true })
    // the current file and the one about to be rotated leave room for maxFiles - 2 older ones;
    // the oldest go first, so a reader of the log loses its oldest lines first
    const excess = Math.max(0, inUse.length - (this.#o.maxFiles - 2))
    for (const segment of inUse.slice(0, excess)) await rm(segment.path, { force: true })
    for (const segment of inUse.slice(excess)) if (!segment.gz) await compress(segment.path)
    const rotated = `${path}.${rotationTime(this.#clock.now())}`
    // two rotations within a second would have the same name: the second waits for the next round
    if (await exists(rotated)) return
    await rename(path, rotated)
    try {
      await this.#o.runtime.reopenContainerLog(id)
    } catch (err) {
      // as the kubelet: the old name back, so the next round tries again — unless the runtime did
      // open a new file after all (an answer that came too late), which must not be overwritten
      if (!(await exists(path))) await rename(rotated, path).catch((renameErr: unknown) => this.#o.log.error({ code: 'EDGED_LOG_ROTATION_FAILED', container: id, path, err: renameErr }, 'renaming a rotated log back failed'))
      throw err
    }
  }
}

/**
 * Compresses `path` to `path.gz` as a stream (the file is never held in memory), through a
 * temporary file renamed into place; the compressed file keeps the original's times, so `--since`
 * can tell from them which files to read. On failure the temporary file is removed.
 */
export async function compress(path: string): Promise<void> {
  const temp = `${path}${TEMP_SUFFIX}`
  try {
    const { atime, mtime, mode } = await stat(path)
    await pipeline(createReadStream(path), createGzip(), createWriteStream(temp, { mode }))
    await utimes(temp, atime, mtime)
    await rename(temp, `${path}${GZIP_SUFFIX}`)
  } catch (err) {
    await rm(temp, { force: true })
    throw new TernError('EDGED_LOG_ROTATION_FAILED', `compressing ${path} failed: ${(err as Error).message}`, { cause: err })
  }
  await rm(path, { force: true })
}

/** The kubelet's suffix of a rotated log (Go layout 20060102-150405), in UTC. */
export function rotationTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}
