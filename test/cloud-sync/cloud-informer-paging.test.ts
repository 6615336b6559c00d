/**
 * The informer lists in pages, as client-go's reflector with its pager (tools/pager: `limit`, the
 * next page from `continue`, the list's resourceVersion from the last page), over a scripted API
 * whose pages the test answers one by one: the cache takes the list only when the last page is
 * in, a failed middle page leaves it as it was and the list starts again after back-off, an
 * expired continue token (410) starts a paged list again at once, a page as sent is garbage before
 * the next is asked for, and the relist after a watch's 410 pages too. ConfigMaps and Secrets
 * (referenced-objects.ts): a reference that comes or goes while a list pages is honoured.
 */
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { pino } from 'pino'
import { Informer } from '../../cloud-sync/cloud/informers.js'
import { LARGEST_OBJECT_BYTES, PAGE_BYTES } from '../../cloud-sync/cloud/page-size.js'
import { isStub, REFERENCED_PAGE_SIZE, ReferencedObjects } from '../../cloud-sync/cloud/referenced-objects.js'
import { KubeRequestError, type KubeList, type PageRequest, type WatchHandlers } from '../../cloud-sync/cloud/kube-api.js'
import type { Device } from '../../schemas/device.js'
import type { ConfigMap } from '../../schemas/workloads.js'
import * as checks from '../../schemas/generated/validators.js'
import { validator } from '../../schemas/validate.js'
import { ManualClock, settle } from '../support/manual-clock.js'

const dev = (name: string, rv: string): object => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name, namespace: 'default', resourceVersion: rv },
  spec: { deviceModelRef: { name: 'fan' }, nodeName: 'edge-1' },
})

/** A Device of about `bytes` bytes of JSON (an annotation that large). */
const bigDev = (name: string, rv: string, bytes: number): object => {
  const d = dev(name, rv) as { metadata: Record<string, unknown> }
  return { ...d, metadata: { ...d.metadata, annotations: { blob: 'x'.repeat(bytes) } } }
}

/** The first page of a resource's first list: sized for the largest object Kubernetes stores. */
const FIRST_LIMIT = Math.floor(PAGE_BYTES / LARGEST_OBJECT_BYTES)

interface Call {
  request: PageRequest | undefined
  resolve: (list: KubeList) => void
  reject: (err: Error) => void
}

/** An API server whose list requests wait for the test; `serve()` answers the oldest as a paging server would, at the snapshot its first page took. */
class PagedApi {
  items: object[] = []
  rv = '10'
  readonly calls: Call[] = []
  readonly watches: Array<{ rv: string; handlers: WatchHandlers }> = []
  /** every page answered: the `limit` asked for, the objects and bytes sent */
  readonly pages: Array<{ limit: number | undefined; objects: number; bytes: number }> = []
  #snapshot: { items: object[]; rv: string } = { items: [], rv: '' }

  list(_r: string, request?: PageRequest): Promise<KubeList> {
    return new Promise((resolve, reject) => this.calls.push({ request, resolve, reject }))
  }

  watch(_r: string, rv: string, handlers: WatchHandlers): Promise<{ stop(): void }> {
    this.watches.push({ rv, handlers })
    return Promise.resolve({ stop: () => handlers.done(new KubeRequestError('aborted', undefined)) })
  }

  /** Answers the oldest waiting request with its page; returns that request. */
  async serve(): Promise<PageRequest | undefined> {
    const call = this.#next()
    if (call.request?.continue === undefined) this.#snapshot = { items: structuredClone(this.items), rv: this.rv }
    const from = Number(call.request?.continue ?? '0')
    const limit = call.request?.limit ?? this.#snapshot.items.length
    const items = this.#snapshot.items.slice(from, from + limit)
    const more = from + limit < this.#snapshot.items.length
    const page = { items, resourceVersion: this.#snapshot.rv, ...(more ? { continue: String(from + limit) } : {}) }
    const bytes = Buffer.byteLength(JSON.stringify(page))
    this.pages.push({ limit: call.request?.limit, objects: items.length, bytes })
    call.resolve({ ...page, bytes })
    await settle()
    return call.request
  }

  /** Answers every request until none waits (the rest of a list). */
  async serveAll(): Promise<void> {
    while (this.calls.length > 0) await this.serve()
  }

  async fail(err: Error): Promise<PageRequest | undefined> {
    const call = this.#next()
    call.reject(err)
    await settle()
    return call.request
  }

  #next(): Call {
    const call = this.calls.shift()
    assert.ok(call !== undefined, 'a list request is waiting')
    return call
  }
}

/** With the GET of one object (by name, in `default`) the referenced-objects informer makes of a newly referenced stub. */
class ReadablePagedApi extends PagedApi {
  reads = 0

  read(_r: string, _namespace: string, name: string): Promise<unknown> {
    this.reads++
    return Promise.resolve(structuredClone(this.items.find((o) => (o as { metadata: { name: string } }).metadata.name === name)))
  }

  deletePod(): Promise<boolean> {
    return Promise.reject(new Error('not used'))
  }
}

describe('cloud informer lists in pages (client-go pager; scripted API, manual clock)', () => {
  let clock: ManualClock
  let api: PagedApi
  let informer: Informer<Device>
  let changes: string[]
  /** Started on `items`, both pages of them served. */
  const listed = async (items: object[]): Promise<void> => {
    api.items = items
    informer.start()
    await settle()
    await api.serve()
    await api.serve()
  }
  const names = (): string[] => informer.list().map((d) => `${d.metadata.name}@${d.metadata.resourceVersion ?? ''}`).sort()

  beforeEach(() => {
    clock = new ManualClock()
    api = new PagedApi()
    changes = []
    informer = new Informer<Device>({ api, resource: 'devices', validate: validator(checks.Device), log: pino({ level: 'silent' }), clock, backoff: { initialMs: 100, maxMs: 1000 }, pageSize: 2 })
    informer.onChange((old, cur) => changes.push(`${old?.metadata.name ?? '-'}@${old?.metadata.resourceVersion ?? ''} -> ${cur?.metadata.name ?? '-'}@${cur?.metadata.resourceVersion ?? ''}`))
  })
  afterEach(() => informer.stop())

  it('asks page after page with limit and continue; the cache takes them when the last page is in; the watch starts from its resourceVersion', async () => {
    api.items = ['a', 'b', 'c', 'd', 'e'].map((n, i) => dev(n, String(i + 1)))
    informer.start()
    await settle()
    assert.deepEqual(await api.serve(), { limit: 2 })
    assert.deepEqual(await api.serve(), { limit: 2, continue: '2' })
    assert.equal(informer.synced, false)
    assert.deepEqual(changes, [], 'nothing cached before the last page')
    assert.deepEqual(await api.serve(), { limit: 2, continue: '4' })
    assert.equal(informer.synced, true)
    assert.deepEqual(names(), ['a@1', 'b@2', 'c@3', 'd@4', 'e@5'])
    assert.equal(changes.length, 5)
    assert.equal(api.watches.at(-1)?.rv, '10')
    assert.equal(informer.lists, 1)
  })

  it('a list that fills its last page exactly ends without another request', async () => {
    api.items = [dev('a', '1'), dev('b', '2')]
    informer.start()
    await settle()
    assert.deepEqual(await api.serve(), { limit: 2 })
    assert.equal(api.calls.length, 0)
    assert.equal(informer.synced, true)
    assert.equal(api.watches.length, 1)
  })

  it('objects changed between pages come from the watch: it starts at the version of the list, not of the last change', async () => {
    api.items = [dev('a', '1'), dev('b', '2'), dev('c', '3')]
    informer.start()
    await settle()
    await api.serve()
    // changed on the server meanwhile: the later page is still the snapshot's
    api.items = [dev('a', '11'), dev('c', '12')]
    api.rv = '12'
    await api.serve()
    assert.deepEqual(names(), ['a@1', 'b@2', 'c@3'])
    const watch = api.watches.at(-1)
    assert.equal(watch?.rv, '10')
    watch?.handlers.event({ type: 'MODIFIED', object: dev('a', '11') })
    watch?.handlers.event({ type: 'DELETED', object: dev('b', '11') })
    watch?.handlers.event({ type: 'MODIFIED', object: dev('c', '12') })
    assert.deepEqual(names(), ['a@11', 'c@12'])
  })

  it('a failed middle page leaves the cache as it was; the list starts again from its first page after back-off, and handlers see only the differences', async () => {
    await listed([dev('a', '1'), dev('b', '2'), dev('c', '3')])
    assert.deepEqual(names(), ['a@1', 'b@2', 'c@3'])
    changes.length = 0
    // an ERROR event relists; the server has changed
    api.items = [dev('a', '1'), dev('b', '20'), dev('d', '21')]
    api.rv = '21'
    api.watches.at(-1)?.handlers.event({ type: 'ERROR', status: { code: 500, message: 'internal error' } })
    await clock.advance(100)
    assert.deepEqual(await api.serve(), { limit: 2 })
    assert.deepEqual(await api.fail(new KubeRequestError('socket hang up', undefined)), { limit: 2, continue: '2' })
    assert.deepEqual(names(), ['a@1', 'b@2', 'c@3'], 'the old cache, whole')
    assert.deepEqual(changes, [])
    assert.equal(api.calls.length, 0, 'waits before listing again')
    await clock.advance(200)
    assert.deepEqual(await api.serve(), { limit: 2 }, 'from the first page again')
    assert.deepEqual(await api.serve(), { limit: 2, continue: '2' })
    assert.deepEqual(names(), ['a@1', 'b@20', 'd@21'])
    assert.deepEqual(changes, ['b@2 -> b@20', '-@ -> d@21', 'c@3 -> -@'])
    assert.equal(api.watches.at(-1)?.rv, '21')
  })

  it('an expired continue token (410 mid-list) starts a paged list again at once; a second one in a row waits for back-off', async () => {
    api.items = [dev('a', '1'), dev('b', '2'), dev('c', '3')]
    informer.start()
    await settle()
    await api.serve()
    const expired = new KubeRequestError('The provided continue parameter is too old to display a consistent list result.', 410)
    assert.deepEqual(await api.fail(expired), { limit: 2, continue: '2' })
    assert.equal(api.calls.length, 1, 'asked again without waiting')
    assert.deepEqual(clock.requested, [])
    assert.deepEqual(await api.serve(), { limit: 2 }, 'a new paged list, not one without a limit')
    await api.fail(expired)
    assert.equal(api.calls.length, 0)
    assert.equal(informer.synced, false)
    await clock.advance(100)
    assert.deepEqual(clock.requested, [100])
    await api.serve()
    await api.serve()
    assert.equal(informer.synced, true)
    assert.deepEqual(names(), ['a@1', 'b@2', 'c@3'])
  })

  it('the relist after a 410 on the watch pages too', async () => {
    await listed([dev('a', '1'), dev('b', '2'), dev('c', '3')])
    api.items = [dev('a', '1'), dev('c', '3'), dev('d', '29')]
    api.rv = '30'
    api.watches.at(-1)?.handlers.event({ type: 'ERROR', status: { code: 410, reason: 'Expired', message: 'too old resource version' } })
    await settle()
    assert.deepEqual(await api.serve(), { limit: 2 })
    assert.deepEqual(await api.serve(), { limit: 2, continue: '2' })
    assert.equal(informer.lists, 2)
    assert.deepEqual(names(), ['a@1', 'c@3', 'd@29'])
    assert.equal(api.watches.at(-1)?.rv, '30')
  })

  describe('pages sized by bytes: the next page’s limit follows the bytes of the last (kube-apiserver reads limit afresh on every continue request)', () => {
    const MiB = 1024 * 1024
    let sized: Informer<Device>
    /** 10 Devices of 1 MiB, then 40 small ones; `limit` at most 16 */
    beforeEach(() => {
      api.items = [...Array.from({ length: 10 }, (_, i) => bigDev(`big-${i}`, String(i + 1), MiB)), ...Array.from({ length: 40 }, (_, i) => dev(`small-${String(i).padStart(2, '0')}`, String(i + 11)))]
      sized = new Informer<Device>({ api, resource: 'devices', validate: validator(checks.Device), log: pino({ level: 'silent' }), clock, backoff: { initialMs: 100, maxMs: 1000 }, pageSize: 16 })
      sized.onChange((old, cur) => changes.push(`${old?.metadata.name ?? '-'} -> ${cur?.metadata.name ?? '-'}`))
    })
    afterEach(() => sized.stop())
    const cachedOnce = (): void => {
      assert.equal(sized.list().length, 50)
      assert.equal(changes.length, 50, 'each object taken once')
      assert.equal(new Set(changes).size, 50)
    }

    it('large objects: pages of as many as fit 4 MiB, small ones after them: the limit doubles back up to the count; every object once', async () => {
      sized.start()
      await settle()
      await api.serveAll()
      assert.equal(sized.synced, true)
      // 2 as the largest objects allow; 3 of 1 MiB fit; 2 large and one small: 5 fit, 5 after 3 (at most doubled); then doubling to 16
      assert.deepEqual(api.pages.map((p) => p.limit), [2, 3, 3, 3, 5, 10, 16, 16])
      for (const page of api.pages) assert.ok(page.bytes <= PAGE_BYTES, `a page of ${page.bytes} bytes`)
      cachedOnce()
    })

    it('a 410 on the continue token mid-list starts again at once, from the size learnt so far; the relist after a watch 410 too', async () => {
      sized.start()
      await settle()
      await api.serve()
      await api.serve()
      const expired = new KubeRequestError('The provided continue parameter is too old to display a consistent list result.', 410)
      assert.deepEqual(await api.fail(expired), { limit: 3, continue: '5' })
      assert.equal(api.calls.length, 1, 'asked again without waiting')
      assert.deepEqual(await api.serve(), { limit: 3 }, 'a new list, its first page as large as the objects seen allow')
      await api.serveAll()
      assert.equal(sized.synced, true)
      cachedOnce()
      assert.deepEqual(api.pages.slice(2).map((p) => p.limit), [3, 3, 3, 3, 6, 12, 16, 16])

      api.pages.length = 0
      api.rv = '60'
      api.watches.at(-1)?.handlers.event({ type: 'ERROR', status: { code: 410, reason: 'Expired', message: 'too old resource version' } })
      await settle()
      await api.serveAll()
      assert.equal(sized.lists, 2)
      assert.deepEqual(api.pages.map((p) => p.limit), [3, 3, 3, 3, 6, 12, 16, 16], 'starts from the largest objects of the last list, not from its last page')
      assert.equal(sized.list().length, 50)
    })
  })

  it('holds one page as sent at most: a page’s objects are garbage before the next page is asked for', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const collect = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setImmediate(resolve))
        gc()
      }
    }
    api.items = [dev('a', '1'), dev('b', '2'), dev('c', '3')]
    const transformed = new Informer<Device, 'devices', { metadata: Device['metadata'] }>({ api, resource: 'devices', validate: validator(checks.Device), transform: (d) => ({ metadata: { ...d.metadata } }), log: pino({ level: 'silent' }), clock, pageSize: 2 })
    transformed.start()
    await settle()
    // the first page, answered from a frame of its own: nothing of it stays reachable from the test
    const answer = (): WeakRef<object> => {
      const call = api.calls.shift()
      assert.ok(call !== undefined)
      const items = structuredClone(api.items.slice(0, 2))
      call.resolve({ items, resourceVersion: '10', continue: '2', bytes: JSON.stringify(items).length })
      return new WeakRef(items[0] as object)
    }
    const first = answer()
    await settle()
    assert.equal(api.calls.length, 1, 'the second page is asked for')
    await collect()
    assert.equal(first.deref(), undefined, 'the first page’s objects are not reachable while the second is fetched')
    await api.serve()
    assert.equal(transformed.get('default', 'a')?.metadata.resourceVersion, '1')
    await transformed.stop()
  })
})

describe('ConfigMaps and Secrets held whole only while referenced, listed in pages (scripted API, manual clock)', () => {
  const configMap = (name: string): object => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', resourceVersion: '5', uid: `uid-${name}` }, data: { key: name } })
  let clock: ManualClock
  let api: ReadablePagedApi
  let used: Set<string>
  let maps: ReferencedObjects<ConfigMap>

  beforeEach(async () => {
    clock = new ManualClock()
    api = new ReadablePagedApi()
    // the first two objects come on the first page (sized for objects of any size), the others on later ones
    api.items = Array.from({ length: REFERENCED_PAGE_SIZE + 1 }, (_, i) => configMap(`cm-${String(i).padStart(3, '0')}`))
    used = new Set(['cm-001'])
    maps = new ReferencedObjects<ConfigMap>({ api, resource: 'configmaps', validate: validator(checks.ConfigMap), inUse: (_ns, name) => used.has(name), log: pino({ level: 'silent' }), clock, backoff: { initialMs: 100, maxMs: 1000 } })
    maps.start()
    await settle()
    assert.deepEqual(await api.serve(), { limit: FIRST_LIMIT })
  })
  afterEach(() => maps.stop())

  it('a reference that appears between pages: the object, a stub when its page came, is read once the list is cached', async () => {
    used.add('cm-000')
    maps.use('default', 'cm-000') // as the workload informer does; nothing is cached yet
    assert.equal(api.reads, 0)
    await api.serveAll()
    assert.equal(maps.informer.synced, true)
    await settle()
    assert.equal(api.reads, 1, 'read once the stub is in the cache')
    assert.deepEqual(maps.get('default', 'cm-000')?.data, { key: 'cm-000' })
    assert.equal(maps.pending('default', 'cm-000'), false)
    assert.equal(isStub(maps.informer.get('default', 'cm-002')), true, 'the others stay stubs')
  })

  it('a reference that goes between pages: the object, whole when its page came, is cached as a stub', async () => {
    used.delete('cm-001')
    maps.release('default', 'cm-001') // as the workload informer does
    await api.serveAll()
    assert.equal(maps.informer.synced, true)
    assert.equal(isStub(maps.informer.get('default', 'cm-001')), true, 'its data is not kept')
    assert.equal(api.reads, 0)
  })
})
