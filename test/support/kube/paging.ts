/**
 * Lists in pages (`limit` and `continue`), as kube-apiserver serves them from etcd
 * (k8s.io/apiserver storage/etcd3 GetList): objects in key order, at most `limit` of those the
 * selectors match per page; `metadata.continue` names the list's resourceVersion and the key to
 * start after, and every page is read at that resourceVersion (a consistent snapshot: what changed
 * after the first page does not show); `remainingItemCount` when no selector is given. A token
 * whose version was compacted away gets 410 Expired with a token that continues from the current
 * state (resourceVersion -1, an inconsistent list), as the real server answers.
 */
import { ApiError, badRequest } from './status.js'
import type { KubeObject, Store } from './store.js'

export interface Page {
  items: KubeObject[]
  resourceVersion: string
  continue?: string
  remainingItemCount?: number
}

export interface PageRequest {
  /** `limit` as given (absent or 0: the whole list) */
  limit: string | null
  continue: string | null
  resourceVersion: string | null
  /** whether a label or field selector was given (no remainingItemCount then) */
  selected: boolean
}

interface Token {
  rv: number
  /** the key to start at (the last key served, with a NUL appended, as etcd3's encodeContinue) */
  start: string
}

/** A page of `typeId` in `namespace` (all when undefined) of the objects `matches` accepts; copies of them. */
export function listPage(store: Store, typeId: string, namespace: string | undefined, matches: (o: KubeObject) => boolean, request: PageRequest): Page {
  if (request.limit !== null && !/^\d+$/.test(request.limit)) throw badRequest(`invalid limit: ${request.limit}`)
  const limit = Number(request.limit ?? '0')
  const token = request.continue === null || request.continue === '' ? undefined : decode(request.continue)
  if (token !== undefined && request.resourceVersion !== null && request.resourceVersion !== '' && request.resourceVersion !== '0')
    throw badRequest('specifying resource version is not allowed when using continue')
  const rv = token === undefined || token.rv === -1 ? store.resourceVersion : token.rv
  const snapshot = store.at(typeId, rv)
  if (snapshot === undefined) throw expired(encode({ rv: -1, start: token?.start ?? '' }))
  const keys = [...snapshot.keys()].filter((k) => k >= (token?.start ?? '') && (namespace === undefined || k.startsWith(`${namespace}/`))).sort()
  const items: KubeObject[] = []
  // The selectors filter what is read: a page has up to `limit` matches and ends at the last key read.
  let last = -1
  while (last + 1 < keys.length && (limit === 0 || items.length < limit)) {
    last++
    const object = snapshot.get(keys[last] as string) as KubeObject
    if (matches(object)) items.push(structuredClone(object))
  }
  const page: Page = { items, resourceVersion: String(rv) }
  const rest = keys.length - last - 1
  if (limit > 0 && rest > 0) {
    page.continue = encode({ rv, start: `${keys[last] as string}\u0000` })
    if (!request.selected) page.remainingItemCount = rest
  }
  return page
}

function encode(token: Token): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: token.rv, start: token.start })).toString('base64')
}

function decode(text: string): Token {
  let token: { v?: unknown; rv?: unknown; start?: unknown }
  try {
    token = JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as typeof token
  } catch {
    throw badRequest('invalid continue token: not base64-encoded JSON')
  }
  if (token.v !== 'meta.k8s.io/v1' || typeof token.rv !== 'number' || !Number.isInteger(token.rv) || typeof token.start !== 'string' || token.start === '')
    throw badRequest('invalid continue token: continue key is not valid')
  return { rv: token.rv, start: token.start }
}

function expired(next: string): ApiError {
  const error = new ApiError(
    410,
    'Expired',
    'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
  )
  error.status.metadata = { continue: next }
  return error
}
