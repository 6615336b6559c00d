import assert from 'node:assert/strict'
import {
  DeviceReplySuffix,
  DeviceTopicSuffixes,
  NodeReplySuffix,
  NodeTopicSuffixes,
  deviceRef,
  deviceTopic,
  deviceTopicFilters,
  inboundTopicFilters,
  nodeTopic,
  nodeTopicFilter,
  parseTopic,
  type DeviceRef,
} from '../../schemas/topics.js'

/** MQTT 3.1.1 filter matching ([MQTT-4.7]) — enough to check that built topics meet the filters. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

// names that are also fragments of the topic: KubeEdge's substring search mis-parses some (§8.15)
const tricky = ['e', 'hw', '$hw', 'events', 'device', 'node', 'twin', 'update', 'result', 'get', 'state', 'updated', 'delta', 'document', 'cloud_updated', 'membership', 'default', 'sensor-1', 'a.b']

describe('schemas/topics', () => {
  describe('device topics: build and parse round trip (kubeedge-compat §1.4, DESIGN §4)', () => {
    for (const suffix of DeviceTopicSuffixes) {
      it(`flat <name>/${suffix} (KubeEdge ≤1.16)`, () => {
        for (const name of tricky) {
          const device: DeviceRef = { layout: 'name', name }
          const topic = deviceTopic(device, suffix)
          assert.equal(topic, `$hw/events/device/${name}/${suffix}`)
          assert.deepEqual(parseTopic(topic), { scope: 'device', suffix, device })
        }
      })
      it(`namespaced <namespace>/<name>/${suffix} (KubeEdge ≥1.17)`, () => {
        for (const namespace of tricky) {
          for (const name of tricky) {
            const device: DeviceRef = { layout: 'namespace/name', namespace, name }
            const topic = deviceTopic(device, suffix)
            assert.equal(topic, `$hw/events/device/${namespace}/${name}/${suffix}`)
            assert.deepEqual(parseTopic(topic), { scope: 'device', suffix, device })
          }
        }
      })
    }
  })

  describe('node topics round trip (§1.4 #11-#13)', () => {
    for (const suffix of NodeTopicSuffixes) {
      it(`<node>/${suffix}`, () => {
        for (const node of tricky) {
          const topic = nodeTopic(node, suffix)
          assert.equal(topic, `$hw/events/node/${node}/${suffix}`)
          assert.deepEqual(parseTopic(topic), { scope: 'node', suffix, node })
        }
      })
    }
  })

  describe('§8.15 exact parsing: suffix matched from the end', () => {
    const cases: Array<[string, ReturnType<typeof parseTopic>]> = [
      ['$hw/events/device/e/sensor/twin/update', { scope: 'device', suffix: 'twin/update', device: { layout: 'namespace/name', namespace: 'e', name: 'sensor' } }],
      ['$hw/events/device/hw/twin/twin/update', { scope: 'device', suffix: 'twin/update', device: { layout: 'namespace/name', namespace: 'hw', name: 'twin' } }],
      ['$hw/events/device/twin/update/twin/update/result', { scope: 'device', suffix: 'twin/update/result', device: { layout: 'namespace/name', namespace: 'twin', name: 'update' } }],
      ['$hw/events/device/state/state/state/update', { scope: 'device', suffix: 'state/update', device: { layout: 'namespace/name', namespace: 'state', name: 'state' } }],
      ['$hw/events/device/x/twin/updated', { scope: 'device', suffix: 'updated', device: { layout: 'namespace/name', namespace: 'x', name: 'twin' } }],
      ['$hw/events/device/update/twin/get', { scope: 'device', suffix: 'twin/get', device: { layout: 'name', name: 'update' } }],
      ['$hw/events/device/fan-1/twin/cloud_updated', { scope: 'device', suffix: 'twin/cloud_updated', device: { layout: 'name', name: 'fan-1' } }],
      ['$hw/events/node/membership/membership/get', { scope: 'node', suffix: 'membership/get', node: 'membership' }],
    ]
    for (const [topic, expected] of cases) it(topic, () => assert.deepEqual(parseTopic(topic), expected))
  })

  describe('rejects anything that is not exactly a DeviceTwin topic', () => {
    const rejects = [
      '',
      '$hw/events/device/',
      '$hw/events/device/twin/update', // no device id
      '$hw/events/device//twin/update', // empty level
      '$hw/events/device/a//twin/update',
      '$hw/events/device/a/b/c/twin/update', // three id levels
      '$hw/events/device/a/twin/update/', // trailing slash
      '$hw/events/device/a/twin/unknown',
      '$hw/events/device/a/twin',
      '$hw/events/device/a/state/get', // declared by KubeEdge but has no handler
      '$hw/events/device/+/twin/update', // a filter, not a topic
      '$hw/events/device/a/#',
      '$hw/events/device/ns/+/twin/update',
      '$hw/events/node/a/b/membership/get', // node is one level
      '$hw/events/node//membership/get',
      '$hw/events/node/n/membership/detail',
      '$hw/events/upload/x',
      '$ke/events/device/a/data/update',
      'hw/events/device/a/twin/update',
      '$HW/events/device/a/twin/update',
      'SYS/dis/upload_records',
    ]
    for (const topic of rejects) it(JSON.stringify(topic), () => assert.equal(parseTopic(topic), undefined))
  })

  describe('builders', () => {
    it('refuse levels that would change the topic structure', () => {
      for (const bad of ['', 'a/b', '+', '#', 'a+b', 'x#']) {
        assert.throws(() => deviceTopic({ layout: 'name', name: bad }, 'twin/update'), TypeError)
        assert.throws(() => deviceTopic({ layout: 'namespace/name', namespace: bad, name: 'n' }, 'twin/update'), TypeError)
        assert.throws(() => nodeTopic(bad, 'membership/get'), TypeError)
      }
    })

    it('deviceRef answers in the layout asked for (DESIGN §4: edge-originated topics use the node layout)', () => {
      assert.deepEqual(deviceRef('name', 'default', 'fan-1'), { layout: 'name', name: 'fan-1' })
      assert.deepEqual(deviceRef('namespace/name', 'default', 'fan-1'), { layout: 'namespace/name', namespace: 'default', name: 'fan-1' })
    })

    it('the answer to a request goes to the same device on the same layout', () => {
      for (const device of [deviceRef('name', 'ns', 'd'), deviceRef('namespace/name', 'ns', 'd')]) {
        for (const [request, reply] of Object.entries(DeviceReplySuffix)) {
          const parsed = parseTopic(deviceTopic(device, request as keyof typeof DeviceReplySuffix))
          assert.ok(parsed?.scope === 'device')
          assert.equal(deviceTopic(parsed.device, reply), deviceTopic(device, reply))
        }
      }
      assert.equal(nodeTopic('n1', NodeReplySuffix['membership/get']), '$hw/events/node/n1/membership/get/result')
    })
  })

  describe('subscription filters (§1.1)', () => {
    it('each device filter pair matches both layouts and nothing of another suffix', () => {
      for (const suffix of DeviceTopicSuffixes) {
        const [flat, namespaced] = deviceTopicFilters(suffix)
        assert.ok(matches(flat, deviceTopic({ layout: 'name', name: 'd' }, suffix)))
        assert.ok(matches(namespaced, deviceTopic({ layout: 'namespace/name', namespace: 'ns', name: 'd' }, suffix)))
        for (const other of DeviceTopicSuffixes.filter((s) => s !== suffix)) {
          assert.ok(!matches(flat, deviceTopic({ layout: 'name', name: 'd' }, other)))
          assert.ok(!matches(namespaced, deviceTopic({ layout: 'namespace/name', namespace: 'ns', name: 'd' }, other)))
        }
      }
      assert.ok(matches(nodeTopicFilter('membership/get'), nodeTopic('edge-1', 'membership/get')))
    })

    it('inbound filters cover exactly the requests an edge serves', () => {
      assert.deepEqual(inboundTopicFilters(), [
        '$hw/events/device/+/twin/update',
        '$hw/events/device/+/+/twin/update',
        '$hw/events/device/+/twin/get',
        '$hw/events/device/+/+/twin/get',
        '$hw/events/device/+/twin/cloud_updated',
        '$hw/events/device/+/+/twin/cloud_updated',
        '$hw/events/device/+/state/update',
        '$hw/events/device/+/+/state/update',
        '$hw/events/node/+/membership/get',
      ])
    })
  })
})
