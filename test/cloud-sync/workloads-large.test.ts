/**
 * A node whose pods use more ConfigMap and Secret data than one frame of the link carries (16 MiB):
 * twelve ConfigMaps of 1.4 MiB each (the API server takes up to ~1.5 MiB per object) used by one
 * pod. Real `tern cloud` on the API emulator and a real `tern edge` (no edged: the objects are
 * stored all the same); the edge is restarted, so it gets them in the resync of its connect.
 */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { startCloudEdge, startCloudWorld, until, type CloudWorld } from '../support/cloud.js'
import { CONFIGMAPS, PODS } from '../support/kube/core-types.js'
import { sample, scrape } from '../support/metrics.js'
import { scratchDir } from '../support/resources.js'

const NODE = 'edge-large'
const MAPS = 12
const MAP_BYTES = 1.4 * 1024 * 1024

describe('cloud sync: ConfigMaps and Secrets past one frame (API emulator, real processes)', function () {
  this.timeout(240_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  it(`${MAPS} ConfigMaps of 1.4 MiB used by the node's pods reach it on every connect, the link staying up`, async () => {
    const world: CloudWorld = await startCloudWorld(undo)
    const api = world.kube?.api
    assert.ok(api !== undefined)
    const url = `wss://127.0.0.1:${world.cloud.hubPort}`
    const edgeDir = await scratchDir()
    undo.push(() => edgeDir.remove())
    let edge = await startCloudEdge(world, NODE, url, { dir: edgeDir.path })
    for (let i = 0; i < MAPS; i++) api.create(CONFIGMAPS, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `big-${i}`, namespace: 'default' }, data: { blob: randomBytes(MAP_BYTES * 0.75).toString('base64') } })
    const volumes = Array.from({ length: MAPS }, (_, i) => ({ name: `v${i}`, configMap: { name: `big-${i}` } }))
    api.create(PODS, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: 'default' }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'busybox:1' }], volumes } })
    const messages = async (kind: string): Promise<number> => sample(await scrape(world.cloud.httpPort), 'tern_cloud_workload_messages_total', { kind }) ?? 0
    // one by one, each object fits a frame
    await until('the pod and its ConfigMaps sent as updates', () => messages('update'), (n) => n >= MAPS + 1, 60_000)

    await edge.stop()
    const resyncsBefore = await messages('resync')
    edge = await startCloudEdge(world, NODE, url, { dir: edgeDir.path })
    await until('the resync on connect answered', () => messages('resync'), (n) => n > resyncsBefore, 60_000)
    // the session stays: no more resyncs (each reconnect of the edge brings one), and a new pod arrives
    await new Promise((r) => setTimeout(r, 5_000))
    const settled = await messages('resync')
    api.create(PODS, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'later', namespace: 'default' }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'busybox:1' }] } })
    await until('the new pod sent and answered', () => messages('update'), (n) => n >= MAPS + 2, 30_000)
    await new Promise((r) => setTimeout(r, 3_000))
    assert.equal(await messages('resync'), settled, 'no reconnects after the resync')
    assert.equal(await messages('refused'), 0)
    assert.ok(!edge.output().includes('1009'), 'the edge closed no session for a frame too big')
  })
})
