/**
 * Oversized twin requests against the real `tern edge` process: a payload over `twin.maxRequestBytes`
 * is answered with a 400 on the device's own result topic without being parsed, so 10 MB of nested
 * JSON (seconds of JSON.parse, every client stalled meanwhile) costs the node next to nothing; and
 * `twin.maxKeysPerDevice` bounds the twins a client can make.
 */
import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { counterManifests, scratchWithDevices } from '../support/manifests.js'
import { clientPool, runMosquittoPub } from '../support/mqtt.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'

/** `bytes` of JSON: one twin entry whose value is arrays nested as deep as the size allows. */
function nestedJson(bytes: number): string {
  const head = '{"twin":{"counter":'
  const tail = '}}'
  const depth = Math.floor((bytes - head.length - tail.length) / 2)
  return head + '['.repeat(depth) + ']'.repeat(depth) + tail
}

/** A valid update of exactly `bytes` bytes (an ignored field pads it, as Go's decoder ignores unknown keys). */
function paddedUpdate(eventId: string, bytes: number): string {
  const base = JSON.stringify({ event_id: eventId, twin: { counter: { actual: { value: '1' } } }, pad: '' })
  return base.replace('"pad":""', `"pad":"${'x'.repeat(bytes - base.length)}"`)
}

describe('twin: oversized requests inside tern edge (config twin.maxRequestBytes)', function () {
  this.timeout(180_000)
  const undo: Array<() => Promise<void>> = []
  let node: TernEdgeProcess
  let url: string
  let dir: string
  before(async () => {
    const scratch = await scratchWithDevices(counterManifests(['c-0', 'c-1']), undo)
    dir = scratch.dir
    const devices = scratch.devices
    // The broker lets 10 MB packets through, so that they reach the twin.
    node = await startTernEdge(dir, { node: { name: 'edge-1' }, twin: { manifestsDir: devices, maxKeysPerDevice: 3 }, mqtt: { listeners: [{ port: 0 }], maxPacketSize: 32 * 1024 * 1024 } })
    undo.push(() => node.stop())
    url = `mqtt://127.0.0.1:${node.listeners[0]?.port}`
  })
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  it('the default limit, 64 KiB: a request of 65,536 bytes is served, one of 65,537 is a 400 TWIN_REQUEST_TOO_LARGE on the device result topic', async () => {
    const { client, inbox } = await pool.connect(url)
    await client.subscribeAsync('$hw/events/device/c-0/twin/update/result', { qos: 1 })
    const at = paddedUpdate('at-limit', 65_536)
    assert.equal(Buffer.byteLength(at), 65_536)
    await client.publishAsync('$hw/events/device/c-0/twin/update', at, { qos: 1 })
    const served = await inbox.waitFor((m) => m.payload.includes('"at-limit"'), 'the answer at the limit', 20_000)
    assert.equal((JSON.parse(served.payload) as { code?: number }).code, undefined, served.payload)

    await client.publishAsync('$hw/events/device/c-0/twin/update', paddedUpdate('over-limit', 65_537), { qos: 1 })
    const refused = await inbox.waitFor((m) => m.payload.includes('TWIN_REQUEST_TOO_LARGE'), 'the refusal over the limit', 20_000)
    const body = JSON.parse(refused.payload) as { event_id: string; code: number; errorCode: string; reason: string }
    assert.equal(body.code, 400)
    assert.equal(body.errorCode, 'TWIN_REQUEST_TOO_LARGE')
    assert.equal(body.event_id, '', 'the payload was never parsed, so its event_id is unknown')
    assert.match(body.reason, /65537/)
  })

  it('config twin.maxKeysPerDevice: 3 twins are made, a request adding a 4th is refused whole with TWIN_TOO_MANY_KEYS', async () => {
    const { client, inbox } = await pool.connect(url)
    await client.subscribeAsync('$hw/events/device/c-1/twin/update/result', { qos: 1 })
    const add = (eventId: string, keys: string[]): Promise<unknown> =>
      client.publishAsync('$hw/events/device/c-1/twin/update', JSON.stringify({ event_id: eventId, twin: Object.fromEntries(keys.map((k) => [k, { actual: { value: '1' } }])) }), { qos: 1 })
    await add('three', ['k1', 'k2', 'k3'])
    const made = await inbox.waitFor((m) => m.payload.includes('"three"'), 'three twins made')
    assert.deepEqual(Object.keys((JSON.parse(made.payload) as { twin: object }).twin), ['k1', 'k2', 'k3'])
    await add('fourth', ['k1', 'k4'])
    const refused = JSON.parse((await inbox.waitFor((m) => m.payload.includes('"fourth"'), 'the refusal')).payload) as { code: number; errorCode: string; problems: Array<{ key: string }> }
    assert.deepEqual([refused.code, refused.errorCode, refused.problems.map((p) => p.key)], [400, 'TWIN_TOO_MANY_KEYS', ['k4']])
  })

  it('while 10 MB nested-JSON requests arrive, another client’s twin/get round trips stay fast and every big request is refused', async () => {
    const results = await pool.connect(url)
    await results.client.subscribeAsync('$hw/events/device/c-0/twin/update/result', { qos: 1 })
    const app = await pool.connect(url)
    await app.client.subscribeAsync('$hw/events/device/c-1/twin/get/result', { qos: 1 })

    // The attacker is another process (mosquitto_pub), so building and sending 10 MB never stalls
    // this process, which measures the round trips.
    const BIG = 3
    const file = join(dir, 'nested.json')
    await writeFile(file, nestedJson(10 * 1024 * 1024))
    const port = node.listeners[0]?.port ?? 0
    let sending = true
    const sent = (async () => {
      for (let i = 0; i < BIG; i++) await runMosquittoPub(pool, ['-p', String(port), '-q', '1', '-t', '$hw/events/device/c-0/twin/update', '-f', file])
      await results.inbox.waitForCount(BIG, 60_000)
      sending = false
    })()
    const roundTrips: number[] = []
    for (let i = 0; sending || roundTrips.length < 5; i++) {
      const started = Date.now()
      await app.client.publishAsync('$hw/events/device/c-1/twin/get', `{"event_id":"rt-${i}"}`, { qos: 1 })
      await app.inbox.waitFor((m) => m.payload.includes(`"rt-${i}"`), `round trip ${i}`, 60_000)
      roundTrips.push(Date.now() - started)
    }
    await sent
    // Parsed, each of these payloads blocked the node for seconds (about 4 s on an idle machine of
    // this kind, 18-25 s on a loaded one); refused unparsed, round trips stayed under 1.2 s even on
    // the loaded machine (most under 0.3 s).
    assert.ok(Math.max(...roundTrips) < 3000, `round trips while 10 MB requests arrived (ms): ${roundTrips.join(', ')}`)
    for (const answer of results.inbox.messages) {
      const body = JSON.parse(answer.payload) as { code: number; errorCode: string }
      assert.deepEqual([body.code, body.errorCode], [400, 'TWIN_REQUEST_TOO_LARGE'])
    }
    assert.equal(node.process.exitCode, null)
  })
})
