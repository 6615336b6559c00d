/**
 * The Kubernetes API emulator (DESIGN.md §10) against documented API behaviour, over
 * plain HTTP. References: "Kubernetes API Concepts" (resource versions, watch, 410 Gone,
 * "Efficient detection of changes"), "Update API Objects in Place Using kubectl patch" (patch
 * types), CRD docs ("Status subresource", "Field pruning", "Validation"), API conventions
 * (Status kinds and reasons). kubectl and @kubernetes/client-node: emulator-clients.test.ts.
 */
import assert from 'node:assert/strict'
import { deviceCrd, deviceModelCrd } from '../../scripts/crds.js'
import { call, openWatch } from '../support/kube/http.js'
import { startKubeEmulator, type KubeEmulator } from '../support/kube/server.js'

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions'
const DEVICES = '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices'
const MODELS = '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devicemodels'

type Obj = Record<string, unknown> & { metadata: Record<string, unknown> }

function device(name: string, desired = '800'): Obj {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, labels: { room: 'a' } },
    spec: { deviceModelRef: { name: 'fan' }, nodeName: 'edge-1', properties: [{ name: 'speed', desired: { value: desired } }] },
  }
}

const meta = (o: Record<string, unknown>): Record<string, unknown> => o.metadata as Record<string, unknown>
const rvOf = (o: Record<string, unknown>): number => Number(meta(o).resourceVersion)

async function withCrds(kube: KubeEmulator): Promise<void> {
  for (const crd of [deviceCrd, deviceModelCrd]) assert.equal((await call(kube, 'POST', CRDS, crd)).status, 201)
}

describe('Kubernetes API emulator over HTTP', () => {
  let kube: KubeEmulator
  beforeEach(async () => {
    kube = await startKubeEmulator({ historySize: 20, bookmarkIntervalMs: 100 })
    await withCrds(kube)
  })
  afterEach(() => kube.stop())

  describe('discovery', () => {
    it('serves /version, /api, /apis and the CRD group once the CRD is created', async () => {
      assert.equal((await call(kube, 'GET', '/version')).body.major, '1')
      assert.deepEqual((await call(kube, 'GET', '/api')).body.versions, ['v1'])
      const groups = (await call(kube, 'GET', '/apis')).body.groups as { name: string }[]
      assert.deepEqual(groups.map((g) => g.name), ['apiextensions.k8s.io', 'coordination.k8s.io', 'devices.kubeedge.io'])
      const group = (await call(kube, 'GET', '/apis/devices.kubeedge.io')).body
      assert.deepEqual(group.preferredVersion, { groupVersion: 'devices.kubeedge.io/v1beta1', version: 'v1beta1' })
      const resources = (await call(kube, 'GET', '/apis/devices.kubeedge.io/v1beta1')).body.resources as { name: string; namespaced: boolean; kind: string }[]
      assert.deepEqual(resources.map((r) => [r.name, r.kind, r.namespaced]).sort(), [
        ['devicemodels', 'DeviceModel', true],
        ['devices', 'Device', true],
        ['devices/status', 'Device', true],
      ])
    })

    it('a CRD reports NamesAccepted and Established; deleting it stops serving the resource', async () => {
      const crd = (await call(kube, 'GET', `${CRDS}/devices.devices.kubeedge.io`)).body
      const conditions = (crd.status as { conditions: { type: string; status: string }[] }).conditions
      assert.deepEqual(conditions.map((c) => [c.type, c.status]), [['NamesAccepted', 'True'], ['Established', 'True']])
      assert.equal((await call(kube, 'POST', DEVICES, device('fan-1'))).status, 201)
      assert.equal((await call(kube, 'DELETE', `${CRDS}/devices.devices.kubeedge.io`)).status, 200)
      assert.equal((await call(kube, 'GET', `${DEVICES}/fan-1`)).status, 404)
      const left = (await call(kube, 'GET', '/apis/devices.kubeedge.io/v1beta1')).body.resources as { name: string }[]
      assert.deepEqual(left.map((r) => r.name), ['devicemodels'])
    })

    it('rejects a non-structural CRD with 422 Invalid', async () => {
      const bad = structuredClone(deviceModelCrd) as { metadata: { name: string }; spec: { names: { plural: string; kind: string; singular: string; listKind: string }; versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } }
      bad.metadata.name = 'things.devices.kubeedge.io'
      bad.spec.names = { plural: 'things', kind: 'Thing', singular: 'thing', listKind: 'ThingList' }
      const version = bad.spec.versions[0]
      assert.ok(version)
      version.schema.openAPIV3Schema = { type: 'object', properties: { spec: { properties: { x: { type: 'string' } } } } }
      const res = await call(kube, 'POST', CRDS, bad)
      assert.equal(res.status, 422)
      assert.equal(res.body.reason, 'Invalid')
    })
  })

  describe('CRUD and Status objects', () => {
    it('create → 201 with uid, creationTimestamp, resourceVersion, generation 1; again → 409 AlreadyExists', async () => {
      const res = await call(kube, 'POST', DEVICES, device('fan-1'))
      assert.equal(res.status, 201)
      const m = meta(res.body)
      assert.match(String(m.uid), /^[0-9a-f-]{36}$/)
      assert.match(String(m.creationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      assert.match(String(m.resourceVersion), /^\d+$/)
      assert.equal(m.generation, 1)
      assert.equal(m.namespace, 'default')
      const again = await call(kube, 'POST', DEVICES, device('fan-1'))
      assert.equal(again.status, 409)
      assert.deepEqual(again.body, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'devices.devices.kubeedge.io "fan-1" already exists',
        reason: 'AlreadyExists',
        details: { name: 'fan-1', group: 'devices.kubeedge.io', kind: 'devices' },
        code: 409,
      })
    })

    it('get of a missing object → 404 NotFound Status; a missing namespace → 404 for the namespace', async () => {
      const res = await call(kube, 'GET', `${DEVICES}/nope`)
      assert.equal(res.status, 404)
      assert.deepEqual([res.body.kind, res.body.reason, res.body.code, res.body.message], ['Status', 'NotFound', 404, 'devices.devices.kubeedge.io "nope" not found'])
      const ns = await call(kube, 'POST', '/apis/devices.kubeedge.io/v1beta1/namespaces/elsewhere/devices', device('fan-1'))
      assert.equal(ns.status, 404)
      assert.equal(ns.body.message, 'namespaces "elsewhere" not found')
    })

    it('list carries the current resourceVersion of one global counter across kinds', async () => {
      const a = await call(kube, 'POST', DEVICES, device('fan-1'))
      const model = await call(kube, 'POST', MODELS, { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', metadata: { name: 'fan' }, spec: { properties: [] } })
      assert.equal(rvOf(model.body), rvOf(a.body) + 1)
      const list = await call(kube, 'GET', DEVICES)
      assert.equal(list.body.kind, 'DeviceList')
      assert.equal(meta(list.body).resourceVersion, String(rvOf(model.body)))
      assert.deepEqual((list.body.items as Obj[]).map((i) => i.metadata.name), ['fan-1'])
      const all = await call(kube, 'GET', '/apis/devices.kubeedge.io/v1beta1/devices')
      assert.equal((all.body.items as Obj[]).length, 1)
      const none = await call(kube, 'GET', `${DEVICES}?labelSelector=room%3Db`)
      assert.deepEqual(none.body.items, [])
    })

    it('PUT with a stale metadata.resourceVersion → 409 Conflict; without one → 422; with the current one → 200', async () => {
      const created = (await call(kube, 'POST', DEVICES, device('fan-1'))).body as Obj
      const first = structuredClone(created)
      ;(first.spec as { nodeName: string }).nodeName = 'edge-2'
      const ok = await call(kube, 'PUT', `${DEVICES}/fan-1`, first)
      assert.equal(ok.status, 200)
      assert.ok(rvOf(ok.body) > rvOf(created))
      const stale = await call(kube, 'PUT', `${DEVICES}/fan-1`, { ...created, spec: { ...(created.spec as object), nodeName: 'edge-3' } })
      assert.equal(stale.status, 409)
      assert.equal(stale.body.reason, 'Conflict')
      assert.equal(
        stale.body.message,
        'Operation cannot be fulfilled on devices.devices.kubeedge.io "fan-1": the object has been modified; please apply your changes to the latest version and try again',
      )
      const noRv = structuredClone(ok.body) as Obj
      delete noRv.metadata.resourceVersion
      assert.equal((await call(kube, 'PUT', `${DEVICES}/fan-1`, noRv)).status, 422)
      assert.equal((await call(kube, 'PUT', `${DEVICES}/missing`, { ...noRv, metadata: { name: 'missing', resourceVersion: '1' } })).status, 404)
    })

    it('delete → 200 with the object; then 404', async () => {
      await call(kube, 'POST', DEVICES, device('fan-1'))
      const res = await call(kube, 'DELETE', `${DEVICES}/fan-1`)
      assert.equal(res.status, 200)
      assert.equal(meta(res.body).name, 'fan-1')
      assert.equal((await call(kube, 'DELETE', `${DEVICES}/fan-1`)).status, 404)
    })
  })

  describe('patch types', () => {
    beforeEach(async () => {
      await call(kube, 'POST', DEVICES, device('fan-1'))
    })

    it('merge patch (RFC 7386): objects merge, null deletes, lists are replaced whole', async () => {
      const res = await call(kube, 'PATCH', `${DEVICES}/fan-1`, { metadata: { labels: { room: null, floor: '2' } }, spec: { properties: [{ name: 'rpm' }] } }, 'application/merge-patch+json')
      assert.equal(res.status, 200)
      assert.deepEqual(meta(res.body).labels, { floor: '2' })
      assert.deepEqual((res.body.spec as { properties: unknown }).properties, [{ name: 'rpm' }])
      assert.equal((res.body.spec as { nodeName: string }).nodeName, 'edge-1')
    })

    it('JSON patch (RFC 6902): add/replace/remove apply atomically; a failed test → 422 and nothing changes', async () => {
      const ops = [
        { op: 'replace', path: '/spec/properties/0/desired/value', value: '1200' },
        { op: 'add', path: '/spec/properties/-', value: { name: 'rpm' } },
        { op: 'remove', path: '/spec/nodeName' },
      ]
      const res = await call(kube, 'PATCH', `${DEVICES}/fan-1`, ops, 'application/json-patch+json')
      assert.equal(res.status, 200)
      const spec = res.body.spec as { nodeName?: string; properties: { name: string; desired?: { value: string } }[] }
      assert.deepEqual([spec.nodeName, spec.properties.map((p) => p.name), spec.properties[0]?.desired?.value], [undefined, ['speed', 'rpm'], '1200'])
      const failed = await call(kube, 'PATCH', `${DEVICES}/fan-1`, [{ op: 'add', path: '/spec/nodeName', value: 'x' }, { op: 'test', path: '/spec/properties/0/name', value: 'nope' }], 'application/json-patch+json')
      assert.equal(failed.status, 422)
      assert.equal(((await call(kube, 'GET', `${DEVICES}/fan-1`)).body.spec as { nodeName?: string }).nodeName, undefined)
    })

    it('strategic merge patch on a custom resource → 415 (CRs have no patch strategy); a patch with a stale resourceVersion → 409', async () => {
      const smp = await call(kube, 'PATCH', `${DEVICES}/fan-1`, { spec: { nodeName: 'x' } }, 'application/strategic-merge-patch+json')
      assert.equal(smp.status, 415)
      assert.equal(smp.body.reason, 'UnsupportedMediaType')
      const stale = await call(kube, 'PATCH', `${DEVICES}/fan-1`, { metadata: { resourceVersion: '1' }, spec: { nodeName: 'x' } }, 'application/merge-patch+json')
      assert.equal(stale.status, 409)
      assert.equal((await call(kube, 'PATCH', `${DEVICES}/nope`, { spec: {} }, 'application/merge-patch+json')).status, 404)
    })
  })

  describe('status subresource and generation', () => {
    it('status changes on the main resource are ignored; spec changes on /status are ignored', async () => {
      const created = (await call(kube, 'POST', DEVICES, { ...device('fan-1'), status: { state: 'online' } })).body as Obj
      assert.equal(created.status, undefined, 'status is dropped on create')
      const main = await call(kube, 'PATCH', `${DEVICES}/fan-1`, { status: { state: 'online' } }, 'application/merge-patch+json')
      assert.equal(main.status, 200)
      assert.equal(main.body.status, undefined)
      assert.equal(rvOf(main.body), rvOf(created), 'a write that changes nothing keeps the resourceVersion')
      const status = await call(kube, 'PATCH', `${DEVICES}/fan-1/status`, { spec: { nodeName: 'elsewhere' }, status: { state: 'online', twins: [{ propertyName: 'speed', reported: { value: '800' } }] } }, 'application/merge-patch+json')
      assert.equal(status.status, 200)
      assert.equal((status.body.status as { state: string }).state, 'online')
      assert.equal((status.body.spec as { nodeName: string }).nodeName, 'edge-1')
      assert.equal(meta(status.body).generation, 1, 'status writes do not bump generation')
      assert.ok(rvOf(status.body) > rvOf(created))
      const put = structuredClone(status.body) as Obj
      put.status = { state: 'offline' }
      const replaced = await call(kube, 'PUT', `${DEVICES}/fan-1/status`, put)
      assert.equal((replaced.body.status as { state: string }).state, 'offline')
    })

    it('metadata.generation increments on spec changes only, not on metadata or status changes', async () => {
      await call(kube, 'POST', DEVICES, device('fan-1'))
      const patch = (body: unknown, sub = ''): Promise<number> =>
        call(kube, 'PATCH', `${DEVICES}/fan-1${sub}`, body, 'application/merge-patch+json').then((r) => Number(meta(r.body).generation))
      assert.equal(await patch({ metadata: { labels: { room: 'b' } } }), 1)
      assert.equal(await patch({ status: { state: 'online' } }, '/status'), 1)
      assert.equal(await patch({ spec: { nodeName: 'edge-2' } }), 2)
      assert.equal(await patch({ spec: { nodeName: 'edge-2' } }), 2)
      assert.equal(await patch({ spec: { nodeName: 'edge-3' } }), 3)
    })
  })

  describe('validation against openAPIV3Schema', () => {
    it('→ 422 Invalid with one cause per problem (enum, required, duplicate list-map key)', async () => {
      const res = await call(kube, 'POST', MODELS, {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'DeviceModel',
        metadata: { name: 'bad' },
        spec: { properties: [{ name: 'a', type: 'WAT' }, { name: 'a', type: 'INT' }, { type: 'INT' }] },
      })
      assert.equal(res.status, 422)
      assert.equal(res.body.reason, 'Invalid')
      const causes = (res.body.details as { causes: { reason: string; field: string }[] }).causes
      assert.deepEqual(causes.map((c) => [c.reason, c.field]).sort(), [
        ['FieldValueDuplicate', 'spec.properties[1]'],
        ['FieldValueNotSupported', 'spec.properties[0].type'],
        ['FieldValueRequired', 'spec.properties[2].name'],
      ])
      assert.match(String(res.body.message), /^DeviceModel\.devices\.kubeedge\.io "bad" is invalid: /)
      const noSpec = await call(kube, 'POST', DEVICES, { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name: 'x' } })
      assert.equal(noSpec.status, 422)
      assert.equal((await call(kube, 'POST', DEVICES, { ...device('Bad_Name') })).status, 422)
    })

    it('unknown fields are pruned (free-form configData kept); fieldValidation=Strict → 400, default → Warning header', async () => {
      const body = device('fan-1')
      Object.assign(body.spec as object, { bogus: 1, protocol: { protocolName: 'modbus', configData: { anything: { goes: true } } } })
      const strict = await call(kube, 'POST', `${DEVICES}?fieldValidation=Strict`, body)
      assert.equal(strict.status, 400)
      assert.equal(strict.body.message, 'Device in version "v1beta1" cannot be handled as a Device: strict decoding error: unknown field "spec.bogus"')
      const res = await call(kube, 'POST', DEVICES, body)
      assert.equal(res.status, 201)
      assert.match(res.headers.get('warning') ?? '', /unknown field \\"spec.bogus\\"/)
      const spec = res.body.spec as Record<string, unknown>
      assert.equal(spec.bogus, undefined)
      assert.deepEqual(spec.protocol, { protocolName: 'modbus', configData: { anything: { goes: true } } })
    })

    it('a kind or apiVersion that does not match the URL → 400', async () => {
      assert.equal((await call(kube, 'POST', DEVICES, { ...device('x'), kind: 'DeviceModel' })).status, 400)
      assert.equal((await call(kube, 'POST', DEVICES, { ...device('x'), metadata: { name: 'x', namespace: 'other' } })).status, 400)
    })
  })

  describe('watch', () => {
    it('?watch=true&resourceVersion=N streams ADDED/MODIFIED/DELETED after N, newline-delimited', async () => {
      const created = await call(kube, 'POST', DEVICES, device('fan-1'))
      const from = rvOf(created.body)
      await call(kube, 'PATCH', `${DEVICES}/fan-1`, { spec: { nodeName: 'edge-2' } }, 'application/merge-patch+json')
      const watch = await openWatch(kube, `${DEVICES}?watch=true&resourceVersion=${from}`)
      try {
        const modified = await watch.next()
        assert.equal(modified.type, 'MODIFIED')
        assert.equal((modified.object.spec as { nodeName: string }).nodeName, 'edge-2')
        await call(kube, 'POST', DEVICES, device('fan-2'))
        const added = await watch.next()
        assert.deepEqual([added.type, added.object.metadata?.name], ['ADDED', 'fan-2'])
        const deleted = await call(kube, 'DELETE', `${DEVICES}/fan-1`)
        const event = await watch.next()
        assert.deepEqual([event.type, event.object.metadata?.name], ['DELETED', 'fan-1'])
        assert.equal(rvOf(event.object), rvOf(deleted.body))
        assert.ok(rvOf(event.object) > rvOf(added.object))
      } finally {
        watch.close()
      }
    })

    it('without a resourceVersion it starts with synthetic ADDED events for the current state; selectors filter', async () => {
      await call(kube, 'POST', DEVICES, device('fan-1'))
      await call(kube, 'POST', DEVICES, device('fan-2'))
      const watch = await openWatch(kube, `${DEVICES}?watch=1&fieldSelector=metadata.name%3Dfan-2`)
      try {
        const first = await watch.next()
        assert.deepEqual([first.type, first.object.metadata?.name], ['ADDED', 'fan-2'])
        await call(kube, 'PATCH', `${DEVICES}/fan-1`, { spec: { nodeName: 'n' } }, 'application/merge-patch+json')
        await call(kube, 'PATCH', `${DEVICES}/fan-2`, { spec: { nodeName: 'n' } }, 'application/merge-patch+json')
        const next = await watch.next()
        assert.deepEqual([next.type, next.object.metadata?.name], ['MODIFIED', 'fan-2'])
      } finally {
        watch.close()
      }
    })

    it('a resourceVersion older than the retained window → ERROR event with a 410 Expired Status, then the stream ends', async () => {
      const first = await call(kube, 'POST', DEVICES, device('fan-1'))
      for (let i = 0; i < 25; i++) await call(kube, 'PATCH', `${DEVICES}/fan-1`, { spec: { nodeName: `n${i}` } }, 'application/merge-patch+json')
      const watch = await openWatch(kube, `${DEVICES}?watch=true&resourceVersion=${rvOf(first.body)}`)
      const event = await watch.next()
      assert.equal(event.type, 'ERROR')
      assert.deepEqual([event.object.kind, event.object.code, event.object.reason], ['Status', 410, 'Expired'])
      assert.match(String(event.object.message), /^too old resource version: \d+ \(\d+\)$/)
      await watch.ended()
      // Within the window (the last 20 events) it still resumes.
      const recent = await openWatch(kube, `${DEVICES}?watch=true&resourceVersion=${rvOf(first.body) + 10}`)
      assert.equal((await recent.next()).type, 'MODIFIED')
      recent.close()
    })

    it('sends BOOKMARK events with allowWatchBookmarks=true, and notices a client that went away', async () => {
      const watch = await openWatch(kube, `${DEVICES}?watch=true&resourceVersion=1&allowWatchBookmarks=true`)
      const bookmark = await watch.next()
      assert.equal(bookmark.type, 'BOOKMARK')
      assert.equal(bookmark.object.kind, 'Device')
      assert.match(String(bookmark.object.metadata?.resourceVersion), /^\d+$/)
      assert.equal(kube.watchCount(), 1)
      watch.close()
      const deadline = Date.now() + 2000
      while (kube.watchCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      assert.equal(kube.watchCount(), 0)
    })
  })

  it('with a token, a request without it → 401 Unauthorized', async () => {
    const secured = await startKubeEmulator({ token: 's3cret' })
    try {
      const res = await fetch(`${secured.url}/api`)
      assert.equal(res.status, 401)
      const ok = await fetch(`${secured.url}/api`, { headers: { Authorization: 'Bearer s3cret' } })
      assert.equal(ok.status, 200)
    } finally {
      await secured.stop()
    }
  })
})
