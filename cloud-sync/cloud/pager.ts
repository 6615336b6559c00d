/**
 * A list in pages, as client-go's pager (k8s.io/client-go/tools/pager) makes it for a reflector:
 * the next page from the previous page's `continue`, the list's resourceVersion from the last
 * page. Unlike client-go's pager it keeps no page: each is handed to `take` object by object and
 * dropped before the next is asked for, so a list of any size holds one page as the server sent
 * it; and its `limit` is not fixed but follows the bytes of the pages received (page-size.ts), so
 * that page is a few MiB whether its objects are small or large. A continue token that expired mid-list (the API server's 410:
 * the list's version was compacted away) is {@link ListExpiredError}; client-go falls back to one
 * list without a limit there, the memory this avoids, so the informer starts a paged list afresh.
 */
import { KubeRequestError, type KubeList, type PageRequest } from './kube-api.js'
import type { PageSizer } from './page-size.js'

/** client-go's default page (tools/pager defaultPageSize). */
export const DEFAULT_PAGE_SIZE = 500

/** The continue token of a page expired: the list must start again from its first page. */
export class ListExpiredError extends KubeRequestError {
  readonly pages: number
  constructor(cause: KubeRequestError, pages: number) {
    super(`continue token expired after ${pages} page(s): ${cause.message}`, 410, { cause })
    this.name = 'ListExpiredError'
    this.pages = pages
  }
}

export interface Paged {
  resourceVersion: string
  pages: number
  /** the response bodies of all pages */
  bytes: number
  /** the largest of them */
  largestPage: number
}

/**
 * Lists with `list` in pages whose `limit` `sizer` sets, handing every object to `take` in the
 * server's order; undefined once `signal` aborts. A failed page rejects (ListExpiredError for a
 * 410 after the first page); what `take` kept of the pages before it is the caller's to drop.
 */
export async function listPages(list: (page: PageRequest) => Promise<KubeList>, sizer: PageSizer, take: (object: unknown) => void, signal: AbortSignal): Promise<Paged | undefined> {
  let token: string | undefined
  let resourceVersion: string
  let limit = sizer.first()
  let pages = 0
  let bytes = 0
  let largestPage = 0
  do {
    const next = await page(list, { limit, ...(token === undefined ? {} : { continue: token }) }, take, signal, pages)
    if (next === undefined) return undefined
    pages++
    bytes += next.bytes
    largestPage = Math.max(largestPage, next.bytes)
    limit = sizer.next(limit, next.objects, next.bytes)
    token = next.continue
    resourceVersion = next.resourceVersion
  } while (token !== undefined && token !== '')
  return { resourceVersion, pages, bytes, largestPage }
}

/** One page into `take`; its own frame, so the page as sent is garbage before the next is asked for. */
async function page(list: (page: PageRequest) => Promise<KubeList>, request: PageRequest, take: (object: unknown) => void, signal: AbortSignal, before: number): Promise<(Omit<KubeList, 'items'> & { objects: number }) | undefined> {
  let answer: KubeList | undefined
  try {
    answer = await unlessAborted(list(request), signal)
  } catch (err) {
    if (request.continue !== undefined && err instanceof KubeRequestError && err.status === 410) throw new ListExpiredError(err, before)
    throw err
  }
  if (answer === undefined) return undefined
  for (const object of answer.items) take(object)
  return { resourceVersion: answer.resourceVersion, ...(answer.continue === undefined ? {} : { continue: answer.continue }), bytes: answer.bytes, objects: answer.items.length }
}

/** `promise`, or undefined as soon as `signal` aborts (stop() must not wait for a hanging list). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined)
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(undefined)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}
