/**
 * Histograms read from plain-number tallies when scraped (metrics/prom.ts histogramBy) must expose
 * what prom-client's own Histogram exposes for the same observations: same buckets, +Inf, _sum and
 * _count, label for label. The twin's metrics are built on them (metrics/edge/twin.ts).
 */
import { strict as assert } from 'node:assert'
import { Histogram, histogramBy, LATENCY_BUCKETS, Registry, Tally } from '../../metrics/prom.js'
import { twinMetrics } from '../../metrics/edge/twin.js'

describe('metrics: histograms read from tallies when scraped', () => {
  // on a bound, between bounds, below the first, above the last, and a run of equal values
  const values = [0, 0.0005, 0.0007, 0.001, 0.003, 0.003, 0.003, 0.2, 2.5, 9.99, 10, 10.01, 120]

  it('exposes the same text as a prom-client Histogram fed the same observations, labelled and not', async () => {
    const expected = new Registry()
    const labelled = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['topic'], buckets: LATENCY_BUCKETS, registers: [expected] })
    const plain = new Histogram({ name: 'y_seconds', help: 'h', buckets: LATENCY_BUCKETS, registers: [expected] })
    const actual = new Registry()
    const a = new Tally(LATENCY_BUCKETS)
    const b = new Tally(LATENCY_BUCKETS)
    const y = new Tally(LATENCY_BUCKETS)
    histogramBy(actual, { name: 'x_seconds', help: 'h', labelNames: ['topic'], buckets: LATENCY_BUCKETS, read: () => [[{ topic: 'a' }, a], [{ topic: 'b' }, b]] })
    histogramBy(actual, { name: 'y_seconds', help: 'h', buckets: LATENCY_BUCKETS, read: () => [[{}, y]] })
    for (const [i, v] of values.entries()) {
      labelled.observe({ topic: i % 3 === 1 ? 'b' : 'a' }, v)
      ;(i % 3 === 1 ? b : a).observe(v)
      plain.observe(v * 2)
      y.observe(v * 2)
    }
    const text = await actual.metrics()
    assert.equal(text, await expected.metrics())
    assert.match(text, /^x_seconds_bucket\{le="\+Inf",topic="a"\} 9$/m)
    assert.match(text, /^y_seconds_count 13$/m)
  })

  it('reads the tallies anew at every scrape', async () => {
    const registry = new Registry()
    const t = new Tally(LATENCY_BUCKETS)
    histogramBy(registry, { name: 'z_seconds', help: 'h', buckets: LATENCY_BUCKETS, read: () => [[{}, t]] })
    assert.match(await registry.metrics(), /^z_seconds_count 0$/m)
    t.observe(0.002)
    t.observe(0.02)
    const text = await registry.metrics()
    assert.match(text, /^z_seconds_bucket\{le="0\.0025"\} 1$/m)
    assert.match(text, /^z_seconds_bucket\{le="0\.025"\} 2$/m)
    assert.match(text, /^z_seconds_sum 0\.022$/m)
  })

  it('twin metrics: answers counted by topic and code, latency by topic, store writes; no series for topics never answered', async () => {
    const registry = new Registry()
    const m = twinMetrics(registry)
    const started = performance.now()
    for (const code of [200, 200, 400, 404]) m.observer.answered('twin/update', code, started)
    m.observer.answered('twin/get', 200, started)
    m.storeWrite(3)
    const text = await registry.metrics()
    assert.match(text, /^tern_twin_requests_total\{topic="twin\/update",code="200"\} 2$/m)
    assert.match(text, /^tern_twin_requests_total\{topic="twin\/update",code="400"\} 1$/m)
    assert.match(text, /^tern_twin_requests_total\{topic="twin\/update",code="404"\} 1$/m)
    assert.match(text, /^tern_twin_requests_total\{topic="twin\/get",code="200"\} 1$/m)
    assert.match(text, /^tern_twin_request_duration_seconds_count\{topic="twin\/update"\} 4$/m)
    assert.match(text, /^tern_twin_request_duration_seconds_count\{topic="twin\/get"\} 1$/m)
    assert.doesNotMatch(text, /topic="state\/update"|topic="membership\/get"/)
    assert.match(text, /^tern_twin_store_write_duration_seconds_bucket\{le="0\.005"\} 1$/m)
    assert.match(text, /^tern_twin_store_write_duration_seconds_sum 0\.003$/m)
    assert.match(text, /^# TYPE tern_twin_request_duration_seconds histogram$/m)
    assert.match(text, /^# TYPE tern_twin_requests_total counter$/m)
  })
})
