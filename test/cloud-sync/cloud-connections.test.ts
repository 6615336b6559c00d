/**
 * tern cloud reuses its connections to the API server: client-node 1.4 builds a new Agent (a new
 * TCP connection and TLS handshake) for every request, which at a few hundred status patches per
 * second leaves thousands of sockets in TIME_WAIT (bench/cloud.ts found it). ClientNodeKubeApi
 * keeps one keep-alive agent per cluster and credentials.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ClientNodeKubeApi, loadKubeConfig } from '../../cloud-sync/cloud/kube-api.js'
import { kubectlFor } from '../support/kube/kubectl.js'
import { startKubeEmulator } from '../support/kube/server.js'
import { makeTestPki } from '../support/pki.js'
import { scratchDir } from '../support/resources.js'

const root = join(import.meta.dirname, '../..')

describe('cloud sync, cloud: connections to the API server', function () {
  this.timeout(30_000)
  for (const scheme of ['https', 'http'] as const) {
    it(`${scheme}: 40 status patches and lists travel over a handful of kept-alive connections`, async () => {
      const dir = await scratchDir()
      const pki = await makeTestPki(dir.path)
      const kube = await startKubeEmulator(scheme === 'https' ? { token: 'admin', tls: { ...pki.server, ca: pki.ca } } : {})
      try {
        const kubectl = await kubectlFor(kube, dir.path)
        assert.equal((await kubectl.run(['apply', '-f', join(root, 'deploy/crds')])).code, 0)
        const model = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata: { name: m }\nspec: { protocol: modbus }\n'
        const device = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: d }\nspec: { deviceModelRef: { name: m }, nodeName: n1 }\n'
        assert.equal((await kubectl.run(['apply', '-f', '-'], `${model}---\n${device}`)).code, 0)
        const api = new ClientNodeKubeApi(loadKubeConfig(await kube.writeKubeconfig(join(dir.path, 'api-kubeconfig'))), {})
        const before = kube.connectionCount()
        for (let i = 0; i < 20; i++) {
          await api.patchDeviceStatus('default', 'd', { status: { state: i % 2 === 0 ? 'online' : 'offline' } })
          await api.list('devices')
        }
        const opened = kube.connectionCount() - before
        assert.ok(opened <= 3, `${opened} connections for 40 requests`)
      } finally {
        await kube.stop()
        await dir.remove()
      }
    })
  }
})
