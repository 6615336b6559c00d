/**
 * A real `tern cloud` lists in pages (client-go's pager: `limit`, `continue`), on the API emulator
 * that serves them as kube-apiserver does: with more Secrets than one page of theirs, its start
 * asks page after page, and so does the relist after a watch's 410 Gone (the history compacted
 * while its watch was down). Counted by the emulator's request log; what the cloud took, by its
 * debug log line of each list.
 */
import { strict as assert } from 'node:assert'
import { REFERENCED_PAGE_SIZE } from '../../cloud-sync/cloud/referenced-objects.js'
import { startCloudWorld, until } from '../support/cloud.js'
import { SECRETS } from '../support/kube/registry.js'

const SECRET_COUNT = 2 * REFERENCED_PAGE_SIZE + 50

describe('tern cloud lists in pages (API emulator, real process)', function () {
  this.timeout(180_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it(`${SECRET_COUNT} Secrets in pages of ${REFERENCED_PAGE_SIZE}, at start and in the relist after a 410 on the watch`, async () => {
    const world = await startCloudWorld(undo)
    const kube = world.kube
    assert.ok(kube !== undefined)
    for (let i = 0; i < SECRET_COUNT; i++) kube.api.create(SECRETS, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: `s-${String(i).padStart(4, '0')}`, namespace: 'default' }, data: { k: Buffer.from(`v${i}`).toString('base64') } })
    const total = kube.api.list(SECRETS).items.length
    const pages = Math.ceil(total / REFERENCED_PAGE_SIZE)
    const secretLists = (from: number): string[] => kube.requests.slice(from).filter((r) => r.method === 'GET' && r.url.startsWith('/api/v1/secrets?') && !r.url.includes('watch=')).map((r) => r.url)
    const listed = (output: string): string[] => output.split('\n').filter((l) => l.includes('"msg":"listed"') && l.includes('"resource":"secrets"'))

    const before = kube.requests.length
    await world.restartCloud()
    const lists = secretLists(before)
    assert.equal(lists.length, pages, `one request per page: ${lists.join(' ')}`)
    for (const url of lists) assert.match(url, new RegExp(`[?&]limit=${REFERENCED_PAGE_SIZE}(&|$)`))
    assert.ok(!lists[0]?.includes('continue='), 'the first page has no token')
    for (const url of lists.slice(1)) assert.match(url, /[?&]continue=/)
    assert.ok(kube.requests.slice(before).every((r) => r.status < 400 || !r.url.startsWith('/api/v1/secrets')), 'no page refused')
    const first = listed(world.cloud.output())
    assert.equal(first.length, 1)
    assert.match(first[0] ?? '', new RegExp(`"objects":${total},"pages":${pages}`))

    // Its watch ends, a Secret is written meanwhile and the history compacted: the resumed watch gets 410 and relists.
    const relistFrom = kube.requests.length
    kube.dropWatches()
    kube.api.create(SECRETS, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's-late', namespace: 'default' }, data: {} })
    kube.api.store.compact()
    await until('the relist after 410', () => Promise.resolve(listed(world.cloud.output()).length), (n) => n === 2, 60_000)
    const relist = secretLists(relistFrom)
    assert.equal(relist.length, Math.ceil((total + 1) / REFERENCED_PAGE_SIZE), `paged again: ${relist.join(' ')}`)
    for (const url of relist) assert.match(url, new RegExp(`[?&]limit=${REFERENCED_PAGE_SIZE}(&|$)`))
    assert.match(listed(world.cloud.output())[1] ?? '', new RegExp(`"objects":${total + 1},`))
  })
})
