/**
 * The Kubernetes API emulator with real clients (DESIGN.md §10): the preinstalled kubectl v1.32 and
 * @kubernetes/client-node 1.x, the two clients tern's cloud side and its operators use. The
 * kubectl walkthrough is an operator's (DESIGN.md §1: apply, patch a desired value, get), minus the
 * edge.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { parse } from 'yaml'
import { kubectlFor, type Kubectl } from '../support/kube/kubectl.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'
import { scratchDir } from '../support/resources.js'

const root = resolve(import.meta.dirname, '../..')
const FAN = join(root, 'examples/modbus/devices/fan.yaml')
const GROUP = 'devices.kubeedge.io'
const VERSION = 'v1beta1'

type Obj = { metadata: Record<string, unknown>; spec?: Record<string, unknown>; status?: Record<string, unknown> }

describe('Kubernetes API emulator with kubectl v1.32 (apply, patch, get, delete)', function () {
  this.timeout(60_000)
  let kube: KubeEmulator
  let kubectl: Kubectl
  let dir: Awaited<ReturnType<typeof scratchDir>>
  const ok = async (...args: string[]): Promise<string> => {
    const r = await kubectl.run(args)
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}\n${r.stderr}`)
    return r.stdout
  }
  const device = async (): Promise<Obj> => parse(await ok('get', 'device', 'fan-1', '-o', 'yaml')) as Obj

  before(async () => {
    kube = await startKubeEmulator()
    dir = await scratchDir('tern-kubectl-')
    kubectl = await kubectlFor(kube, dir.path)
  })
  after(async () => {
    await kube.stop()
    await dir.remove()
  })

  it('kubectl apply -f deploy/crds/ creates both CRDs (validation left to the server: fieldValidation=Strict)', async () => {
    const out = await ok('apply', '-f', join(root, 'deploy/crds/'))
    assert.match(out, /customresourcedefinition.apiextensions.k8s.io\/devicemodels.devices.kubeedge.io created/)
    assert.match(out, /customresourcedefinition.apiextensions.k8s.io\/devices.devices.kubeedge.io created/)
    assert.ok(kube.requests.some((r) => r.method === 'GET' && r.url.startsWith('/openapi/v3/apis/apiextensions.k8s.io/v1')))
    assert.ok(kube.requests.some((r) => r.method === 'POST' && r.url.includes('fieldValidation=Strict')))
    assert.match(await ok('get', 'crds'), /devices\.devices\.kubeedge\.io/)
    assert.match(await ok('apply', '-f', join(root, 'deploy/crds/')), /devices.devices.kubeedge.io unchanged/)
  })

  it('kubectl apply of the example DeviceModel + Device, then kubectl get devices with the printer columns', async () => {
    const out = await ok('apply', '-f', FAN)
    assert.match(out, /devicemodel.devices.kubeedge.io\/modbus-fan created/)
    assert.match(out, /device.devices.kubeedge.io\/fan-1 created/)
    const table = (await ok('get', 'devices')).trim().split('\n')
    assert.match(table[0] ?? '', /^NAME\s+NODE\s+MODEL\s+STATE\s+AGE$/)
    // No node and no state yet: the server sends null cells, which kubectl prints blank.
    assert.match(table[1] ?? '', /^fan-1\s+modbus-fan\s+\d+s$/)
    assert.match(await ok('get', 'devicemodels'), /modbus-fan\s+modbus/)
    assert.match(await ok('get', 'devices', '-A'), /default\s+fan-1/)
  })

  it('re-applying the unchanged file changes nothing; a changed file is sent as a JSON merge patch', async () => {
    const before = (await device()).metadata.resourceVersion
    assert.match(await ok('apply', '-f', FAN), /device.devices.kubeedge.io\/fan-1 unchanged/)
    assert.equal((await device()).metadata.resourceVersion, before)
    const changed = (await readFile(FAN, 'utf8')).replace('desired: { value: "true" }', 'desired: { value: "false" }')
    const r = await kubectl.run(['apply', '-f', '-'], changed)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /device.devices.kubeedge.io\/fan-1 configured/)
    const patch = kube.requests.filter((q) => q.method === 'PATCH' && q.url.includes('/devices/fan-1')).pop()
    assert.equal(patch?.contentType, 'application/merge-patch+json')
    const running = ((await device()).spec?.properties as { name: string; desired?: { value: string } }[]).find((p) => p.name === 'running')
    assert.equal(running?.desired?.value, 'false')
  })

  it('kubectl patch --type merge and --type json; kubectl get -o yaml shows the result and the new generation', async () => {
    const before = await device()
    assert.match(await ok('patch', 'device', 'fan-1', '--type', 'merge', '-p', '{"spec":{"nodeName":"edge-1"}}'), /fan-1 patched/)
    const index = (before.spec?.properties as { name: string }[]).findIndex((p) => p.name === 'running')
    await ok('patch', 'device', 'fan-1', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: `/spec/properties/${index}/desired/value`, value: 'true' }]))
    const after = await device()
    assert.equal(after.spec?.nodeName, 'edge-1')
    assert.equal((after.spec?.properties as { desired?: { value: string } }[])[index]?.desired?.value, 'true')
    assert.equal(after.metadata.generation, Number(before.metadata.generation) + 2)
    assert.match(String((after.metadata.annotations as Record<string, string>)['kubectl.kubernetes.io/last-applied-configuration']), /"modbus-fan"/)
  })

  it('kubectl patch --subresource=status writes status, shown in the STATE column', async () => {
    await ok('patch', 'device', 'fan-1', '--subresource=status', '--type', 'merge', '-p', '{"status":{"state":"online"}}')
    assert.match(await ok('get', 'devices'), /fan-1\s+edge-1\s+modbus-fan\s+online/)
    const r = await kubectl.run(['patch', 'device', 'fan-1', '--type', 'merge', '-p', '{"status":{"state":"offline"}}'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /fan-1 patched \(no change\)/)
  })

  it('kubectl get devices -w sees a change, then is stopped by its PID', async () => {
    const watch = kubectl.spawn(['get', 'devices', '-w'])
    try {
      await watch.waitForLine((l) => /^fan-1\s.*online/.test(l))
      await ok('patch', 'device', 'fan-1', '--subresource=status', '--type', 'merge', '-p', '{"status":{"state":"offline"}}')
      await watch.waitForLine((l) => /^fan-1\s.*offline/.test(l))
    } finally {
      await watch.stop()
    }
  })

  it('invalid objects are refused with the server messages kubectl prints (422 Invalid, strict decoding)', async () => {
    const bad = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: bad }
spec:
  properties:
    - { name: a, type: WAT }
    - { name: a, type: INT }
`
    const r = await kubectl.run(['apply', '-f', '-'], bad)
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /DeviceModel "bad" is invalid/)
    assert.match(r.stderr, /spec.properties\[0\].type: Unsupported value: "WAT"/)
    assert.match(r.stderr, /spec.properties\[1\]: Duplicate value/)
    const unknown = await kubectl.run(['apply', '-f', '-'], bad.replace(/properties:[\s\S]*/, 'bogus: 1\n'))
    assert.notEqual(unknown.code, 0)
    assert.match(unknown.stderr, /strict decoding error: unknown field "spec.bogus"/)
  })

  it('kubectl delete removes the device; kubectl get then reports NotFound', async () => {
    assert.match(await ok('delete', 'device', 'fan-1'), /device.devices.kubeedge.io "fan-1" deleted/)
    const r = await kubectl.run(['get', 'device', 'fan-1'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /Error from server \(NotFound\): devices.devices.kubeedge.io "fan-1" not found/)
  })
})

describe('Kubernetes API emulator with @kubernetes/client-node 1.x', function () {
  this.timeout(20_000)
  let kube: KubeEmulator
  let kc: k8s.KubeConfig
  let dir: Awaited<ReturnType<typeof scratchDir>>
  let api: k8s.CustomObjectsApi
  const base = { group: GROUP, version: VERSION, namespace: 'default', plural: 'devices' }
  const body = (name: string): object => ({ apiVersion: `${GROUP}/${VERSION}`, kind: 'Device', metadata: { name }, spec: { deviceModelRef: { name: 'fan' } } })

  before(async () => {
    kube = await startKubeEmulator({ historySize: 5 })
    dir = await scratchDir('tern-client-node-')
    const kubectl = await kubectlFor(kube, dir.path)
    assert.equal((await kubectl.run(['apply', '-f', join(root, 'deploy/crds/')])).code, 0)
    kc = new k8s.KubeConfig()
    kc.loadFromFile(join(dir.path, 'kubeconfig'))
    api = kc.makeApiClient(k8s.CustomObjectsApi)
  })
  after(async () => {
    await kube.stop()
    await dir.remove()
  })

  it('create, list, merge-patch the status subresource, and 409 on a stale replace', async () => {
    const created = (await api.createNamespacedCustomObject({ ...base, body: body('dev1') })) as Obj
    const list = (await api.listNamespacedCustomObject(base)) as { items: Obj[]; metadata: { resourceVersion: string } }
    assert.deepEqual(list.items.map((i) => i.metadata.name), ['dev1'])
    const patched = (await api.patchNamespacedCustomObjectStatus(
      { ...base, name: 'dev1', body: { status: { twins: [{ propertyName: 'speed', reported: { value: '1' } }] } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )) as Obj
    assert.equal(((patched.status?.twins as { reported: { value: string } }[])[0])?.reported.value, '1')
    await assert.rejects(
      api.replaceNamespacedCustomObject({ ...base, name: 'dev1', body: { ...created, spec: { deviceModelRef: { name: 'other' } } } }),
      (error: unknown) => error instanceof k8s.ApiException && error.code === 409,
    )
  })

  it('an informer lists, watches, and relists after a 410 Expired (history compacted while it was disconnected)', async () => {
    const informer = k8s.makeInformer(kc, `/apis/${GROUP}/${VERSION}/namespaces/default/devices`, () => api.listNamespacedCustomObject(base) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>)
    const added: string[] = []
    const updated: string[] = []
    const waitFor = async (test: () => boolean): Promise<void> => {
      const deadline = Date.now() + 5000
      while (!test()) {
        if (Date.now() > deadline) throw new Error(`timed out; added=${added.join()} updated=${updated.join()}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    informer.on('add', (o) => added.push(o.metadata?.name ?? ''))
    informer.on('update', (o) => updated.push(o.metadata?.name ?? ''))
    informer.on('error', () => undefined)
    await informer.start()
    try {
      await waitFor(() => added.includes('dev1') && kube.watchCount() === 1)
      await api.createNamespacedCustomObject({ ...base, body: body('dev2') })
      await waitFor(() => added.includes('dev2'))
      const devices = kube.api.findType(GROUP, VERSION, 'devices')
      assert.ok(devices)
      // Synchronously, before the informer can reconnect: end its watch, write, compact.
      kube.dropWatches()
      for (let i = 3; i <= 9; i++) kube.api.create(devices, 'default', body(`dev${i}`))
      kube.api.store.compact()
      await waitFor(() => added.includes('dev9'))
      assert.ok(kube.requests.some((r) => r.url.includes('watch=true') && r.status === 200), 'watched')
      const lists = kube.requests.filter((r) => r.method === 'GET' && !r.url.includes('watch') && r.url.endsWith('/namespaces/default/devices'))
      assert.ok(lists.length >= 2, 'relisted after 410')
      assert.deepEqual([...new Set(added)].sort(), ['dev1', 'dev2', 'dev3', 'dev4', 'dev5', 'dev6', 'dev7', 'dev8', 'dev9'])
    } finally {
      await informer.stop()
    }
  })
})
