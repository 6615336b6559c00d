/** The driver contract suite (test/mappers/driver-contract.ts) for OPC-UA against a node-opcua server. */
import { opcuaProtocol } from '../../mappers/opcua/protocol.js'
import { startOpcuaServer, boilerDevice, type OpcuaPeer } from '../support/opcua.js'
import { freePort, scratchDir } from '../support/resources.js'
import { driverContract } from './driver-contract.js'

describe('opcua: driver contract', function () {
  this.timeout(60_000)
  let peer: OpcuaPeer
  let dir: { path: string; remove(): Promise<void> }
  before(async () => {
    dir = await scratchDir('tern-opcua-')
    peer = await startOpcuaServer({ port: await freePort(), pki: `${dir.path}/server-pki` })
  })
  after(async () => {
    await peer.stop()
    await dir.remove()
  })

  driverContract('opcua (node-opcua server)', async () => ({
    protocol: opcuaProtocol({ dataDir: dir.path }),
    device: boilerDevice('boiler-1', peer.url),
    writable: { property: 'temperature', values: ['-12.75', '1500.5'] },
    unreachable: boilerDevice('gone', `opc.tcp://127.0.0.1:${await freePort()}`),
  }))
})
