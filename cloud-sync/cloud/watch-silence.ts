/**
 * Noticing a watch whose connection went silent (a NAT or load-balancer entry gone) while other
 * connections to the API server work, from the bookmarks the server sends on it. kube-apiserver
 * sends a BOOKMARK on every watch that asked for them (`allowWatchBookmarks`, which tern's watches
 * always do) about once a minute (the watch cache's `defaultBookmarkFrequency`, in 1 s buckets,
 * one more 2 s before the watch's deadline), but only once the resource's cache has seen a change
 * since the API server started, and never on a server or resource without a watch cache. So a
 * watch that carries bookmarks and has had neither an event nor a bookmark for much longer than
 * that is on a dead connection: it is ended and resumed from its last resourceVersion. A watch
 * that has shown no bookmark is left to its deadline (server timeout + 30 s), so quiet watches of
 * a server that sends none are not restarted every few minutes.
 */
import type * as k8s from '@kubernetes/client-node'

/**
 * How long a watch that carries bookmarks may go without any line (event or bookmark) before it
 * is taken as dead: 2.5 times kube-apiserver's bookmark interval (60 s). One bookmark can go
 * missing without a restart (the server drops it when the watcher's buffer is full, and its
 * 1 s buckets and timer jitter add up to 2 s); two in a row cannot. `kube.watchSilenceMs` sets it.
 */
export const WATCH_SILENCE_MS = 150_000

/** What the watches of one KubeConfig share: the silence limit, and which watches' last run carried bookmarks. */
interface SilenceSettings {
  silenceMs: number
  /** watch keys (path and query) whose last watch carried bookmarks: the next one is watched from its start */
  bookmarked: Set<string>
}

const settings = new WeakMap<k8s.KubeConfig, SilenceSettings>()

/** Sets the silence limit of every watch made from `kc` (loadKubeConfig does). */
export function setWatchSilence(kc: k8s.KubeConfig, silenceMs: number): void {
  settingsOf(kc).silenceMs = silenceMs
}

function settingsOf(kc: k8s.KubeConfig): SilenceSettings {
  let found = settings.get(kc)
  if (found === undefined) {
    found = { silenceMs: WATCH_SILENCE_MS, bookmarked: new Set() }
    settings.set(kc, found)
  }
  return found
}

/**
 * The silence timer of one watch: armed by its first bookmark, or from its start when the last
 * watch of the same key carried bookmarks (the first bookmark of a watch comes a minute after it
 * starts; a connection may die before that); every line re-arms it. When it fires, `end` is
 * called once. A watch armed from the start that ends silent without a bookmark tells the next
 * one to wait for a bookmark again (the server stopped sending them, as one restarted does until
 * its resource changes): at most one needless restart.
 */
export class WatchSilence {
  readonly #s: SilenceSettings
  readonly #key: string
  readonly #end: () => void
  #timer: NodeJS.Timeout | undefined
  #bookmarks = 0
  #silent = false

  constructor(kc: k8s.KubeConfig, key: string, end: () => void) {
    this.#s = settingsOf(kc)
    this.#key = key
    this.#end = end
    if (this.#s.bookmarked.has(key)) this.#arm()
  }

  /** Whether the watch was ended for silence. */
  get silent(): boolean {
    return this.#silent
  }

  get silenceMs(): number {
    return this.#s.silenceMs
  }

  /** A line of the watch arrived (`type` as sent). */
  line(type: string): void {
    if (type === 'BOOKMARK' && this.#bookmarks++ === 0) {
      this.#s.bookmarked.add(this.#key)
      if (this.#timer === undefined) this.#arm()
    }
    this.#timer?.refresh()
  }

  /** The watch ended (for any reason): no timer is left behind. */
  stop(): void {
    clearTimeout(this.#timer)
  }

  #arm(): void {
    this.#timer = setTimeout(() => {
      this.#silent = true
      if (this.#bookmarks === 0) this.#s.bookmarked.delete(this.#key)
      this.#end()
    }, this.#s.silenceMs).unref()
  }
}
