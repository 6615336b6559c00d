/**
 * KubeEdge wire compatibility, driven by Debian's mosquitto_pub/mosquitto_sub with payloads exactly
 * as KubeEdge's legacy mappers and apps send them (kubeedge-compat.md §1.5, §6.10), against a real
 * `tern edge` process: once on its embedded broker, once in external mode on a real Mosquitto.
 * Every answer is asserted field by field; edge timestamps are checked, then normalised to 0.
 */
import { strict as assert } from 'node:assert'
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { startMosquitto } from '../support/mosquitto.js'
import { clientPool, runMosquittoPub, subscribedMosquittoSub, type ClientPool } from '../support/mqtt.js'
import { freePort, scratchDir, type Child } from '../support/resources.js'
import { startTernEdge } from '../support/tern.js'

const FIXTURES = join(import.meta.dirname, '../fixtures/devices')

interface Setup {
  name: string
  /** Starts everything; returns the port MQTT clients use. */
  start(dir: string, after: (fn: () => Promise<void>) => void): Promise<number>
}

const setups: Setup[] = [
  {
    name: 'embedded broker',
    async start(dir, cleanup) {
      const node = await startTernEdge(dir, { node: { name: 'edge-1' }, twin: { manifestsDir: join(dir, 'devices') }, mqtt: { listeners: [{ port: 0 }] } })
      cleanup(() => node.stop())
      return node.listeners[0]?.port ?? 0
    },
  },
  {
    name: 'external Mosquitto 2.0',
    async start(dir, cleanup) {
      const port = await freePort()
      const mosquitto = await startMosquitto({ dir: join(dir, 'mosquitto'), listeners: [{ protocol: 'mqtt', port, allowAnonymous: true }] })
      cleanup(() => mosquitto.stop())
      const node = await startTernEdge(dir, {
        node: { name: 'edge-1' },
        twin: { manifestsDir: join(dir, 'devices') },
        mqtt: { mode: 'external', external: { url: `mqtt://127.0.0.1:${port}` } },
      })
      cleanup(() => node.stop())
      return port
    },
  },
]

for (const setup of setups) {
  describe(`twin: KubeEdge compatibility with mosquitto_pub/sub (${setup.name})`, function () {
    this.timeout(60_000)
    let port = 0
    let started = 0
    const undo: Array<() => Promise<void>> = []
    before(async () => {
      const dir = await scratchDir()
      undo.push(() => dir.remove())
      await cp(FIXTURES, join(dir.path, 'devices'), { recursive: true })
      started = Date.now()
      port = await setup.start(dir.path, (fn) => undo.push(fn))
    })
    after(async () => {
      for (const fn of undo.splice(0).reverse()) await fn()
    })
    const pool = clientPool()

    /** Subscribes with mosquitto_sub, publishes with mosquitto_pub, returns the answers received. */
    async function exchange(
      pool: ClientPool,
      request: { topic: string; payload: string; qos?: number },
      filters: string[],
      count: number,
      waitSeconds = 30, // generous: mosquitto_sub counts from its own start, and the machine may be loaded
    ): Promise<Array<{ topic: string; body: unknown }>> {
      const args = ['-p', String(port), '-q', '1', '-F', '~~%t\t%p', ...filters.flatMap((f) => ['-t', f]), '-C', String(count), '-W', String(waitSeconds)]
      const sub: Child = await subscribedMosquittoSub(pool, args)
      // -n: a zero-length payload (mosquitto_pub refuses an empty -m)
      await runMosquittoPub(pool, ['-p', String(port), '-q', String(request.qos ?? 0), '-t', request.topic, ...(request.payload === '' ? ['-n'] : ['-m', request.payload])])
      await sub.exited()
      return sub
        .output()
        .split('\n')
        .filter((l) => l.startsWith('~~'))
        .map((l) => {
          const [topic = '', payload = ''] = l.slice(2).split('\t')
          return { topic, body: normalise(JSON.parse(payload)) }
        })
    }

    /** Checks every edge timestamp is from this run, then replaces it (and fresh event ids) for comparison. */
    function normalise(value: unknown): unknown {
      if (Array.isArray(value)) return value.map(normalise)
      if (value === null || typeof value !== 'object') return value
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => {
          if (k === 'timestamp' && typeof v === 'number') {
            assert.ok(v >= started && v <= Date.now(), `timestamp ${v} is the edge's time of processing`)
            return [k, 0]
          }
          if (k === 'lastOnlineTime' && typeof v === 'string') {
            assert.match(v, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
            return [k, 'RFC3339']
          }
          if (k === 'event_id' && typeof v === 'string' && /^[0-9a-f-]{36}$/.test(v)) return [k, 'UUID']
          return [k, normalise(v)]
        }),
      )
    }

    const T = '$hw/events/device/fan-1'
    const speedExpected = { value: '1200', metadata: { timestamp: 0 } }

    it('§6.10 a legacy mapper report (QoS 0, metadata.type) → result, document, then delta', async () => {
      const answers = await exchange(
        pool,
        { topic: `${T}/twin/update`, payload: `{"event_id":"","timestamp":${Date.now()},"twin":{"speed":{"actual":{"value":"1000"},"metadata":{"type":"int"}}}}` },
        [`${T}/twin/update/result`, `${T}/twin/update/document`, `${T}/twin/update/delta`],
        3,
      )
      const current = { expected: speedExpected, actual: { value: '1000', metadata: { timestamp: 0 } }, optional: true, metadata: { type: 'int' } }
      assert.deepEqual(answers, [
        {
          topic: `${T}/twin/update/result`,
          body: { event_id: '', timestamp: 0, twin: { speed: { actual: { value: '1000', metadata: { timestamp: 0 } }, optional: true, metadata: { type: 'int' } } } },
        },
        {
          topic: `${T}/twin/update/document`,
          body: { event_id: '', timestamp: 0, twin: { speed: { last: { expected: speedExpected, optional: true, metadata: { type: 'int' } }, current } } },
        },
        // The desired value of the Device spec (1200) is the expected value the mapper must write.
        { topic: `${T}/twin/update/delta`, body: { event_id: 'UUID', timestamp: 0, twin: { speed: current }, delta: { speed: '1200' } } },
      ])
    })

    it('§1.5.1 an app sets an edge-owned expected value → result and a delta over the whole twin map', async () => {
      const answers = await exchange(
        pool,
        { topic: `${T}/twin/update`, payload: '{"event_id":"app-1","timestamp":0,"twin":{"mode":{"expected":{"value":"eco night"}}}}', qos: 1 },
        [`${T}/twin/update/result`, `${T}/twin/update/delta`],
        2,
      )
      const mode = { expected: { value: 'eco night', metadata: { timestamp: 0 } }, optional: true, metadata: { type: 'string' } }
      assert.deepEqual(answers[0], { topic: `${T}/twin/update/result`, body: { event_id: 'app-1', timestamp: 0, twin: { mode } } })
      const delta = answers[1]?.body as { delta: Record<string, string>; twin: Record<string, unknown> }
      assert.deepEqual(delta.delta, { mode: 'eco night', speed: '1200' })
      assert.deepEqual(Object.keys(delta.twin), ['mode', 'speed'])
    })

    it('§1.5.2 a report that matches the expected value clears that key from the delta', async () => {
      const answers = await exchange(
        pool,
        { topic: `${T}/twin/update`, payload: '{"event_id":"","timestamp":0,"twin":{"mode":{"actual":{"value":"eco night"}}}}' },
        [`${T}/twin/update/delta`],
        1,
      )
      assert.deepEqual((answers[0]?.body as { delta: unknown }).delta, { speed: '1200' })
    })

    it('DESIGN §4.2 an identical report changes nothing: a result, no document', async () => {
      // mosquitto_sub waits up to 2 s for a second message: only the result arrives, no document.
      const answers = await exchange(
        pool,
        { topic: `${T}/twin/update`, payload: '{"event_id":"same","timestamp":0,"twin":{"speed":{"actual":{"value":"1000"}}}}' },
        [`${T}/twin/update/result`, `${T}/twin/update/document`],
        2,
        2,
      )
      assert.deepEqual(
        answers.map((a) => a.topic),
        [`${T}/twin/update/result`],
      )
    })

    it('§1.5.4 twin/get → get/result with every live twin, versions stripped', async () => {
      const answers = await exchange(pool, { topic: `${T}/twin/get`, payload: '{"event_id":"get-1"}' }, [`${T}/twin/get/result`], 1)
      assert.deepEqual(answers, [
        {
          topic: `${T}/twin/get/result`,
          body: {
            event_id: 'get-1',
            timestamp: 0,
            twin: {
              mode: { expected: { value: 'eco night', metadata: { timestamp: 0 } }, actual: { value: 'eco night', metadata: { timestamp: 0 } }, optional: true, metadata: { type: 'string' } },
              speed: { expected: speedExpected, actual: { value: '1000', metadata: { timestamp: 0 } }, optional: true, metadata: { type: 'int' } },
            },
          },
        },
      ])
    })

    it('DESIGN §4 the device model refuses a wrong type, an out-of-range value and a ReadOnly expected, naming every key', async () => {
      const [answer] = await exchange(
        pool,
        { topic: `${T}/twin/update`, payload: '{"event_id":"bad","timestamp":0,"twin":{"speed":{"actual":{"value":"fast"}},"temperature":{"expected":{"value":"20"}},"mode":{"actual":{"value":"ok"}}}}' },
        [`${T}/twin/update/result`],
        1,
      )
      const body = answer?.body as { event_id: string; code: number; errorCode: string; problems: Array<{ key: string; errorCode: string }> }
      assert.equal(body.event_id, 'bad')
      assert.equal(body.code, 400)
      assert.deepEqual(body.problems.map((p) => [p.key, p.errorCode]), [
        ['speed', 'TWIN_VALUE_INVALID'],
        ['temperature', 'TWIN_READ_ONLY'],
      ])
      // all-or-nothing: mode was not applied either
      const [get] = await exchange(pool, { topic: `${T}/twin/get`, payload: '{}' }, [`${T}/twin/get/result`], 1)
      assert.equal((get?.body as { twin: { mode: { actual: { value: string } } } }).twin.mode.actual.value, 'eco night')
    })

    it('§6.10 legacy state "OK" → state/update/result with the state as sent (§1.5.6); an unknown state is refused with 400', async () => {
      const [ok] = await exchange(pool, { topic: `${T}/state/update`, payload: `{"event_id":"","timestamp":${Date.now()},"state":"OK"}` }, [`${T}/state/update/result`], 1)
      assert.deepEqual(ok, { topic: `${T}/state/update/result`, body: { event_id: 'UUID', timestamp: 0, device: { name: 'fan-1', state: 'OK', lastOnlineTime: 'RFC3339' } } })
      const [bad] = await exchange(pool, { topic: `${T}/state/update`, payload: '{"event_id":"s2","timestamp":0,"state":"DISCONNECTED"}' }, [`${T}/state/update/result`], 1)
      assert.equal((bad?.body as { code: number }).code, 400)
      assert.equal((bad?.body as { errorCode: string }).errorCode, 'DEVICE_STATE_UNKNOWN')
    })

    it('DESIGN §4.4 malformed JSON gets a 400 on the device\'s own result topic', async () => {
      const [answer] = await exchange(pool, { topic: `${T}/twin/update`, payload: '{"twin": {"speed": ' }, [`${T}/twin/update/result`], 1)
      assert.equal((answer?.body as { code: number }).code, 400)
      assert.equal((answer?.body as { errorCode: string }).errorCode, 'TWIN_BAD_REQUEST')
    })

    it('§1.5.1 an unknown device gets a 404', async () => {
      const [answer] = await exchange(pool, { topic: '$hw/events/device/ghost/twin/update', payload: '{"event_id":"g","twin":{}}' }, ['$hw/events/device/ghost/twin/update/result'], 1)
      assert.deepEqual(answer?.body, { event_id: 'g', timestamp: 0, code: 404, reason: 'update rejected due to the device is not existed', errorCode: 'TWIN_DEVICE_NOT_FOUND' })
    })

    it('§2.2 malformed JSON for an unknown device is a 400, not a 404: the body is parsed first, as KubeEdge does', async () => {
      const [answer] = await exchange(pool, { topic: '$hw/events/device/ghost/twin/update', payload: '{"twin":' }, ['$hw/events/device/ghost/twin/update/result'], 1)
      assert.equal((answer?.body as { code: number }).code, 400)
      assert.equal((answer?.body as { errorCode: string }).errorCode, 'TWIN_BAD_REQUEST')
    })

    it('§1.5.4, §1.5.7 an empty payload on twin/get and membership/get is a 400, as KubeEdge answers it', async () => {
      const [get] = await exchange(pool, { topic: `${T}/twin/get`, payload: '' }, [`${T}/twin/get/result`], 1)
      assert.deepEqual([(get?.body as { code: number }).code, (get?.body as { errorCode: string }).errorCode], [400, 'TWIN_BAD_REQUEST'])
      const node = '$hw/events/node/edge-1/membership/get'
      const [members] = await exchange(pool, { topic: node, payload: '' }, [`${node}/result`], 1)
      assert.deepEqual([(members?.body as { code: number }).code, (members?.body as { errorCode: string }).errorCode], [400, 'TWIN_BAD_REQUEST'])
    })

    it('§2.11 an expected value of "" is no value: no expected side in the result, the document or get', async () => {
      const answers = await exchange(
        pool,
        { topic: `${T}/twin/update`, payload: '{"event_id":"none","timestamp":0,"twin":{"label":{"expected":{"value":""},"actual":{"value":"hall 3"}}}}' },
        [`${T}/twin/update/result`, `${T}/twin/update/document`],
        2,
      )
      const label = { actual: { value: 'hall 3', metadata: { timestamp: 0 } }, optional: true, metadata: { type: 'string' } }
      assert.deepEqual(answers, [
        { topic: `${T}/twin/update/result`, body: { event_id: 'none', timestamp: 0, twin: { label } } },
        { topic: `${T}/twin/update/document`, body: { event_id: 'none', timestamp: 0, twin: { label: { last: null, current: label } } } },
      ])
      const [get] = await exchange(pool, { topic: `${T}/twin/get`, payload: '{}' }, [`${T}/twin/get/result`], 1)
      assert.deepEqual((get?.body as { twin: Record<string, unknown> }).twin.label, label)
    })

    it('README deliberate differences: a membership/get naming another node is not answered; a state update for an unknown device gets a 404', async () => {
      // mosquitto_sub waits 2 s: nothing arrives on either node's result topic.
      const silent = await exchange(pool, { topic: '$hw/events/node/edge-9/membership/get', payload: '{"event_id":"other"}' }, ['$hw/events/node/+/membership/get/result'], 1, 2)
      assert.deepEqual(silent, [])
      const [ghost] = await exchange(pool, { topic: '$hw/events/device/ghost/state/update', payload: '{"event_id":"s","state":"online"}' }, ['$hw/events/device/ghost/state/update/result'], 1)
      assert.deepEqual([(ghost?.body as { code: number }).code, (ghost?.body as { errorCode: string }).errorCode], [404, 'TWIN_DEVICE_NOT_FOUND'])
    })

    it('DESIGN §4 a request in the <namespace>/<name> layout is answered in that layout', async () => {
      const [answer] = await exchange(pool, { topic: '$hw/events/device/default/fan-1/twin/get', payload: '{"event_id":"ns"}' }, ['$hw/events/device/default/fan-1/twin/get/result'], 1)
      assert.equal((answer?.body as { event_id: string }).event_id, 'ns')
    })

    it('§1.5.7 membership/get lists the node\'s devices with protocol and properties for mappers', async () => {
      const [answer] = await exchange(pool, { topic: '$hw/events/node/edge-1/membership/get', payload: '{"event_id":"m"}' }, ['$hw/events/node/edge-1/membership/get/result'], 1)
      const body = answer?.body as { event_id: string; devices: Array<Record<string, unknown>> }
      assert.equal(body.event_id, 'm')
      assert.equal(body.devices.length, 1)
      const device = body.devices[0] as { id: string; name: string; state: string; protocol: unknown; properties: Array<{ name: string; visitors: unknown }> }
      assert.equal(device.id, 'default/fan-1')
      assert.equal(device.state, 'OK', 'as the mapper sent it')
      assert.deepEqual(device.protocol, { protocolName: 'modbus', configData: { slaveID: 1 } })
      assert.deepEqual(device.properties.map((p) => p.name), ['speed', 'temperature', 'mode'])
      assert.deepEqual(device.properties[0]?.visitors, { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: 0, limit: 1 } })
    })
  })
}
