/**
 * A node whose pods use more ConfigMap and Secret data than one frame of the link carries (16 MiB):
 * twelve ConfigMaps of 1.4 MiB each (the API server takes up to ~1.5 MiB per object) used by one
 * pod; and a node whose pods themselves are more: twelve of ~1.9 MiB. Real `tern cloud` on the API
 * emulator and a real `tern edge` (no edged: the objects are stored all the same), which gets them
 * in the resync of its connect.
 */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Level } from 'level'
import { pino } from 'pino'
import { WorkloadSync } from '../../cloud-sync/edge/workload-sync.js'
import { startCloudEdge, startCloudWorld, until, type CloudWorld } from '../support/cloud.js'
import { CONFIGMAPS, PODS as PODS_TYPE } from '../support/kube/core-types.js'
import { sample, scrape } from '../support/metrics.js'
import { scratchDir } from '../support/resources.js'

const NODE = 'edge-large'
const MAPS = 12
const MAP_BYTES = 1.4 * 1024 * 1024
const PODS = 12
/**
 * The link's default keepalive (KubeEdge's 15 s heartbeat, 30 s timeout), not the other tests'
 * 2-3 s: 17-23 MiB of objects take the cloud and the edge more than that on a loaded machine.
 */
const LARGE_KEEPALIVE = { keepaliveTimeoutMs: 30_000 }

describe('cloud sync: ConfigMaps and Secrets past one frame (API emulator, real processes)', function () {
  this.timeout(240_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it(`${MAPS} ConfigMaps of 1.4 MiB used by the node's pods reach it on every connect, the link staying up`, async () => {
    const world: CloudWorld = await startCloudWorld(undo, { hub: LARGE_KEEPALIVE })
    const api = world.kube?.api
    assert.ok(api !== undefined)
    const url = `wss://127.0.0.1:${world.cloud.hubPort}`
    const edgeDir = await scratchDir()
    undo.push(() => edgeDir.remove())
    const edgeOptions = { dir: edgeDir.path, cloud: { heartbeatMs: 15_000, ...LARGE_KEEPALIVE } }
    let edge = await startCloudEdge(world, NODE, url, edgeOptions)
    for (let i = 0; i < MAPS; i++) api.create(CONFIGMAPS, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `big-${i}`, namespace: 'default' }, data: { blob: randomBytes(MAP_BYTES * 0.75).toString('base64') } })
    const volumes = Array.from({ length: MAPS }, (_, i) => ({ name: `v${i}`, configMap: { name: `big-${i}` } }))
    api.create(PODS_TYPE, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: 'default' }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'busybox:1' }], volumes } })
    const messages = async (kind: string): Promise<number> => sample(await scrape(world.cloud.httpPort), 'tern_cloud_workload_messages_total', { kind }) ?? 0
    // one by one, each object fits a frame
    await until('the pod and its ConfigMaps sent as updates', () => messages('update'), (n) => n >= MAPS + 1, 60_000)

    await edge.stop()
    const resyncsBefore = await messages('resync')
    edge = await startCloudEdge(world, NODE, url, edgeOptions)
    await until('the resync on connect answered', () => messages('resync'), (n) => n > resyncsBefore, 60_000)
    // the session stays: no more resyncs (each reconnect of the edge brings one), and a new pod arrives
    await new Promise((r) => setTimeout(r, 5_000))
    const settled = await messages('resync')
    api.create(PODS_TYPE, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'later', namespace: 'default' }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'busybox:1' }] } })
    await until('the new pod sent and answered', () => messages('update'), (n) => n >= MAPS + 2, 30_000)
    await new Promise((r) => setTimeout(r, 3_000))
    assert.equal(await messages('resync'), settled, 'no reconnects after the resync')
    assert.equal(await messages('refused'), 0)
    assert.ok(!edge.output().includes('1009'), 'the edge closed no session for a frame too big')
  })
})

describe('cloud sync: pods past one frame (API emulator, real processes)', function () {
  this.timeout(300_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it(`${PODS} pods of ~1.9 MiB bound to one node all reach its store in the resync of its connect, the link staying up`, async () => {
    const world: CloudWorld = await startCloudWorld(undo, { hub: LARGE_KEEPALIVE })
    const api = world.kube?.api
    assert.ok(api !== undefined)
    for (let i = 0; i < PODS; i++) api.create(PODS_TYPE, 'default', bigPod(`big-${i}`, NODE))
    // a tern cloud that lists them all at its start: one that watched them arrive may still be
    // taking in the last when the edge connects, and send those as updates after the resync
    await world.restartCloud()
    const url = `wss://127.0.0.1:${world.cloud.hubPort}`
    const edgeDir = await scratchDir()
    undo.push(() => edgeDir.remove())
    const edge = await startCloudEdge(world, NODE, url, { dir: edgeDir.path, cloud: { heartbeatMs: 15_000, ...LARGE_KEEPALIVE, resendMs: 5000 } })
    const applied = await edge.waitForLine((l) => l.includes('workload resync applied'), 40_000)
    assert.match(applied, new RegExp(`"objects":${PODS},`))
    // the node is served on: a delete reaches it
    api.delete(PODS_TYPE, 'default', 'big-3', {}, { gracePeriodSeconds: 0 })
    const messages = async (kind: string): Promise<number> => sample(await scrape(world.cloud.httpPort), 'tern_cloud_workload_messages_total', { kind }) ?? 0
    await until('the delete sent and answered', () => messages('delete'), (n) => n >= 1, 30_000)
    await new Promise((r) => setTimeout(r, 2_000))
    assert.equal(await messages('refused'), 0)
    assert.ok(!edge.output().includes('1009'), 'the edge closed no session for a frame too big')
    await edge.stop()

    const db = new Level<string, unknown>(join(edgeDir.path, 'data', 'db'), { valueEncoding: 'json' })
    undo.push(() => db.close())
    const store = new WorkloadSync({ db, nodeName: NODE, fsync: false, log: pino({ level: 'silent' }) })
    await store.start()
    const names = store.pods().map((p) => p.metadata.name).sort()
    assert.deepEqual(names, Array.from({ length: PODS }, (_, i) => `big-${i}`).filter((n) => n !== 'big-3').sort())
    for (const pod of store.pods()) assert.ok(Buffer.byteLength(JSON.stringify(pod)) > 1.85 * 1024 * 1024, 'each pod whole')
  })
})

/** A pod bound to `node` of about 1.9 MiB of JSON as sent: env values of 1,000 characters. */
function bigPod(name: string, node: string): Record<string, unknown> {
  const env = Array.from({ length: Math.floor((1.9 * 1024 * 1024) / 1031) }, (_, i) => ({ name: `E${String(i).padStart(5, '0')}`, value: 'x'.repeat(1000) }))
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'app', image: 'busybox:1', env }] } }
}
