/**
 * An OPC-UA link whose values do not change carries only keep-alives, and must stay up (with the
 * default settings the link once dropped every ~10 s, the socket idle timeout being the
 * 5 s request timeout). A run of minutes at the defaults is too slow for every test run, so this
 * runs the same ratio of intervals five times faster: request timeout 1 s (session keep-alive 1 s)
 * and publishing interval 200 ms (an idle subscription publishes every 10 intervals, 2 s), as the
 * defaults are 5 s, 5 s and 10 s. 40 s here stand for 200 s at the defaults.
 */
import assert from 'node:assert/strict'
import { opcuaProtocol } from '../../mappers/opcua/protocol.js'
import { opcuaPeerEach, opcuaProperty } from '../support/opcua.js'
import { protocolHarness } from '../support/protocol-harness.js'

const IDLE_MS = Number(process.env.TERN_TEST_OPCUA_IDLE_MS ?? 40_000)

describe('opcua mapper: an idle link stays up', function () {
  this.timeout(IDLE_MS + 240_000)
  const start = protocolHarness()
  const opcua = opcuaPeerEach()

  it(`values that do not change for ${IDLE_MS / 1000} s (five times the default intervals' pace): one session, never offline`, async () => {
    // TERN_TEST_OPCUA_DEFAULTS=1 runs the default settings themselves (a long run by hand)
    const defaults = process.env.TERN_TEST_OPCUA_DEFAULTS === '1'
    const device = {
      id: 'boiler-1',
      name: 'boiler-1',
      namespace: 'default',
      model: 'boiler-model',
      protocol: { protocolName: 'opcua', configData: { url: opcua.peer().url, ...(defaults ? {} : { timeout: 1000 }) } },
      properties: [
        opcuaProperty('temperature', 'DOUBLE', { nodeID: 'ns=1;s=Temperature' }, { collectCycle: defaults ? undefined : 200 }),
        opcuaProperty('mode', 'STRING', { nodeID: 'ns=1;s=Mode' }, { collectCycle: defaults ? undefined : 200 }),
      ],
    }
    const h = await start({ devices: [device], protocol: opcuaProtocol({ dataDir: opcua.dir() }), dataDir: opcua.dir(), mapper: { heartbeatMs: 0 } })
    await h.until(() => h.actual('boiler-1', 'temperature') === '21.5' && h.state('boiler-1') === 'online', 'the first values, online', 120_000)
    // (a first connect may fail on a loaded machine: count from the first session on)
    const sessions = h.logs.filter((l) => l.msg === 'OPC-UA session open').length
    const states = h.on('boiler-1', 'state/update').length
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS))
    assert.deepEqual(h.logged('OPCUA_CONNECTION_LOST').map((l) => l.msg), [], 'no link lost')
    assert.equal(h.logs.filter((l) => l.msg === 'OPC-UA session open').length, sessions, 'the same session all along')
    assert.deepEqual(h.on('boiler-1', 'state/update').slice(states).map((p) => p.body.state), [], 'never offline')
    // and the link still carries changes
    await opcua.peer().set('Temperature', 23.75)
    await h.until(() => h.actual('boiler-1', 'temperature') === '23.75', 'a change after the idle spell')
  })
})
