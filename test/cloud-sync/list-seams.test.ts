/**
 * Every list seam of tern cloud's informers asks for a page and returns the page's continue token
 * (client-go's pager over client-node's typed lists, which name it `_continue`, and the custom
 * objects list, raw JSON `continue`) and the size of the response body (what the pager sizes the
 * next page by): each resource, two objects in pages of one, against the API emulator.
 */
import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { ClientNodeCoreApi } from '../../cloud-sync/cloud/core-api.js'
import { ClientNodeKubeApi, loadKubeConfig, type KubeList, type PageRequest } from '../../cloud-sync/cloud/kube-api.js'
import { EDGE_ROLE_LABEL } from '../../cloud-sync/cloud/node-object.js'
import { ClientNodeWorkloadApi } from '../../cloud-sync/cloud/workload-api.js'
import { ClientNodeIdentityApi } from '../../cloud-sync/identity/identity-api.js'
import { RECORD_SELECTOR } from '../../cloud-sync/identity/node-identities.js'
import { CONFIGMAPS, NODES, PODS } from '../support/kube/core-types.js'
import { call } from '../support/kube/http.js'
import { SECRETS } from '../support/kube/registry.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'
import { scratchDir } from '../support/resources.js'
import { until } from '../support/cloud.js'
import { device, installCrds, model } from './cloud-harness.js'

type Lister = (page: PageRequest) => Promise<KubeList>

describe('the informers’ list seams page (client-node against the API emulator)', function () {
  this.timeout(30_000)
  let kube: KubeEmulator
  let dir: Awaited<ReturnType<typeof scratchDir>>
  const seams: Record<string, Lister> = {}

  before(async () => {
    kube = await startKubeEmulator()
    dir = await scratchDir()
    await installCrds(kube)
    const [recordKey, recordValue] = RECORD_SELECTOR.split('=') as [string, string]
    for (const name of ['a', 'b']) {
      assert.equal((await call(kube, 'POST', '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devicemodels', model(`fan-${name}`))).status, 201)
      assert.equal((await call(kube, 'POST', '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices', device(`dev-${name}`, 'edge-a'))).status, 201)
      kube.api.create(NODES, '', { apiVersion: 'v1', kind: 'Node', metadata: { name: `edge-${name}`, labels: { [EDGE_ROLE_LABEL]: '' } } })
      kube.api.create(PODS, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${name}`, namespace: 'default' }, spec: { nodeName: 'edge-a', containers: [{ name: 'app', image: 'busybox:1' }] } })
      kube.api.create(CONFIGMAPS, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${name}`, namespace: 'default' }, data: {} })
      kube.api.create(SECRETS, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: `record-${name}`, namespace: 'default', labels: { [recordKey]: recordValue } }, data: {} })
    }
    const kc = loadKubeConfig(await kube.writeKubeconfig(join(dir.path, 'kubeconfig')))
    const devices = new ClientNodeKubeApi(kc)
    const core = new ClientNodeCoreApi(kc)
    const workloads = new ClientNodeWorkloadApi(kc)
    const identity = new ClientNodeIdentityApi(kc, 'default', RECORD_SELECTOR)
    Object.assign(seams, {
      devices: (p: PageRequest) => devices.list('devices', p),
      devicemodels: (p: PageRequest) => devices.list('devicemodels', p),
      'edge-nodes': (p: PageRequest) => core.list('edge-nodes', p),
      pods: (p: PageRequest) => workloads.list('pods', p),
      configmaps: (p: PageRequest) => workloads.list('configmaps', p),
      // (the cluster's own Secrets are the node records here)
      secrets: (p: PageRequest) => workloads.list('secrets', p),
      'identity nodes': (p: PageRequest) => identity.list('nodes', p),
      'node records': (p: PageRequest) => identity.list('node-records', p),
    })
  })
  after(async () => {
    await kube.stop()
    await dir.remove()
  })

  for (const name of ['devices', 'devicemodels', 'edge-nodes', 'pods', 'configmaps', 'secrets', 'identity nodes', 'node records']) {
    it(`${name}: a page of one with a continue token and its bytes, then the last page without one, at the same resourceVersion`, async () => {
      const list = seams[name] as Lister
      const first = await list({ limit: 1 })
      await until('the request logged', () => Promise.resolve(kube.requests.at(-1)), (r) => r?.method === 'GET' && r.url.includes('limit=1'))
      assert.equal(first.bytes, kube.requests.at(-1)?.bytes, 'the bytes of the response body as sent')
      assert.equal(first.items.length, 1)
      assert.ok(first.continue !== undefined && first.continue !== '', 'a continue token')
      const second = await list({ limit: 1, continue: first.continue })
      assert.equal(second.items.length, 1)
      assert.equal(second.continue, undefined)
      assert.equal(second.resourceVersion, first.resourceVersion)
      const names = [...first.items, ...second.items].map((o) => (o as { metadata: { name: string } }).metadata.name)
      assert.equal(new Set(names).size, 2)
    })
  }
})
