/**
 * tern cloud when its connections to the API server go silent (a vanished route, a stuck proxy):
 * nothing is answered or closed on them. As a kubelet on heartbeat failure, tern cloud gives up the
 * Lease renewal that gets no answer and closes every connection; once new connections work again
 * (those opened meanwhile stay silent) it carries on over them: Leases are renewed again and
 * watches resume, so a Device applied meanwhile reaches its node.
 */
import { strict as assert } from 'node:assert'
import { fanDevice, memberUntil, MODEL, startCloudEdge, startCloudWorld, until } from '../support/cloud.js'
import { clientPool } from '../support/mqtt.js'

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
})
