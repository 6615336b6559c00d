/**
 * How many objects a list asks for per page (`limit`) so that a page stays near a byte budget,
 * not only under a count. kube-apiserver treats `limit` as an upper bound (a page may bring fewer
 * objects, none when a selector filters them all out) and reads each continue request's `limit`
 * afresh, so every page may ask for another number. A page's size is known only once it is in:
 * the next `limit` is the budget over the bytes per object of the page just received, at once
 * when that is fewer (a page of large objects shrinks the next at once), at most twice the last
 * `limit` when more (objects that were small may be followed by large ones), never below 1 nor
 * above the count the list was given. A list's first page starts from the largest bytes per
 * object of the resource's last list, or, before any, from the largest object Kubernetes stores.
 */

/** Bytes of JSON a page aims at. */
export const PAGE_BYTES = 4 * 1024 * 1024

/**
 * The largest object as JSON: etcd refuses a write past 1.5 MiB (its default --max-request-bytes,
 * which kube-apiserver's stored objects stay under), and a Secret's data is base64 in JSON (4/3).
 */
export const LARGEST_OBJECT_BYTES = 2 * 1024 * 1024

export interface PageSizerOptions {
  /** objects per page at most (the count the list was given) */
  maxObjects: number
  /** bytes of JSON a page aims at; default {@link PAGE_BYTES} */
  budgetBytes?: number
}

/** Page limits for the lists of one resource, one list after the other. */
export class PageSizer {
  readonly #max: number
  readonly #budget: number
  /** the largest bytes per object of a page, of the last list that brought any objects */
  #lastList: number | undefined
  /** the same, of the list under way */
  #thisList = 0

  constructor(options: PageSizerOptions) {
    this.#max = Math.max(1, Math.floor(options.maxObjects))
    this.#budget = options.budgetBytes ?? PAGE_BYTES
  }

  /** `limit` of a list's first page. */
  first(): number {
    if (this.#thisList > 0) this.#lastList = this.#thisList
    this.#thisList = 0
    return this.#fitting(this.#lastList ?? LARGEST_OBJECT_BYTES)
  }

  /** `limit` of the page after one that, asked for `limit` objects, brought `objects` in `bytes`. */
  next(limit: number, objects: number, bytes: number): number {
    if (objects === 0) return limit
    const perObject = bytes / objects
    this.#thisList = Math.max(this.#thisList, perObject)
    const fits = this.#fitting(perObject)
    return fits < limit ? fits : Math.min(fits, 2 * limit)
  }

  #fitting(perObject: number): number {
    return Math.min(this.#max, Math.max(1, Math.floor(this.#budget / perObject)))
  }
}
