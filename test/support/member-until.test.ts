/**
 * memberUntil, the poll the end-to-end tests wait on for a device to join or leave a node, against
 * the real DeviceTwin on a bus: it must see the membership as it is after it was called. It once
 * numbered its requests from 0 on every call and took the first answer in the client's inbox that
 * carried the number, so a second poll found the first poll's answer to its first request: a device
 * was reported gone while the edge still served it.
 */
import { strict as assert } from 'node:assert'
import { fakeDevice, prop } from '../mappers/runtime-fixtures.js'
import { memberUntil } from './cloud.js'
import { clientPool } from './mqtt.js'
import { startTwinOnBus } from './twin-on-bus.js'

describe('test support: memberUntil', function () {
  this.timeout(30_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  const pool = clientPool()

  it('does not take an answer given before it was called: a member is not reported gone while the twin still has it', async () => {
    const side = await startTwinOnBus({ devices: [], layout: 'name', now: () => Date.now(), undo })
    const app = await pool.connect(await side.listen())
    await app.client.subscribeAsync('$hw/events/node/edge-1/membership/get/result', { qos: 1 })

    await memberUntil(app, 'edge-1', (names) => names.length === 0, 'no members')
    await side.twin.setMembers([fakeDevice('fan-1', [prop('speed')])])
    await memberUntil(app, 'edge-1', (names) => names.includes('fan-1'), 'fan-1 to join')
    // fan-1 stays a member: the poll for it to leave must time out, whatever the inbox holds.
    await assert.rejects(memberUntil(app, 'edge-1', (names) => !names.includes('fan-1'), 'fan-1 to leave', 1500), /timed out waiting for fan-1 to leave; members: \["fan-1"\]/)

    await side.twin.setMembers([])
    await memberUntil(app, 'edge-1', (names) => !names.includes('fan-1'), 'fan-1 to leave')
  })
})
