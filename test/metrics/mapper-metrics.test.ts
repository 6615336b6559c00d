/**
 * The in-process mappers' per-device counters on `tern edge`'s `/metrics` (metrics/edge/mappers.ts),
 * scraped over HTTP from the edge's metrics listener: every scrape shows the counters as they are
 * when it is taken, like the twin's, however soon after the one before.
 */
import { strict as assert } from 'node:assert'
import { pino } from 'pino'
import { EdgeObservability } from '../../metrics/edge-observability.js'
import { scrape, sample } from '../support/metrics.js'

describe('metrics: the mappers’ counters are read by each scrape', function () {
  this.timeout(20_000)
  const undo: Array<() => Promise<void>> = []
  after(async () => {
    for (const step of undo.splice(0).reverse()) await step()
  })

  it('two scrapes a moment apart around a counter change: the second shows the change, and each scrape reads the counters once for its three metrics', async () => {
    // what the Modbus mapper's counters() returns, per device id
    const counts: Record<string, Record<string, number>> = { 'default/fan-1': { requests: 1, ok: 1 } }
    let reads = 0
    const mapper = {
      protocol: 'modbus',
      counters: () => {
        reads++
        return structuredClone(counts)
      },
    }
    const http = new EdgeObservability({ listener: { host: '127.0.0.1', port: 0, deviceSeries: 100, maxConnections: 128 }, version: '0.0.0-test', log: pino({ level: 'silent' }) })
    undo.push(() => http.stop())
    const { port } = await http.start()
    http.mappers([mapper])
    const fan = { protocol: 'modbus', device: 'default/fan-1' }

    const first = await scrape(port)
    assert.equal(sample(first, 'tern_mapper_requests_total', fan), 1)
    assert.equal(sample(first, 'tern_mapper_responses_total', { ...fan, code: 'ok' }), 1)
    assert.equal(sample(first, 'tern_mapper_devices', { protocol: 'modbus' }), 1)
    const readByFirst = reads

    counts['default/fan-1'] = { requests: 2, ok: 1, MODBUS_TIMEOUT: 1 }
    counts['default/fan-2'] = { requests: 1, ok: 1 }
    const second = await scrape(port)
    assert.equal(sample(second, 'tern_mapper_requests_total', fan), 2)
    assert.equal(sample(second, 'tern_mapper_responses_total', { ...fan, code: 'MODBUS_TIMEOUT' }), 1)
    assert.equal(sample(second, 'tern_mapper_requests_total', { protocol: 'modbus', device: 'default/fan-2' }), 1)
    assert.equal(sample(second, 'tern_mapper_devices', { protocol: 'modbus' }), 2)
    // one read per scrape: a node may count thousands of devices
    assert.deepEqual([readByFirst, reads], [1, 2])
  })
})
