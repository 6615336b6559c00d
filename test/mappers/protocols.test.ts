/** The protocol registry (mappers/protocols.ts): entries load their folder when used, keyed by the protocol's name. */
import assert from 'node:assert/strict'
import { protocolFactory, protocolNames } from '../../mappers/protocols.js'

describe('mapper protocol registry', () => {
  it('every entry loads a protocol whose name is its key', async () => {
    assert.deepEqual(protocolNames(), ['bluetooth', 'modbus', 'opcua', 'virtual'])
    for (const name of protocolNames()) {
      const factory = await protocolFactory(name)
      assert.ok(factory, name)
      const protocol = factory({ dataDir: '/nonexistent' })
      assert.equal(protocol.name, name)
      await protocol.close?.()
    }
  })

  it('an unknown name, or one of Object.prototype, has no factory', async () => {
    assert.equal(await protocolFactory('zigbee'), undefined)
    assert.equal(await protocolFactory('toString'), undefined)
  })
})
