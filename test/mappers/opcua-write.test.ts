/**
 * An OPC-UA write and its read-back against notifications already on their way:
 * a notification the server sampled before the write can arrive after it. It must not overwrite the
 * read-back, or the twin's actual falls back to the old value and the value is written again. Made
 * deterministic with a long publishing interval: the device is written right after it connects
 * (a desired value pending in its spec), while the first notification — the value sampled when the
 * monitored item was created, before the write — waits for the first publish, 2 s later.
 */
import assert from 'node:assert/strict'
import { opcuaProtocol } from '../../mappers/opcua/protocol.js'
import { opcuaPeerEach, opcuaProperty } from '../support/opcua.js'
import { protocolHarness } from '../support/protocol-harness.js'

const PUBLISHING_MS = 3000
const SAMPLING_MS = 10_000

describe('opcua mapper: a write is read back, and older notifications do not undo it', function () {
  this.timeout(240_000)
  const start = protocolHarness()
  const opcua = opcuaPeerEach()

  it('a notification sampled before the write arrives after it: the twin never returns to the old value, and the value is written once', async () => {
    const device = {
      id: 'boiler-1',
      name: 'boiler-1',
      namespace: 'default',
      model: 'boiler-model',
      protocol: { protocolName: 'opcua', configData: { url: opcua.peer().url, publishingInterval: PUBLISHING_MS } },
      properties: [opcuaProperty('counter', 'INT', { nodeID: 'ns=1;s=Counter' }, { collectCycle: SAMPLING_MS, desired: '42' })],
    }
    const h = await start({ devices: [device], protocol: opcuaProtocol({ dataDir: opcua.dir() }), dataDir: opcua.dir(), mapper: { heartbeatMs: 0 } })
    await h.until(() => h.actual('boiler-1', 'counter') === '42', 'the desired value written and read back', 120_000)
    // the pre-write notification arrives at the first publish (3 s); the next sample, 42, is taken
    // at 10 s and published at 12 s; the poll at 10 s answers from the notifications
    await new Promise((resolve) => setTimeout(resolve, SAMPLING_MS + 2 * PUBLISHING_MS))
    const reported = h
      .on('boiler-1', 'twin/update')
      .map((p) => (p.body.twin as Record<string, { actual?: { value: string } }> | undefined)?.counter?.actual?.value)
      .filter((v) => v !== undefined)
    const written = reported.indexOf('42')
    assert.ok(written >= 0, `the read-back reported: ${reported.join(', ')}`)
    assert.deepEqual(reported.slice(written).filter((v) => v !== '42'), [], `after the read-back only 42 is reported (reports: ${reported.join(', ')})`)
    assert.equal(h.actual('boiler-1', 'counter'), '42')
    assert.equal(await opcua.peer().command('writes Counter'), 'VALUE 1', 'written once')
  })
})
