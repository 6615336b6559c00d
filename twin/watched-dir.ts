/**
 * A directory read again whenever it changes: the device manifest directory (manifest-dir.ts) and
 * edged's static pod directory (edged/sources/static-dir.ts). fs.watch events come in bursts (an
 * editor's temp file and rename, a copy of many files), so they are debounced into one reload;
 * reloads run one after another, never overlapping, so a slow reload never sees its successor's
 * half-applied state; stop() waits for the reload in progress. With `rescanMs` the directory is
 * also re-read on a timer, as the kubelet re-reads its manifest directory (fileCheckFrequency),
 * which also finds a directory that appears, or is replaced, after start.
 */
import { watch, type FSWatcher } from 'node:fs'
import type { Logger } from 'pino'

export interface WatchedDirOptions {
  dir: string
  /** events within this window make one reload, ms */
  debounceMs: number
  /** re-read this often even without events, ms; without it the directory must exist at start */
  rescanMs?: number
  /** reads the directory and applies what changed; a rejection is logged with `failure` and the next change tries again */
  reload(): Promise<void>
  failure: string
  log: Logger
}

export class WatchedDir {
  readonly #o: WatchedDirOptions
  #watcher: FSWatcher | undefined
  #debounce: NodeJS.Timeout | undefined
  #rescan: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()
  #stopped = false

  constructor(options: WatchedDirOptions) {
    this.#o = options
  }

  /**
   * Starts watching (after the owner's first read). Without `rescanMs` a directory that cannot be
   * watched (absent) throws, as nothing would ever watch it later; with it, the rescan tries again.
   */
  start(): void {
    if (this.#o.rescanMs === undefined) this.#arm()
    else {
      this.#tryArm()
      this.#rescan = setInterval(() => this.schedule(), this.#o.rescanMs)
    }
  }

  /** Stops watching until the next rescan (the directory went away: a watch on it would see nothing of its successor). */
  unwatch(): void {
    this.#watcher?.close()
    this.#watcher = undefined
  }

  /** A reload after the debounce window, queued behind the one running. */
  schedule(): void {
    clearTimeout(this.#debounce)
    this.#debounce = setTimeout(() => {
      this.#running = this.#running
        .then(async () => {
          if (this.#stopped) return
          if (this.#watcher === undefined && this.#o.rescanMs !== undefined) this.#tryArm()
          await this.#o.reload()
        })
        .catch((err: unknown) => this.#o.log.error({ err, dir: this.#o.dir }, this.#o.failure))
    }, this.#o.debounceMs)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#debounce)
    clearInterval(this.#rescan)
    this.unwatch()
    await this.#running
  }

  #arm(): void {
    if (this.#watcher !== undefined) return
    const watcher = watch(this.#o.dir, () => this.schedule())
    watcher.on('error', (err) => {
      this.#o.log.warn({ err, dir: this.#o.dir }, `watching ${this.#o.dir} failed${this.#o.rescanMs === undefined ? '' : '; it is re-read every ' + String(this.#o.rescanMs / 1000) + ' s'}`)
      if (this.#watcher === watcher) this.unwatch()
    })
    this.#watcher = watcher
  }

  #tryArm(): void {
    try {
      this.#arm()
    } catch {
      // absent or unreadable: the owner's reload says so; the next rescan tries again
    }
  }
}
