/**
 * `tern cloud`'s metrics and health listener, and the edge's view of its cloud link: a real
 * `tern cloud` on the API emulator, a real `tern edge` with a pymodbus device linked to it, both
 * scraped with a real HTTP client; the link is then cut by stopping `tern cloud`.
 */
import { strict as assert } from 'node:assert'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fanDevice, MODEL, startCloudEdge, startCloudWorld, type CloudWorld } from '../support/cloud.js'
import { get, sample, scrape, scrapeUntil } from '../support/metrics.js'
import { startPymodbus } from '../support/modbus.js'
import type { TernEdgeProcess } from '../support/tern.js'

const root = resolve(import.meta.dirname, '../..')

describe('metrics: tern cloud /metrics and /readyz, and the edge’s cloud link (API emulator, pymodbus)', function () {
  this.timeout(120_000)
  const undo: Array<() => Promise<void>> = []
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  let world: CloudWorld
  let edge: TernEdgeProcess

  before(async () => {
    world = await startCloudWorld(undo)
    const peer = await startPymodbus({ mode: 'tcp' })
    undo.push(() => peer.stop())
    const applied = await world.kubectl.run(['apply', '-f', '-'], `${MODEL}---\n${fanDevice('fan-1', 'edge-m', peer.port, '1000')}`)
    assert.equal(applied.code, 0, applied.stderr)
    edge = await startCloudEdge(world, 'edge-m', `wss://127.0.0.1:${world.cloud.hubPort}`)
  })

  it('is ready once synced and listening, and counts the session, its resync, status patches and API requests', async () => {
    const port = world.cloud.httpPort
    assert.ok(port > 0)
    assert.deepEqual(await get(port, '/readyz'), { status: 200, body: 'ok\n' })
    const s = await scrapeUntil(
      port,
      (m) => sample(m, 'tern_cloud_sessions') === 1 && (sample(m, 'tern_cloud_status_patches_total', { result: 'ok' }) ?? 0) > 0,
      'the edge connected and a status patch written',
    )
    assert.ok((sample(s, 'tern_cloud_resyncs_total') ?? 0) >= 1)
    // the node's workload set went down too (no pods: an empty one), counted apart from its devices
    assert.ok((sample(s, 'tern_cloud_workload_messages_total', { kind: 'resync' }) ?? 0) >= 1, s.text)
    assert.ok((sample(s, 'tern_cloud_informer_lists_total', { resource: 'devices' }) ?? 0) >= 1)
    assert.ok((sample(s, 'tern_cloud_api_requests_total', { verb: 'patch', resource: 'devices/status', code: '200' }) ?? 0) > 0, s.text)
    assert.ok((sample(s, 'tern_cloud_api_request_duration_seconds_count', { verb: 'patch', resource: 'devices/status' }) ?? 0) > 0)
    assert.ok((sample(s, 'tern_cloud_api_requests_total', { verb: 'list', resource: 'devices', code: '200' }) ?? 0) >= 1)
  })

  it('deploy/grafana/tern-dashboard.json is valid JSON whose every expression names only metrics a running edge and cloud serve', async () => {
    const dashboard = JSON.parse(await readFile(join(root, 'deploy/grafana/tern-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> }
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })))
    assert.ok(exprs.length >= 20, `the dashboard has its panels: ${exprs.length} expressions`)
    await scrapeUntil(edge.httpPort, (m) => sample(m, 'tern_cloud_link_up') === 1, 'the edge linked')
    const served = [...(await scrape(edge.httpPort)).samples.keys(), ...(await scrape(world.cloud.httpPort)).samples.keys()].map((k) => k.replace(/\{.*$/, ''))
    const names = new Set(served)
    const missing = exprs.flatMap(({ panel, expr }) => [...expr.matchAll(/\b(?:tern|process|nodejs)_[a-z0-9_]+/g)].map(([name]) => name).filter((name) => !names.has(name)).map((name) => `${panel}: ${name}`))
    assert.deepEqual(missing, [])
  })

  it('the edge shows its link up, and down once the link is cut (its outbox depth still reported), while staying ready', async () => {
    await scrapeUntil(edge.httpPort, (m) => sample(m, 'tern_cloud_link_up') === 1, 'the link up')
    await world.cloud.stop()
    const cut = await scrapeUntil(edge.httpPort, (m) => sample(m, 'tern_cloud_link_up') === 0, 'the link down')
    assert.ok(sample(cut, 'tern_cloud_outbox_depth', { queue: 'changes' }) !== undefined)
    // the node still serves its devices: ready
    assert.equal((await get(edge.httpPort, '/readyz')).status, 200)
  })
})
