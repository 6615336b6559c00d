/**
 * Lists in pages on the API emulator, against "Kubernetes API Concepts: Retrieving large results
 * sets in chunks" and ListMeta's documentation (`continue`, `remainingItemCount`): pages of at
 * most `limit` objects, every page at the first page's resourceVersion (objects changed after it
 * do not show), 410 Expired with an inconsistent continue token once that version is compacted
 * away; the real kubectl (which lists in chunks of 500 by default) with a small --chunk-size.
 */
import assert from 'node:assert/strict'
import { CONFIGMAPS } from '../support/kube/core-types.js'
import { NAMESPACES } from '../support/kube/registry.js'
import { call } from '../support/kube/http.js'
import { kubectlFor } from '../support/kube/kubectl.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'
import { scratchDir } from '../support/resources.js'

const ALL = '/api/v1/configmaps'
const IN_A = '/api/v1/namespaces/a/configmaps'

type Obj = { metadata: { name: string; namespace: string; resourceVersion: string }; data?: Record<string, string> }
interface ListBody {
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number }
  items: Obj[]
}

const names = (body: ListBody): string[] => body.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)

describe('Kubernetes API emulator: lists in pages (limit, continue)', function () {
  this.timeout(30_000)
  let kube: KubeEmulator
  const create = (namespace: string, name: string, labels: Record<string, string> = {}): void => {
    kube.api.create(CONFIGMAPS, namespace, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data: { v: '1' } })
  }
  const list = async (path: string): Promise<{ status: number; body: ListBody & { reason?: string; code?: number } }> => {
    const r = await call(kube, 'GET', path)
    return { status: r.status, body: r.body as unknown as ListBody & { reason?: string; code?: number } }
  }

  beforeEach(async () => {
    kube = await startKubeEmulator({ historySize: 20 })
    for (const ns of ['a', 'b']) kube.api.create(NAMESPACES, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    for (const name of ['c1', 'c2', 'c3']) create('a', name, { tier: name === 'c2' ? 'x' : 'y' })
    for (const name of ['c1', 'c2']) create('b', name)
  })
  afterEach(() => kube.stop())

  it('pages of `limit` in key order, one resourceVersion, remainingItemCount, no continue on the last page', async () => {
    const first = await list(`${ALL}?limit=2`)
    assert.equal(first.status, 200)
    assert.deepEqual(names(first.body), ['a/c1', 'a/c2'])
    assert.equal(first.body.metadata.remainingItemCount, 3)
    assert.equal(first.body.metadata.resourceVersion, String(kube.api.store.resourceVersion))
    const token = first.body.metadata.continue ?? ''
    assert.notEqual(token, '')
    const second = await list(`${ALL}?limit=2&continue=${encodeURIComponent(token)}`)
    assert.deepEqual(names(second.body), ['a/c3', 'b/c1'])
    assert.equal(second.body.metadata.remainingItemCount, 1)
    assert.equal(second.body.metadata.resourceVersion, first.body.metadata.resourceVersion)
    const third = await list(`${ALL}?limit=2&continue=${encodeURIComponent(second.body.metadata.continue ?? '')}`)
    assert.deepEqual(names(third.body), ['b/c2'])
    assert.equal(third.body.metadata.continue, undefined, 'the last page has no continue')
    assert.equal(third.body.metadata.remainingItemCount, undefined)
    // a limit that ends exactly at the last object: no continue either
    const exact = await list(`${IN_A}?limit=3`)
    assert.deepEqual(names(exact.body), ['a/c1', 'a/c2', 'a/c3'])
    assert.equal(exact.body.metadata.continue, undefined)
    // no limit (or 0): the whole list, as before
    assert.equal((await list(ALL)).body.items.length, 5)
    assert.equal((await list(`${ALL}?limit=0`)).body.metadata.continue, undefined)
  })

  it('later pages are read at the first page’s resourceVersion: changes after it do not show', async () => {
    const first = await list(`${ALL}?limit=2`)
    const listedAt = first.body.metadata.resourceVersion
    kube.api.patch(CONFIGMAPS, 'a', 'c3', 'application/merge-patch+json', { data: { v: '2' } }, undefined)
    kube.api.delete(CONFIGMAPS, 'b', 'c1', undefined)
    create('b', 'c0')
    create('b', 'c9')
    const rest = await list(`${ALL}?limit=10&continue=${encodeURIComponent(first.body.metadata.continue ?? '')}`)
    assert.deepEqual(names(rest.body), ['a/c3', 'b/c1', 'b/c2'], 'deleted b/c1 still there, b/c0 and b/c9 not yet')
    assert.equal(rest.body.items[0]?.data?.v, '1', 'a/c3 as it was')
    assert.ok(Number(rest.body.items[0]?.metadata.resourceVersion) <= Number(listedAt))
    assert.equal(rest.body.metadata.resourceVersion, listedAt)
    // a new list sees the changes
    assert.deepEqual(names((await list(ALL)).body), ['a/c1', 'a/c2', 'a/c3', 'b/c0', 'b/c2', 'b/c9'])
  })

  it('selectors: `limit` counts matches, no remainingItemCount; a namespace path pages within it', async () => {
    const first = await list(`${ALL}?limit=1&labelSelector=tier%3Dy`)
    assert.deepEqual(names(first.body), ['a/c1'])
    assert.equal(first.body.metadata.remainingItemCount, undefined)
    const second = await list(`${ALL}?limit=1&labelSelector=tier%3Dy&continue=${encodeURIComponent(first.body.metadata.continue ?? '')}`)
    assert.deepEqual(names(second.body), ['a/c3'], 'a/c2 is skipped: it does not match')
    const inA = await list(`${IN_A}?limit=2`)
    assert.deepEqual(names(inA.body), ['a/c1', 'a/c2'])
    assert.equal(inA.body.metadata.remainingItemCount, 1)
    const restOfA = await list(`${IN_A}?limit=2&continue=${encodeURIComponent(inA.body.metadata.continue ?? '')}`)
    assert.deepEqual(names(restOfA.body), ['a/c3'])
    assert.equal(restOfA.body.metadata.continue, undefined)
  })

  it('a token whose resourceVersion was compacted away → 410 Expired with a token that continues from the current state', async () => {
    const first = await list(`${ALL}?limit=2`)
    kube.api.delete(CONFIGMAPS, 'b', 'c2', undefined)
    kube.api.store.compact()
    const expired = await list(`${ALL}?limit=2&continue=${encodeURIComponent(first.body.metadata.continue ?? '')}`)
    assert.equal(expired.status, 410)
    assert.equal(expired.body.reason, 'Expired')
    assert.equal(expired.body.code, 410)
    const inconsistent = expired.body.metadata.continue ?? ''
    assert.notEqual(inconsistent, '')
    const rest = await list(`${ALL}?limit=2&continue=${encodeURIComponent(inconsistent)}`)
    assert.deepEqual(names(rest.body), ['a/c3', 'b/c1'], 'from the current state: b/c2 is gone')
    assert.equal(rest.body.metadata.resourceVersion, String(kube.api.store.resourceVersion))
  })

  it('an invalid token, or a token with a resourceVersion → 400', async () => {
    assert.equal((await list(`${ALL}?limit=2&continue=bm90LWpzb24`)).status, 400)
    assert.equal((await list(`${ALL}?limit=x`)).status, 400)
    const first = await list(`${ALL}?limit=2`)
    assert.equal((await list(`${ALL}?limit=2&resourceVersion=3&continue=${encodeURIComponent(first.body.metadata.continue ?? '')}`)).status, 400)
  })

  it('kubectl get --chunk-size=2 shows every object (Table pages carry continue)', async () => {
    const dir = await scratchDir('tern-kubectl-paging-')
    try {
      const kubectl = await kubectlFor(kube, dir.path)
      const r = await kubectl.run(['get', 'configmaps', '-A', '--chunk-size=2', '--no-headers', '-o', 'custom-columns=NS:.metadata.namespace,NAME:.metadata.name'])
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/, '/')), ['a/c1', 'a/c2', 'a/c3', 'b/c1', 'b/c2'])
      const table = await kubectl.run(['get', 'configmaps', '-A', '--chunk-size=2', '--no-headers'])
      assert.equal(table.code, 0, table.stderr)
      assert.equal(table.stdout.trim().split('\n').length, 5)
      const pages = kube.requests.filter((q) => q.url.startsWith('/api/v1/configmaps?') && q.url.includes('limit=2'))
      assert.equal(pages.length, 6, 'three pages per kubectl get')
    } finally {
      await dir.remove()
    }
  })
})
