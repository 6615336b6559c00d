import { strict as assert } from 'node:assert'
import { filterWithin, topicMatches } from '../../broker/topics.js'

describe('broker/topics', () => {
  const matches: Array<[string, string, boolean, string]> = [
    ['a/b', 'a/b', true, 'exact'],
    ['a/+', 'a/b', true, 'single level'],
    ['a/+', 'a/b/c', false, '+ is one level'],
    ['a/#', 'a', true, '[MQTT-4.7.1-2] # matches the parent level'],
    ['a/#', 'a/b/c', true, '# matches many levels'],
    ['#', '$hw/events/device/d/twin/update', false, '[MQTT-4.7.2-1] # does not match $ topics'],
    ['+/events/#', '$hw/events/x', false, '[MQTT-4.7.2-1] + does not match $ topics'],
    ['$hw/#', '$hw/events/device/d/twin/update', true, '$hw/# matches $hw topics'],
    ['a/+/c', 'a//c', true, 'empty level is a level'],
  ]
  for (const [filter, topic, expected, rule] of matches) {
    it(`topicMatches(${filter}, ${topic}) = ${expected}: ${rule}`, () => assert.equal(topicMatches(filter, topic), expected))
  }

  const within: Array<[string, string, boolean]> = [
    ['$hw/events/device/d1/#', '$hw/events/device/d1/#', true],
    ['$hw/events/device/d1/twin/+', '$hw/events/device/d1/#', true],
    ['$hw/events/device/+/twin/update', '$hw/events/device/d1/#', false],
    ['$hw/events/device/d1', '$hw/events/device/d1/#', true],
    ['#', 'public/#', false],
    ['public/a', 'public/+', true],
    ['public/+', 'public/a', false],
    ['$SYS/#', '#', false],
    ['a/#', '#', true],
  ]
  for (const [filter, allowed, expected] of within) {
    it(`filterWithin(${filter}, ${allowed}) = ${expected}`, () => assert.equal(filterWithin(filter, allowed), expected))
  }
})
