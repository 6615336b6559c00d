/**
 * Static pods: one v1 Pod per file (YAML or JSON) in `edged.podManifestsDir`, run with no cloud.
 * The directory is watched, and re-read every 20 s as the kubelet does (fileCheckFrequency), which
 * also picks the directory up when it appears later. A file that fails to parse or validate keeps
 * its last good pod (an editor's half-saved file never stops a pod); the problem is logged with the
 * file and field. Dot-files are ignored, as editors' swap files are.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { parse } from 'yaml'
import { TernError } from '../../schemas/tern-error.js'
import type { Pod } from '../../schemas/pod.js'
import { WatchedDir } from '../../twin/watched-dir.js'
import type { PodSource, PodValidator } from './source.js'
import { staticPod } from './static-pod.js'

const MANIFEST_FILE = /^[^.].*\.(ya?ml|json)$/
const DEBOUNCE_MS = 100
const RESCAN_MS = 20_000

export interface StaticPodDirOptions {
  dir: string
  nodeName: string
  validate: PodValidator
  log: Logger
}

export class StaticPodDir implements PodSource {
  readonly name = 'file'
  readonly #options: StaticPodDirOptions
  readonly #watched: WatchedDir
  /** file name → its last good pod */
  readonly #good = new Map<string, Pod>()
  /** file name → the text last refused, so a broken file is logged once, not at every rescan */
  readonly #refused = new Map<string, string>()
  #onChange: (pods: Pod[]) => void = () => {}
  #last = ''

  constructor(options: StaticPodDirOptions) {
    this.#options = options
    this.#watched = new WatchedDir({
      dir: options.dir,
      debounceMs: DEBOUNCE_MS,
      rescanMs: RESCAN_MS,
      reload: async () => {
        const pods = await this.#reload()
        const key = pods.map((p) => p.metadata.uid).join(',')
        if (key === this.#last) return
        this.#last = key
        this.#onChange(pods)
      },
      failure: 'reading the static pod directory failed',
      log: options.log,
    })
  }

  async start(onChange: (pods: Pod[]) => void): Promise<Pod[]> {
    this.#onChange = onChange
    const pods = await this.#reload()
    this.#last = pods.map((p) => p.metadata.uid).join(',')
    this.#watched.start()
    return pods
  }

  async stop(): Promise<void> {
    await this.#watched.stop()
  }

  /** The directory's pods, in file name order; a second pod of the same name is refused. */
  async #reload(): Promise<Pod[]> {
    const { dir, log } = this.#options
    let names: string[]
    try {
      names = (await readdir(dir)).filter((n) => MANIFEST_FILE.test(n)).sort()
    } catch (err) {
      // Absent or unreadable: no static pods until it can be read (the kubelet logs and keeps looking).
      if (!this.#refused.has('')) log.warn({ code: 'EDGED_POD_INVALID', dir, err }, 'the static pod directory cannot be read')
      this.#refused.set('', 'unreadable')
      this.#good.clear()
      this.#watched.unwatch()
      return []
    }
    this.#refused.delete('')
    for (const gone of [...this.#good.keys()].filter((n) => !names.includes(n))) this.#good.delete(gone)
    for (const name of names) {
      let text: string
      try {
        text = await readFile(join(dir, name), 'utf8')
      } catch {
        continue // removed since readdir: the watch event that follows reloads
      }
      if (this.#refused.get(name) === text) continue
      try {
        const pod = staticPod(this.#options.validate(parseManifest(name, text), `${name}`), this.#options.nodeName, this.name)
        this.#good.set(name, pod)
        this.#refused.delete(name)
      } catch (err) {
        this.#refused.set(name, text)
        const code = err instanceof TernError ? err.code : 'EDGED_POD_INVALID'
        const kept = this.#good.has(name) ? 'its last good pod keeps running' : 'no pod is run from it'
        log.error({ code, file: join(dir, name) }, `static pod manifest ${name} refused (${kept}): ${(err as Error).message}`)
      }
    }
    const seen = new Map<string, string>()
    const pods: Pod[] = []
    for (const [file, pod] of this.#good) {
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`
      const first = seen.get(key)
      if (first !== undefined) {
        log.error({ code: 'EDGED_POD_INVALID', file: join(dir, file) }, `static pod ${key} is also defined in ${first}: ${file} is ignored`)
        continue
      }
      seen.set(key, file)
      pods.push(pod)
    }
    return pods
  }
}

/** One document: JSON or YAML (YAML is a superset). A file of several documents is refused. */
function parseManifest(name: string, text: string): unknown {
  try {
    return parse(text)
  } catch (err) {
    throw new TernError('EDGED_POD_INVALID', `${name}: not a YAML or JSON document: ${(err as Error).message.split('\n')[0]}`)
  }
}
