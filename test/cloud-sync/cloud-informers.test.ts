/**
 * The informers behind the cloud controllers, against the emulator: list + watch resumed from the
 * last resourceVersion, relist on 410 Gone ("Kubernetes API Concepts: Efficient detection of
 * changes" — a client whose version is too old must relist), list/watch failures retried with
 * back-off, and validation of every object at the boundary (STYLE: validate once).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloudController } from '../../cloud-sync/cloud/controller.js'
import { loadKubeConfig } from '../../cloud-sync/cloud/kube-api.js'
import type { NodeDeviceSet } from '../../cloud-sync/messages.js'
import { TernError } from '../../schemas/tern-error.js'
import { typeId } from '../support/kube/registry.js'
import { scratchDir } from '../support/resources.js'
import { DEVICES, MODELS, device, eventually, installCrds, model, startHarness, type Harness } from './cloud-harness.js'

describe('cloud informers', function () {
  this.timeout(20_000)
  let h: Harness | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
  })

  it('relists after 410 Gone (watch resumed from a version the server no longer keeps) and the edge still gets the right changes', async () => {
    h = await startHarness({ emulator: { historySize: 5 } })
    await h.create(MODELS(), model('fan'))
    await h.create(DEVICES(), device('fan-1', 'edge-1'))
    await h.create(DEVICES(), device('fan-2', 'edge-2'))
    const edge = h.edge('edge-1')
    await edge.waitForCount(1)
    await eventually(() => h?.kube.watchCount() === 2, 5000, 'both watches open')
    const type = h.devicesType
    // Synchronously, so the informer cannot resume in between: end its watches, then more changes than the history keeps.
    h.kube.dropWatches()
    for (let i = 3; i <= 8; i++) h.kube.api.create(type, 'default', device(`fan-${i}`, 'edge-1'))
    h.kube.api.delete(type, 'default', 'fan-1', undefined)
    h.kube.api.patch(type, 'default', 'fan-2', 'application/merge-patch+json', { spec: { nodeName: 'edge-1' } }, undefined)
    await edge.waitForCount(9)
    assert.deepEqual(edge.ops(1).sort(), [
      'delete default/device/fan-1',
      'update default/device/fan-2',
      'update default/device/fan-3',
      'update default/device/fan-4',
      'update default/device/fan-5',
      'update default/device/fan-6',
      'update default/device/fan-7',
      'update default/device/fan-8',
    ])
    assert.equal(h.cloud.metrics().lists.devices, 2, 'one relist')
    assert.ok(h.logs.some((l) => l.informer === 'devices' && /410/.test(String(l.msg))))
    assert.deepEqual(h.cloud.informers.devices.list().map((d) => d.metadata.name).sort(), ['fan-2', 'fan-3', 'fan-4', 'fan-5', 'fan-6', 'fan-7', 'fan-8'])
    // Watching again from the relisted version.
    await h.create(DEVICES(), device('fan-9', 'edge-1'))
    await edge.waitFor((r) => r.some((m) => m.route.resource === 'default/device/fan-9'))
  })

  it('a watch the server ends is resumed from the last version, without a relist', async () => {
    h = await startHarness()
    await h.create(MODELS(), model('fan'))
    const edge = h.edge('edge-1')
    await edge.waitForCount(1)
    for (let round = 0; round < 3; round++) {
      await eventually(() => h?.kube.watchCount() === 2, 5000, 'watches open')
      h.kube.dropWatches()
      await h.create(DEVICES(), device(`fan-${round}`, 'edge-1'))
      await edge.waitFor((r) => r.some((m) => m.route.resource === `default/device/fan-${round}`))
    }
    assert.deepEqual(h.cloud.metrics().lists, { devices: 1, devicemodels: 1 })
    const watches = h.kube.requests.filter((r) => r.url.startsWith('/apis/devices.kubeedge.io/v1beta1/devices?') && r.url.includes('watch=true'))
    assert.ok(watches.length >= 3)
    assert.ok(watches.every((w) => /resourceVersion=\d+/.test(w.url) && w.url.includes('allowWatchBookmarks=true')), 'resumed from a version')
  })

  it('list failures (CRDs not installed yet) are retried with back-off; an edge attached meanwhile gets its resync once synced', async () => {
    h = await startHarness({ crds: false })
    const edge = h.edge('edge-1')
    await eventually(() => (h?.logs.filter((l) => l.code === 'CLOUD_KUBE_UNAVAILABLE').length ?? 0) >= 2, 5000, 'retried lists')
    assert.equal(edge.received.length, 0, 'no resync before the informers synced')
    await installCrds(h.kube)
    await h.create(MODELS(), model('fan'))
    await h.create(DEVICES(), device('fan-1', 'edge-1'))
    await edge.waitFor((r) => r.some((m) => m.route.operation === 'resync' && (m.content as NodeDeviceSet).devices.length === 1) || r.some((m) => m.route.resource === 'default/device/fan-1'))
    await eventually(() => h?.cloud.informers.devices.get('default', 'fan-1') !== undefined)
  })

  it('an invalid object from the API server is logged with its problems and treated as absent (and deleted when a valid one turns invalid)', async () => {
    h = await startHarness()
    await h.create(MODELS(), model('fan'))
    await h.create(DEVICES(), device('fan-1', 'edge-1'))
    const store = h.kube.api.store
    const id = typeId(h.devicesType)
    // What an older CRD version could have left in etcd: no deviceModelRef.
    const broken = { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name: 'broken', namespace: 'default', uid: 'u1' }, spec: { nodeName: 'edge-1' } }
    store.write('ADDED', id, structuredClone(broken))
    await eventually(() => h?.logs.some((l) => l.code === 'CLOUD_OBJECT_INVALID') === true, 5000, 'the invalid object logged')
    const edge = h.edge('edge-1')
    await edge.waitForCount(1)
    assert.deepEqual((edge.received[0]?.content as NodeDeviceSet).devices.map((d) => d.metadata.name), ['fan-1'])
    const logged = h.logs.find((l) => l.code === 'CLOUD_OBJECT_INVALID' && l.object === 'default/broken')
    assert.ok(logged, 'logged')
    assert.deepEqual(logged.problems, [{ path: '/spec/deviceModelRef', message: 'is required' }])
    assert.equal(code(await edge.twin('default', 'broken', { speed: { actual: { value: '1' } } })), 'CLOUD_DEVICE_UNKNOWN')
    // Fixed through the API: it appears.
    await h.mergePatch(`${DEVICES()}/broken`, { spec: { deviceModelRef: { name: 'fan' } } })
    await edge.waitFor((r) => r.some((m) => m.route.resource === 'default/device/broken' && m.route.operation === 'update'))
    // A valid object turning invalid is a delete.
    const fan1 = store.get(id, 'default', 'fan-1')
    assert.ok(fan1)
    ;(fan1.spec as Record<string, unknown>).properties = [{ desired: { value: 1 } }]
    store.write('MODIFIED', id, fan1)
    await edge.waitFor((r) => r.some((m) => m.route.resource === 'default/device/fan-1' && m.route.operation === 'delete'))
    assert.equal(h.cloud.informers.devices.get('default', 'fan-1'), undefined)
  })
})

const code = (answer: { route: { operation: string }; content?: unknown }): string | undefined => (answer.route.operation === 'error' ? (answer.content as { code: string }).code : undefined)

describe('cloud controller setup', function () {
  this.timeout(10_000)

  it('kubeconfig: the explicit file, else KUBECONFIG, else CLOUD_KUBE_UNAVAILABLE (no silent localhost:8080); an unreadable file is CLOUD_CONFIG_INVALID', async () => {
    const dir = await scratchDir('tern-kubeconfig-')
    const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME }
    try {
      const file = join(dir.path, 'config')
      const config = (server: string): string =>
        `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`
      await writeFile(file, config('https://explicit:6443'))
      assert.equal(loadKubeConfig(file).getCurrentCluster()?.server, 'https://explicit:6443')
      const env = join(dir.path, 'env-config')
      await writeFile(env, config('https://from-env:6443'))
      process.env.KUBECONFIG = env
      assert.equal(loadKubeConfig().getCurrentCluster()?.server, 'https://from-env:6443')
      delete process.env.KUBECONFIG
      process.env.HOME = dir.path
      assert.throws(() => loadKubeConfig(), (e: unknown) => e instanceof TernError && e.code === 'CLOUD_KUBE_UNAVAILABLE')
      assert.throws(() => loadKubeConfig(join(dir.path, 'missing')), (e: unknown) => e instanceof TernError && e.code === 'CLOUD_CONFIG_INVALID')
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
      await dir.remove()
    }
  })

  it('start rejects with CLOUD_KUBE_UNAVAILABLE when nothing syncs in syncTimeoutMs; stop is idempotent and safe after that', async () => {
    const h = await startHarness({ crds: false, start: false, cloud: { syncTimeoutMs: 300 } })
    try {
      await assert.rejects(h.cloud.start(), (e: unknown) => e instanceof TernError && e.code === 'CLOUD_KUBE_UNAVAILABLE')
      await h.cloud.stop()
      await h.cloud.stop()
      const neverStarted = new CloudController({ api: h.api, log: h.log })
      await neverStarted.stop()
    } finally {
      await h.close()
    }
  })
})
