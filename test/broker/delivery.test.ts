import assert from 'node:assert/strict'
import { grantedQos } from '../../broker/delivery.js'

describe('grantedQos: the QoS a client is granted for a topic [MQTT-3.3.5-1] [MQTT-3.8.4-6]', () => {
  const cases: Array<[string, Record<string, number>, string, number | undefined]> = [
    ['no subscription', {}, 'a/b', undefined],
    ['no matching subscription', { 'a/c': 2 }, 'a/b', undefined],
    ['the exact topic', { 'a/b': 1 }, 'a/b', 1],
    ['a wildcard', { 'a/+': 0 }, 'a/b', 0],
    ['the highest of overlapping subscriptions', { '#': 0, 'a/+': 2, 'a/b': 1 }, 'a/b', 2],
    ['a leading wildcard does not match a $ topic [MQTT-4.7.2-1]', { '#': 2, '+/x': 2 }, '$hw/x', undefined],
    ['$hw/# matches a $hw topic', { '#': 2, '$hw/#': 1 }, '$hw/x', 1],
  ]
  for (const [name, subs, topic, expected] of cases) {
    it(name, () => {
      const subscriptions = Object.fromEntries(Object.entries(subs).map(([filter, qos]) => [filter, { qos }]))
      assert.equal(grantedQos(subscriptions, topic), expected)
    })
  }
})
