/**
 * Reads the Device/DeviceModel manifests of a directory and watches it. A file that fails to parse
 * or validate keeps its last good contents (an editor's half-saved file never removes devices);
 * problems are logged with file, document and path.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { EdgeDevice } from '../schemas/device.js'
import { resolveDevices, type Manifest, type ManifestProblem, type TopicLayout } from './device-set.js'
import { parseManifests } from './manifests.js'
import type { LevelStore } from './store.js'
import { WatchedDir } from './watched-dir.js'

/** A parsed file, keyed by name in the cache: reused while the file's mtime and size are unchanged. */
export interface CachedManifests {
  mtimeMs: number
  size: number
  manifests: Manifest[]
}

export interface ManifestCacheSpaces extends Record<string, unknown> {
  manifests: CachedManifests
}

const MANIFEST_FILE = /\.(ya?ml|json)$/
const DEBOUNCE_MS = 150

export interface ManifestDirOptions {
  dir: string
  nodeName: string
  layout: TopicLayout
  log: Logger
  /** Called with the node's whole device set after every change of the directory. */
  onChange(devices: EdgeDevice[]): Promise<void>
  /**
   * Parsed files from earlier runs: a node with many devices starts without parsing YAML again
   * (1,000 devices: ~250 ms of YAML parsing saved).
   */
  cache?: LevelStore<ManifestCacheSpaces>
}

/**
 * What the directory holds between reloads, per file: its mtime and size, and its manifests only
 * where the cache does not have them (no cache, a file whose current text has problems, a failed
 * cache write). A node with a cache keeps no parsed copy of its manifests while it runs: a reload
 * reads the unchanged files' manifests back from the cache (1,000 devices: ~0.8 MiB of heap).
 */
interface FileState {
  mtimeMs: number
  size: number
  manifests?: Manifest[]
}

export class ManifestDir {
  readonly #options: ManifestDirOptions
  readonly #files = new Map<string, FileState>()
  /** devices bound to another node that were already logged (`source NUL nodeName`) */
  readonly #elsewhereLogged = new Set<string>()
  readonly #watched: WatchedDir

  constructor(options: ManifestDirOptions) {
    this.#options = options
    this.#watched = new WatchedDir({
      dir: options.dir,
      debounceMs: DEBOUNCE_MS,
      reload: async () => options.onChange(await this.#reload()),
      failure: 'applying manifest changes failed',
      log: options.log,
    })
  }

  /** Loads the directory once (the node's initial device set) and starts watching it. */
  async start(): Promise<EdgeDevice[]> {
    const devices = await this.#reload()
    this.#watched.start()
    return devices
  }

  async stop(): Promise<void> {
    await this.#watched.stop()
  }

  async #reload(): Promise<EdgeDevice[]> {
    const { dir, log } = this.#options
    const names = (await readdir(dir)).filter((n) => MANIFEST_FILE.test(n)).sort()
    const problems: ManifestProblem[] = []
    const cache = new CacheReader(this.#options)
    const current = new Map<string, Manifest[]>()
    const cacheWrites: Array<{ name: string; entry?: CachedManifests }> = []
    for (const gone of [...this.#files.keys()].filter((n) => !names.includes(n))) {
      this.#files.delete(gone)
      cacheWrites.push({ name: gone })
    }
    for (const name of names) {
      let text: string
      let mtimeMs: number
      let size: number
      const known = this.#files.get(name)
      try {
        ;({ mtimeMs, size } = await stat(join(dir, name)))
        // unchanged since the last reload, or (at start) since it was cached
        const unchanged = known === undefined || (known.mtimeMs === mtimeMs && known.size === size)
        const kept = unchanged ? (known?.manifests ?? (await cache.manifests(name, { mtimeMs, size }))) : undefined
        if (kept !== undefined) {
          current.set(name, kept)
          this.#files.set(name, known ?? { mtimeMs, size })
          continue
        }
        text = await readFile(join(dir, name), 'utf8')
      } catch {
        // removed between readdir and reading: the next event reloads; until then a known file keeps its devices
        const kept = known === undefined ? undefined : (known.manifests ?? (await cache.manifests(name)))
        if (kept !== undefined) current.set(name, kept)
        continue
      }
      const parsed = parseManifests(name, text)
      problems.push(...parsed.problems)
      if (parsed.problems.length === 0) {
        current.set(name, parsed.manifests)
        this.#files.set(name, { mtimeMs, size })
        cacheWrites.push({ name, entry: { mtimeMs, size, manifests: parsed.manifests } })
        continue
      }
      // An editor's half-saved file keeps the file's last good manifests (in memory, until it is fixed).
      const lastGood = known === undefined ? parsed.manifests : (known.manifests ?? (await cache.manifests(name)) ?? parsed.manifests)
      current.set(name, lastGood)
      this.#files.set(name, { mtimeMs, size, manifests: lastGood })
    }
    if (!(await this.#updateCache(cacheWrites))) {
      // no cache, or not written: the manifests stay in memory, or the next reload would lose these files' devices
      for (const { name, entry } of cacheWrites) if (entry !== undefined) this.#files.set(name, entry)
    }
    const resolved = resolveDevices([...current.values()].flat(), this.#options)
    problems.push(...resolved.problems)
    // Not a problem (one directory may serve several nodes), but a surprise when the name is a
    // typo or the node's own name differs: said once per device and node name, not every reload.
    for (const { source, nodeName } of resolved.elsewhere) {
      const key = `${source}\u0000${nodeName}`
      if (this.#elsewhereLogged.has(key)) continue
      this.#elsewhereLogged.add(key)
      log.info({ source, nodeName, node: this.#options.nodeName }, `device ${source} is bound to node ${nodeName}, not to this node (${this.#options.nodeName}): not served here`)
    }
    for (const p of problems) log.error({ code: 'MANIFEST_INVALID', source: p.source, path: p.path }, p.message)
    return resolved.devices
  }

  /** Writes the parsed files to the cache (deletes the removed ones); false when there is no cache or the write failed. */
  async #updateCache(writes: ReadonlyArray<{ name: string; entry?: CachedManifests }>): Promise<boolean> {
    const cache = this.#options.cache
    if (cache === undefined) return false
    if (writes.length === 0) return true
    try {
      await cache.write(writes.map(({ name, entry }) => (entry === undefined ? { space: 'manifests' as const, type: 'del' as const, key: name } : { space: 'manifests' as const, type: 'put' as const, key: name, value: entry })))
      return true
    } catch (err) {
      this.#options.log.warn({ err }, 'manifest cache not updated (files will be parsed again at the next start)')
      return false
    }
  }
}

/** The cache's files for one reload: read once, when the first file needs them, then garbage with the reload. */
class CacheReader {
  readonly #options: ManifestDirOptions
  #entries: Promise<Map<string, CachedManifests>> | undefined

  constructor(options: ManifestDirOptions) {
    this.#options = options
  }

  /** The cached manifests of `name`; with `stat`, only if the cache holds the file as it is now. */
  async manifests(name: string, stat?: { mtimeMs: number; size: number }): Promise<Manifest[] | undefined> {
    const cache = this.#options.cache
    if (cache === undefined) return undefined
    this.#entries ??= cache.loadAll('manifests').then(
      (all) => new Map(all.map(({ key, value }) => [key, value])),
      (err: unknown) => {
        this.#options.log.warn({ err }, 'manifest cache not readable (files are parsed again)')
        return new Map()
      },
    )
    const entry = (await this.#entries).get(name)
    if (entry === undefined || (stat !== undefined && (entry.mtimeMs !== stat.mtimeMs || entry.size !== stat.size))) return undefined
    return entry.manifests
  }
}
