/**
 * `tern edge`'s metrics and health listener, as an operator scrapes it: a real `tern edge` process
 * with the Modbus mapper and a pymodbus device, an MQTT app, and `/metrics`, `/healthz`, `/readyz`
 * read with a real HTTP client. Values must move with real traffic.
 */
import { strict as assert } from 'node:assert'
import { createServer } from 'node:net'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fanDevice, MODEL } from '../support/cloud.js'
import { get, sample, scrape, scrapeUntil, type Scrape } from '../support/metrics.js'
import { startPymodbus, type PymodbusPeer } from '../support/modbus.js'
import { clientPool } from '../support/mqtt.js'
import { scratchDir } from '../support/resources.js'
import { runTern, startTernEdge, type TernEdgeProcess } from '../support/tern.js'

/** The fan's value of a per-device mapper counter (its device label is whatever id the mapper keys it by). */
function fanCounter(s: Scrape, name: string, code?: string): number {
  let total = 0
  for (const [key, value] of s.samples) if (key.startsWith(`${name}{`) && key.includes('fan-1') && (code === undefined || key.includes(`code="${code}"`))) total += value
  return total
}

describe('metrics: tern edge /metrics, /healthz, /readyz (pymodbus peer, MQTT app)', function () {
  this.timeout(90_000)
  const undo: Array<() => Promise<void>> = []
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()
  let node: TernEdgeProcess
  let peer: PymodbusPeer

  before(async () => {
    peer = await startPymodbus({ mode: 'tcp' })
    undo.push(() => peer.stop())
    await peer.set(1, 'ir', 0, [215])
    const dir = await scratchDir()
    undo.push(() => dir.remove())
    await mkdir(join(dir.path, 'devices'))
    await writeFile(join(dir.path, 'devices', 'fan.yaml'), `${MODEL}---\n${fanDevice('fan-1', 'edge-1', peer.port, '1000')}`)
    node = await startTernEdge(dir.path, {
      node: { name: 'edge-1' },
      twin: { manifestsDir: join(dir.path, 'devices') },
      mqtt: { listeners: [{ port: 0 }] },
      mappers: { enabled: ['modbus'], heartbeatMs: 0, backoff: { initialMs: 100, maxMs: 800 } },
    })
    undo.push(() => node.stop())
    assert.ok(node.httpPort > 0, 'the ready line names the HTTP port')
  })

  it('answers /healthz and, once started, /readyz with 200; other paths 404 and other methods 405', async () => {
    assert.deepEqual(await get(node.httpPort, '/healthz'), { status: 200, body: 'ok\n' })
    assert.deepEqual(await get(node.httpPort, '/readyz'), { status: 200, body: 'ok\n' })
    assert.equal((await get(node.httpPort, '/nothing')).status, 404)
    const post = await fetch(`http://127.0.0.1:${node.httpPort}/metrics`, { method: 'POST' })
    assert.equal(post.status, 405)
  })

  it('counts the mapper’s requests to the device, and a register change on pymodbus reaches the twin and its store', async () => {
    const polled = await scrapeUntil(node.httpPort, (s) => fanCounter(s, 'tern_mapper_responses_total', 'ok') > 0 && sample(s, 'tern_devices', { state: 'online' }) === 1, 'the fan polled and online')
    assert.ok(fanCounter(polled, 'tern_mapper_requests_total') >= fanCounter(polled, 'tern_mapper_responses_total', 'ok'))
    assert.equal(polled.types.get('tern_mapper_requests_total'), 'counter')
    const before = await scrape(node.httpPort)
    const updates = (s: Scrape): number => sample(s, 'tern_twin_requests_total', { topic: 'twin/update', code: '200' }) ?? 0
    const writes = (s: Scrape): number => sample(s, 'tern_twin_store_write_duration_seconds_count') ?? 0
    await peer.set(1, 'ir', 0, [300])
    // the mapper's request and the twin's update are counted at different moments: wait for both
    const requests = (s: Scrape): number => fanCounter(s, 'tern_mapper_requests_total')
    const after = await scrapeUntil(node.httpPort, (s) => updates(s) > updates(before) && writes(s) > writes(before) && requests(s) > requests(before), 'the new temperature written')
    // every answered twin/update is in the latency histogram
    assert.ok((sample(after, 'tern_twin_request_duration_seconds_count', { topic: 'twin/update' }) ?? 0) >= updates(after))
    assert.equal(after.types.get('tern_twin_request_duration_seconds'), 'histogram')
  })

  it('counts refused twin requests by result code, and the MQTT traffic and connections they took', async () => {
    const app = await pool.connect(`mqtt://127.0.0.1:${node.listeners[0]?.port}`)
    await app.client.subscribeAsync('$hw/events/device/+/twin/update/result', { qos: 1 })
    const before = await scrape(node.httpPort)
    const code = (s: Scrape, c: string): number => sample(s, 'tern_twin_requests_total', { topic: 'twin/update', code: c }) ?? 0
    await app.client.publishAsync('$hw/events/device/fan-1/twin/update', '{not json', { qos: 1 })
    await app.client.publishAsync('$hw/events/device/no-such-fan/twin/update', JSON.stringify({ event_id: 'x', twin: { speed: { expected: { value: '1' } } } }), { qos: 1 })
    await app.inbox.waitFor((m) => m.topic === '$hw/events/device/no-such-fan/twin/update/result', 'the 404')
    const after = await scrapeUntil(node.httpPort, (s) => code(s, '400') === code(before, '400') + 1 && code(s, '404') === code(before, '404') + 1, 'one 400 and one 404 counted')
    assert.ok((sample(after, 'tern_mqtt_clients') ?? 0) >= 1)
    assert.ok((sample(after, 'tern_mqtt_connections') ?? 0) >= 1)
    assert.ok((sample(after, 'tern_mqtt_messages_received_total', { qos: '1' }) ?? 0) >= (sample(before, 'tern_mqtt_messages_received_total', { qos: '1' }) ?? 0) + 2)
    assert.ok((sample(after, 'tern_mqtt_messages_sent_total', { qos: '1' }) ?? 0) > (sample(before, 'tern_mqtt_messages_sent_total', { qos: '1' }) ?? 0))
    // a node without a cloud link or edged shows none of their metrics
    assert.equal([...after.samples.keys()].filter((k) => k.startsWith('tern_cloud_') || k.startsWith('tern_edged_')).length, 0)
  })
})

describe('metrics: the HTTP listener’s configuration', function () {
  this.timeout(60_000)

  it('a port in use stops tern edge with HTTP_LISTEN_FAILED, and an address that is not HOST:PORT is CONFIG_INVALID', async () => {
    const dir = await scratchDir()
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    try {
      const port = (busy.address() as { port: number }).port
      const config = join(dir.path, 'tern.yaml')
      await writeFile(config, 'mqtt: { listeners: [{ port: 0 }] }\n')
      const inUse = await runTern(['edge', '--config', config, '--data-dir', join(dir.path, 'data'), '--http-listen', `127.0.0.1:${port}`])
      assert.equal(inUse.code, 1, inUse.output)
      assert.match(inUse.output, /HTTP_LISTEN_FAILED/)
      await writeFile(config, 'mqtt: { listeners: [{ port: 0 }] }\nhttp: { listen: "9464" }\n')
      const invalid = await runTern(['edge', '--config', config, '--data-dir', join(dir.path, 'data')])
      assert.equal(invalid.code, 1, invalid.output)
      assert.match(invalid.output, /CONFIG_INVALID/)
      assert.match(invalid.output, /http/)
    } finally {
      busy.close()
      await dir.remove()
    }
  })

  it('http: false opens no listener', async () => {
    const dir = await scratchDir()
    try {
      const node = await startTernEdge(dir.path, { mqtt: { listeners: [{ port: 0 }] }, http: false })
      try {
        assert.equal(node.httpPort, 0)
        assert.doesNotMatch(node.output(), /HTTP listener/)
      } finally {
        await node.stop()
      }
    } finally {
      await dir.remove()
    }
  })
})
