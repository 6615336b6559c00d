/**
 * Reads the Device/DeviceModel manifests of a directory and watches it. A file that fails to parse
 * or validate keeps its last good contents (an editor's half-saved file never removes devices);
 * problems are logged with file, document and path.
 */
import { watch, type FSWatcher } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { EdgeDevice } from '../schemas/device.js'
import { parseManifests, resolveDevices, type Manifest, type ManifestProblem, type TopicLayout } from './manifests.js'

const MANIFEST_FILE = /\.(ya?ml|json)$/
const DEBOUNCE_MS = 150

export interface ManifestDirOptions {
  dir: string
  nodeName: string
  layout: TopicLayout
  log: Logger
  /** Called with the node's whole device set after every change of the directory. */
  onChange(devices: EdgeDevice[]): Promise<void>
}

export class ManifestDir {
  readonly #options: ManifestDirOptions
  readonly #files = new Map<string, Manifest[]>()
  #watcher: FSWatcher | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()
  #stopped = false

  constructor(options: ManifestDirOptions) {
    this.#options = options
  }

  /** Loads the directory once (the node's initial device set) and starts watching it. */
  async start(): Promise<EdgeDevice[]> {
    const devices = await this.#reload()
    this.#watcher = watch(this.#options.dir, () => this.#schedule())
    this.#watcher.on('error', (err) => this.#options.log.error({ err, dir: this.#options.dir }, 'manifest directory watch failed'))
    return devices
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#watcher?.close()
    await this.#running
  }

  #schedule(): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      // Reloads run one after another, never overlapping.
      this.#running = this.#running
        .then(async () => {
          if (this.#stopped) return
          await this.#options.onChange(await this.#reload())
        })
        .catch((err: unknown) => this.#options.log.error({ err }, 'applying manifest changes failed'))
    }, DEBOUNCE_MS)
  }

  async #reload(): Promise<EdgeDevice[]> {
    const { dir, log } = this.#options
    const names = (await readdir(dir)).filter((n) => MANIFEST_FILE.test(n)).sort()
    const problems: ManifestProblem[] = []
    for (const gone of [...this.#files.keys()].filter((n) => !names.includes(n))) this.#files.delete(gone)
    for (const name of names) {
      let text: string
      try {
        text = await readFile(join(dir, name), 'utf8')
      } catch {
        continue // removed between readdir and readFile; the next event reloads
      }
      const parsed = parseManifests(name, text)
      problems.push(...parsed.problems)
      if (parsed.problems.length === 0 || !this.#files.has(name)) this.#files.set(name, parsed.manifests)
    }
    const resolved = resolveDevices([...this.#files.values()].flat(), this.#options)
    problems.push(...resolved.problems)
    for (const p of problems) log.error({ code: 'MANIFEST_INVALID', source: p.source, path: p.path }, p.message)
    return resolved.devices
  }
}
