/**
 * tern cloud when its connections to the API server go silent (a vanished route, a stuck proxy):
 * nothing is answered or closed on them. As a kubelet on heartbeat failure, tern cloud gives up the
 * Lease renewal that gets no answer and closes every connection; once new connections work again
 * (those opened meanwhile stay silent) it carries on over them: Leases are renewed again and
 * watches resume, so a Device applied meanwhile reaches its node. When only a watch's connection
 * goes silent (renewals working over others), the watch is ended once the bookmarks it carried
 * stop coming (kube.watchSilenceMs), not at its deadline 5.5-10.5 min on.
 */
import { strict as assert } from 'node:assert'
import { fanDevice, memberUntil, MODEL, startCloudEdge, startCloudWorld, until } from '../support/cloud.js'
import type { WatchStream } from '../support/kube/server.js'
import { clientPool } from '../support/mqtt.js'

const DEVICES = '/apis/devices.kubeedge.io/v1beta1/devices'

describe('tern cloud with silent API connections', function () {
  this.timeout(180_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  it('a Lease renewal with no answer closes the API connections: renewals go on and a Device applied meanwhile reaches the edge', async () => {
    const world = await startCloudWorld(undo, { apiProxy: true, nodes: { leaseRenewSeconds: 1 } })
    const proxy = world.apiProxy
    assert.ok(proxy !== undefined)
    const edge = await startCloudEdge(world, 'edge-1', `wss://127.0.0.1:${world.cloud.hubPort}`)
    const app = await pool.connect(`mqtt://127.0.0.1:${edge.listeners[0]?.port}`)
    await app.client.subscribeAsync(['$hw/events/#'], { qos: 1 })
    const renewTime = async (): Promise<number | undefined> => {
      const got = await world.kubectl.run(['get', 'lease', '-n', 'kube-node-lease', 'edge-1', '-o', 'jsonpath={.spec.renewTime}'])
      return got.code === 0 && got.stdout !== '' ? Date.parse(got.stdout) : undefined
    }
    await until('the Lease of edge-1', renewTime, () => true)
    const applied = await world.kubectl.run(['apply', '-f', '-'], MODEL)
    assert.equal(applied.code, 0, applied.stderr)

    // the route goes: nothing passes, old connections or new, until a renewal has gone unanswered
    proxy.freeze({ newConnections: true })
    const frozenAt = Date.now()
    const device = await world.kubectl.run(['apply', '-f', '-'], fanDevice('fan-1', 'edge-1', 1, '1200'))
    assert.equal(device.code, 0, device.stderr)
    const closed = (): number => world.cloud.output().split('\n').filter((l) => l.includes('closed every connection to the API server')).length
    await until('a renewal with no answer', () => Promise.resolve(closed()), (n) => n > 0, 30_000)
    assert.ok(Date.now() - frozenAt >= 9_000, 'the renewal waited its 10 s limit')
    // then it comes back for new connections only: every connection opened so far stays silent
    proxy.freeze()
    const renewed = await until('the Lease renewed after the freeze', renewTime, (t) => t > frozenAt + 2000, 60_000)
    assert.ok(renewed - frozenAt < 40_000, `renewed ${renewed - frozenAt} ms after the freeze: within the 40 s a node controller waits`)
    await memberUntil(app, 'edge-1', (names) => names.includes('fan-1'), 'fan-1 (applied while the watches were silent) to reach edge-1', 60_000)
  })

  it('only the Device watch’s connection goes silent, Lease renewals working: the watch is ended once its bookmarks stop, and a Device applied meanwhile reaches the edge', async () => {
    // bookmarks every 0.5 s and a silence limit of 6 of them: as kube-apiserver's 60 s and 150 s, scaled down
    const silenceMs = 3000
    const world = await startCloudWorld(undo, { apiProxy: true, nodes: { leaseRenewSeconds: 1 }, bookmarkIntervalMs: 500, kube: { watchSilenceMs: silenceMs } })
    const { apiProxy: proxy, kube } = world
    assert.ok(proxy !== undefined && kube !== undefined)
    const edge = await startCloudEdge(world, 'edge-1', `wss://127.0.0.1:${world.cloud.hubPort}`)
    const app = await pool.connect(`mqtt://127.0.0.1:${edge.listeners[0]?.port}`)
    await app.client.subscribeAsync(['$hw/events/#'], { qos: 1 })
    const applied = await world.kubectl.run(['apply', '-f', '-'], MODEL)
    assert.equal(applied.code, 0, applied.stderr)
    const deviceWatches = (): Promise<WatchStream[]> => Promise.resolve(kube.openWatches().filter((w) => w.path === DEVICES))
    // quiet but healthy: bookmarks for twice the silence limit, no event, and still the same watch
    const quiet = await until('the Device watch carrying bookmarks for twice the silence limit', deviceWatches, (ws) => ws.length === 1 && (ws[0]?.bookmarks ?? 0) >= (2 * silenceMs) / 500)
    assert.equal(kube.requests.filter((r) => r.url.startsWith(`${DEVICES}?`) && r.url.includes('watch=true')).length, 0, 'no Device watch ended')

    // only the connection of the Device watch goes silent; new connections and the others work
    proxy.freeze({ only: quiet.map((w) => w.clientPort ?? -1) })
    const frozenAt = Date.now()
    const device = await world.kubectl.run(['apply', '-f', '-'], fanDevice('fan-1', 'edge-1', 1, '1200'))
    assert.equal(device.code, 0, device.stderr)
    await memberUntil(app, 'edge-1', (names) => names.includes('fan-1'), 'fan-1 (applied while its watch was silent) to reach edge-1', silenceMs + 20_000)
    const took = Date.now() - frozenAt
    const output = world.cloud.output()
    assert.ok(output.includes('no event or bookmark'), 'the watch was ended as silent')
    assert.ok(!output.includes('closed every connection to the API server'), 'no Lease renewal went unanswered: the watch alone was repaired')
    assert.ok(took >= silenceMs - 500, `reached the edge ${took} ms after the freeze: before the watch could be taken as silent`)
  })
})
