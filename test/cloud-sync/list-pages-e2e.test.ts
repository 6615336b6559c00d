/**
 * A real `tern cloud` lists in pages (client-go's pager: `limit`, `continue`), on the API emulator
 * that serves them as kube-apiserver does: with more Secrets than one page of theirs, its start
 * asks page after page, and so does the relist after a watch's 410 Gone (the history compacted
 * while its watch was down). A page's `limit` follows the bytes of the pages before it
 * (page-size.ts): small Secrets let it double up to the count, 1 MiB ones keep every page within
 * the byte budget, and a relist starts from what the last list learnt. Counted by the emulator's
 * request log (limits, bytes sent); what the cloud took, by its debug log line of each list.
 */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { LARGEST_OBJECT_BYTES, PAGE_BYTES } from '../../cloud-sync/cloud/page-size.js'
import { REFERENCED_PAGE_SIZE } from '../../cloud-sync/cloud/referenced-objects.js'
import { startCloudWorld, until, type CloudWorld } from '../support/cloud.js'
import { SECRETS } from '../support/kube/registry.js'
import type { RequestRecord } from '../support/kube/server.js'

const SECRET_COUNT = 2 * REFERENCED_PAGE_SIZE + 50
const FIRST_LIMIT = Math.floor(PAGE_BYTES / LARGEST_OBJECT_BYTES)

/** The Secrets list requests (no watches) logged from `from` on. */
const secretLists = (world: CloudWorld, from: number): RequestRecord[] => (world.kube?.requests ?? []).slice(from).filter((r) => r.method === 'GET' && r.url.startsWith('/api/v1/secrets?') && !r.url.includes('watch='))
const limitOf = (r: RequestRecord): number => Number(new URL(r.url, 'http://x').searchParams.get('limit'))
/** tern cloud's debug lines of its Secrets lists, parsed. */
const listed = (world: CloudWorld): Array<{ objects: number; pages: number; bytes: number; largestPage: number }> =>
  world.cloud
    .output()
    .split('\n')
    .filter((l) => l.includes('"msg":"listed"') && l.includes('"resource":"secrets"'))
    .map((l) => JSON.parse(l) as { objects: number; pages: number; bytes: number; largestPage: number })

describe('tern cloud lists in pages (API emulator, real process)', function () {
  this.timeout(180_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  /** Its watch ends, a Secret is written meanwhile and the history compacted: the resumed watch gets 410 and relists. */
  const relistAfterGone = async (world: CloudWorld): Promise<RequestRecord[]> => {
    const kube = world.kube
    assert.ok(kube !== undefined)
    const from = kube.requests.length
    const lists = listed(world).length
    kube.dropWatches()
    kube.api.create(SECRETS, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's-late', namespace: 'default' }, data: {} })
    kube.api.store.compact()
    await until('the relist after 410', () => Promise.resolve(listed(world).length), (n) => n === lists + 1, 60_000)
    return secretLists(world, from)
  }

  it(`${SECRET_COUNT} small Secrets: pages from ${FIRST_LIMIT} doubling up to ${REFERENCED_PAGE_SIZE} at start, the relist after a 410 on the watch in pages of ${REFERENCED_PAGE_SIZE} from its first`, async () => {
    const world = await startCloudWorld(undo)
    const kube = world.kube
    assert.ok(kube !== undefined)
    for (let i = 0; i < SECRET_COUNT; i++) kube.api.create(SECRETS, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: `s-${String(i).padStart(4, '0')}`, namespace: 'default' }, data: { k: Buffer.from(`v${i}`).toString('base64') } })
    const total = kube.api.list(SECRETS).items.length
    const doubling: number[] = []
    for (let covered = 0, limit = FIRST_LIMIT; covered < total; covered += limit, limit = Math.min(REFERENCED_PAGE_SIZE, 2 * limit)) doubling.push(limit)

    const before = kube.requests.length
    await world.restartCloud()
    const lists = secretLists(world, before)
    assert.deepEqual(lists.map(limitOf), doubling, 'one request per page')
    assert.ok(!lists[0]?.url.includes('continue='), 'the first page has no token')
    for (const r of lists.slice(1)) assert.match(r.url, /[?&]continue=/)
    assert.ok(kube.requests.slice(before).every((r) => r.status < 400 || !r.url.startsWith('/api/v1/secrets')), 'no page refused')
    const first = listed(world)
    assert.equal(first.length, 1)
    assert.deepEqual(first[0], { ...first[0], objects: total, pages: doubling.length, bytes: lists.reduce((sum, r) => sum + (r.bytes ?? 0), 0) })

    const relist = await relistAfterGone(world)
    assert.deepEqual(
      relist.map(limitOf),
      Array.from({ length: Math.ceil((total + 1) / REFERENCED_PAGE_SIZE) }, () => REFERENCED_PAGE_SIZE),
      'small objects last time: full pages from the first',
    )
    assert.equal(listed(world)[1]?.objects, total + 1)
  })

  it('Secrets of 1 MiB: every page within the byte budget, at start and in the relist after a 410 on the watch; every Secret listed once', async () => {
    const world = await startCloudWorld(undo)
    const kube = world.kube
    assert.ok(kube !== undefined)
    for (let i = 0; i < 24; i++) kube.api.create(SECRETS, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: `big-${String(i).padStart(2, '0')}`, namespace: 'default' }, data: { release: randomBytes(1024 * 1024).toString('base64') } })
    const total = kube.api.list(SECRETS).items.length

    const before = kube.requests.length
    await world.restartCloud()
    const lists = secretLists(world, before)
    assert.equal(limitOf(lists[0] as RequestRecord), FIRST_LIMIT)
    for (const r of lists) assert.ok((r.bytes ?? Infinity) <= PAGE_BYTES, `a page of ${r.bytes} bytes asked with limit ${limitOf(r)}`)
    const first = listed(world)[0]
    assert.ok(first !== undefined)
    assert.equal(first.objects, total)
    assert.equal(first.bytes, lists.reduce((sum, r) => sum + (r.bytes ?? 0), 0), 'the bytes of the pages as the emulator sent them')
    assert.ok(first.bytes > 24 * 1024 * 1024)

    const relist = await relistAfterGone(world)
    assert.ok(limitOf(relist[0] as RequestRecord) <= FIRST_LIMIT, 'starts from the large Secrets of the last list')
    for (const r of relist) assert.ok((r.bytes ?? Infinity) <= PAGE_BYTES, `a page of ${r.bytes} bytes asked with limit ${limitOf(r)}`)
    assert.equal(listed(world)[1]?.objects, total + 1)
  })
})
