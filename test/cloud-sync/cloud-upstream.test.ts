/**
 * Upstream (kubeedge-compat.md §4.2 on the Device.status layout of DESIGN.md §5): edge twin and
 * state reports → one merge patch on `devices/<name>/status`, coalesced per device and
 * rate-limited, acknowledged only after the patch. Real emulator, real client-node; the edge is
 * played by the test.
 */
import assert from 'node:assert/strict'
import type { KubeApi } from '../../cloud-sync/cloud/kube-api.js'
import { KubeRequestError } from '../../cloud-sync/cloud/kube-api.js'
import type { Envelope } from '../../cloud-sync/messages.js'
import { message, reportResource, Sources } from '../../cloud-sync/messages.js'
import { DEVICES, MODELS, device, eventually, model, startHarness, type Harness, type HarnessOptions } from './cloud-harness.js'

const T0 = 1_767_225_600_000
const STATUS_URL = '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/fan-1/status'

type Status = { twins?: unknown[]; state?: string; lastOnlineTime?: string }

async function setup(options: HarnessOptions = {}): Promise<Harness> {
  const h = await startHarness(options)
  await h.create(MODELS(), model('fan'))
  await h.create(DEVICES(), device('fan-1', 'edge-1'))
  await h.create(DEVICES(), device('fan-2', 'edge-2'))
  await eventually(() => h.cloud.informers.devices.list().length === 2)
  return h
}

async function statusOf(h: Harness, name = 'fan-1'): Promise<Status> {
  const body = (await h.http('GET', `${DEVICES()}/${name}`)).body as { status?: Status }
  return body.status ?? {}
}

const statusPatches = (h: Harness, from = 0): { method: string; url: string; contentType: string | undefined; status: number }[] =>
  h.kube.requests.slice(from).filter((r) => r.method === 'PATCH' && r.url.startsWith(STATUS_URL))

const code = (answer: Envelope): string | undefined => (answer.route.operation === 'error' ? (answer.content as { code: string }).code : undefined)

describe('cloud upstream: edge reports → Device status', function () {
  this.timeout(20_000)

  describe('status shape and refusals', () => {
    let h: Harness
    beforeEach(async () => {
      h = await setup()
    })
    afterEach(() => h.close())

    it('a twin report becomes status.twins by ONE merge patch on the status subresource: declared properties only, reported ← actual, observedDesired ← expected', async () => {
      // Status already holds a twin for a property the spec no longer declares, and one for running.
      await h.mergePatch(`${DEVICES()}/fan-1/status`, {
        status: { twins: [{ propertyName: 'gone', reported: { value: 'x' } }, { propertyName: 'running', reported: { value: 'false', metadata: { timestamp: '1', type: 'boolean' } } }] },
      })
      await eventually(() => h.cloud.informers.devices.get('default', 'fan-1')?.status?.twins?.length === 2)
      const edge = h.edge('edge-1')
      await edge.waitForCount(1)
      const from = h.kube.requests.length
      const answer = await edge.twin('default', 'fan-1', {
        speed: { actual: { value: '1200', metadata: { timestamp: T0 + 123 } }, expected: { value: '1200', metadata: { timestamp: T0 + 100 } }, metadata: { type: 'int' } },
        undeclared: { actual: { value: '1' }, metadata: { type: 'int' } },
      })
      assert.equal(answer.route.operation, 'response')
      assert.equal(answer.content, 'OK')
      assert.equal(answer.header.parent_msg_id !== undefined, true)
      const patches = statusPatches(h, from)
      assert.equal(patches.length, 1)
      assert.equal(patches[0]?.contentType, 'application/merge-patch+json')
      assert.equal(patches[0]?.status, 200)
      assert.deepEqual((await statusOf(h)).twins, [
        { propertyName: 'speed', reported: { value: '1200', metadata: { timestamp: String(T0 + 123), type: 'int' } }, observedDesired: { value: '1200', metadata: { timestamp: String(T0 + 100), type: 'int' } } },
        { propertyName: 'running', reported: { value: 'false', metadata: { timestamp: '1', type: 'boolean' } } },
      ])
    })

    it('the type falls back to the model property type; a side missing from a report keeps its value; a deleted twin leaves status', async () => {
      const edge = h.edge('edge-1')
      await edge.waitForCount(1)
      await edge.twin('default', 'fan-1', { running: { actual: { value: 'true', metadata: { timestamp: T0 } }, expected: { value: 'true', metadata: { timestamp: T0 } } } })
      // Immediately after: the second patch must not lose the first twin (merge patch replaces arrays).
      await edge.twin('default', 'fan-1', { speed: { actual: { value: '5', metadata: { timestamp: T0 + 1 } } } })
      await edge.twin('default', 'fan-1', { running: { actual: { value: 'false', metadata: { timestamp: T0 + 2 } } } })
      assert.deepEqual((await statusOf(h)).twins, [
        { propertyName: 'speed', reported: { value: '5', metadata: { timestamp: String(T0 + 1), type: 'int' } } },
        { propertyName: 'running', reported: { value: 'false', metadata: { timestamp: String(T0 + 2), type: 'boolean' } }, observedDesired: { value: 'true', metadata: { timestamp: String(T0), type: 'boolean' } } },
      ])
      await edge.twin('default', 'fan-1', { speed: { metadata: { type: 'deleted' } } })
      assert.deepEqual(((await statusOf(h)).twins as { propertyName: string }[]).map((t) => t.propertyName), ['running'])
    })

    it('a state report sets status.state and lastOnlineTime; an empty lastOnline never clears it', async () => {
      const edge = h.edge('edge-1')
      await edge.waitForCount(1)
      assert.equal((await edge.state('default', 'fan-1', { state: 'online', lastOnline: '2026-01-01T00:00:00Z' })).content, 'OK')
      assert.deepEqual(await statusOf(h), { state: 'online', lastOnlineTime: '2026-01-01T00:00:00Z' })
      await edge.state('default', 'fan-1', { state: 'offline', lastOnline: '' })
      assert.deepEqual(await statusOf(h), { state: 'offline', lastOnlineTime: '2026-01-01T00:00:00Z' })
    })

    it('refused without a patch: a device bound to another node (CLOUD_NOT_OWNER, logged with the node), unknown (CLOUD_DEVICE_UNKNOWN), invalid content (CLOUD_MESSAGE_INVALID)', async () => {
      const edge = h.edge('edge-1')
      await edge.waitForCount(1)
      const from = h.kube.requests.length
      assert.equal(code(await edge.twin('default', 'fan-2', { speed: { actual: { value: '1' } } })), 'CLOUD_NOT_OWNER')
      assert.equal(code(await edge.twin('default', 'nope', { speed: { actual: { value: '1' } } })), 'CLOUD_DEVICE_UNKNOWN')
      assert.equal(code(await edge.state('other', 'fan-1', { state: 'online' })), 'CLOUD_DEVICE_UNKNOWN')
      const bad = message({ source: Sources.edge, group: 'twin', operation: 'update', resource: reportResource('twin', 'default', 'fan-1') }, { twin: { speed: { actual: { value: 5 } } } })
      assert.equal(code(await edge.session.request(bad)), 'CLOUD_MESSAGE_INVALID')
      assert.equal(code(await edge.state('default', 'fan-1', { state: '' })), 'CLOUD_MESSAGE_INVALID')
      assert.equal(h.kube.requests.slice(from).filter((r) => r.method === 'PATCH').length, 0)
      assert.ok(h.logs.some((l) => l.code === 'CLOUD_NOT_OWNER' && l.node === 'edge-1' && l.device === 'default/fan-2'), 'the refusal is logged with the node')
      const m = h.cloud.metrics().upstream
      assert.equal(m.reportsRefused, 5)
      assert.equal(m.patchesWritten, 0)
    })
  })

  it('a report without a type takes the KubeEdge twin type of the model property: DOUBLE → double, BYTES → bytes', async () => {
    const h = await startHarness()
    try {
      const meter = { ...model('meter'), spec: { protocol: 'modbus', properties: [{ name: 'power', type: 'DOUBLE', accessMode: 'ReadOnly' }, { name: 'raw', type: 'BYTES', accessMode: 'ReadOnly' }] } }
      await h.create(MODELS(), meter)
      await h.create(DEVICES(), device('meter-1', 'edge-1', 'meter', { properties: [{ name: 'power' }, { name: 'raw' }] }))
      await eventually(() => h.cloud.informers.devices.list().length === 1 && h.cloud.informers.models.list().length === 1)
      const edge = h.edge('edge-1')
      await edge.waitForCount(1)
      const answer = await edge.twin('default', 'meter-1', { power: { actual: { value: '1234.5', metadata: { timestamp: T0 } } }, raw: { actual: { value: 'AQI=', metadata: { timestamp: T0 } } } })
      assert.equal(answer.content, 'OK')
      assert.deepEqual((await statusOf(h, 'meter-1')).twins, [
        { propertyName: 'power', reported: { value: '1234.5', metadata: { timestamp: String(T0), type: 'double' } } },
        { propertyName: 'raw', reported: { value: 'AQI=', metadata: { timestamp: String(T0), type: 'bytes' } } },
      ])
    } finally {
      await h.close()
    }
  })

  it('coalescing: 100 reports for one device at qps=1 → 2 patches, every report acknowledged only after the patch holding it; re-sends are not counted again', async () => {
    const h = await setup({ cloud: { qps: 1, burst: 1 } })
    try {
      const edge = h.edge('edge-1', 200)
      await edge.waitForCount(1)
      const from = h.kube.requests.length
      const started = Date.now()
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          edge.twin('default', 'fan-1', { speed: { actual: { value: String(i), metadata: { timestamp: T0 + i } } } }).then((a) => ({ a, patchesDone: statusPatches(h, from).filter((p) => p.status === 200).length })),
        ),
      )
      const elapsed = Date.now() - started
      assert.ok(answers.every(({ a }) => a.content === 'OK'))
      assert.ok(answers.every(({ patchesDone }) => patchesDone >= 1), 'no ack before a patch succeeded')
      const patches = statusPatches(h, from)
      assert.equal(patches.length, 2, `patches: ${patches.length}`)
      assert.deepEqual((await statusOf(h)).twins, [{ propertyName: 'speed', reported: { value: '99', metadata: { timestamp: String(T0 + 99), type: 'int' } } }])
      const m = h.cloud.metrics().upstream
      assert.deepEqual([m.reportsReceived, m.acked, m.patchesWritten, m.coalesced, m.pending], [100, 100, 2, 98, 0])
      assert.ok(elapsed >= 900, `the second patch waited for a token (${elapsed} ms)`)
    } finally {
      await h.close()
    }
  })

  it('404 from the API server (device deleted before the write) → CLOUD_DEVICE_UNKNOWN', async () => {
    const deleteFirst = (api: KubeApi, kube: Harness['kube']): KubeApi => ({
      list: (r) => api.list(r),
      watch: (r, rv, handlers) => api.watch(r, rv, handlers),
      patchDeviceStatus: (ns, name, patch) => {
        const type = kube.api.findType('devices.kubeedge.io', 'v1beta1', 'devices')
        if (type !== undefined) kube.api.delete(type, ns, name, undefined)
        return api.patchDeviceStatus(ns, name, patch)
      },
    })
    const h = await setup({ wrapApi: deleteFirst })
    try {
      const edge = h.edge('edge-1')
      await edge.waitForCount(1)
      const from = h.kube.requests.length
      assert.equal(code(await edge.twin('default', 'fan-1', { speed: { actual: { value: '1' } } })), 'CLOUD_DEVICE_UNKNOWN')
      assert.deepEqual(statusPatches(h, from).map((p) => p.status), [404])
      assert.equal(h.cloud.metrics().upstream.patchFailures, 1)
    } finally {
      await h.close()
    }
  })

  it('other failures are retried with back-off, unacknowledged until the patch succeeds; reports meanwhile fold in', async () => {
    let failures = 2
    let succeeded = 0
    const flaky = (api: KubeApi): KubeApi => ({
      list: (r) => api.list(r),
      watch: (r, rv, handlers) => api.watch(r, rv, handlers),
      patchDeviceStatus: async (ns, name, patch) => {
        if (failures-- > 0) throw new KubeRequestError('etcdserver: request timed out', 503)
        const stored = await api.patchDeviceStatus(ns, name, patch)
        succeeded++
        return stored
      },
    })
    const h = await setup({ wrapApi: flaky })
    try {
      const edge = h.edge('edge-1')
      await edge.waitForCount(1)
      const first = edge.twin('default', 'fan-1', { speed: { actual: { value: '1', metadata: { timestamp: T0 } } } }).then((a) => ({ a, succeeded }))
      await eventually(() => h.cloud.metrics().upstream.patchFailures >= 1)
      const second = edge.state('default', 'fan-1', { state: 'online' }).then((a) => ({ a, succeeded }))
      const [one, two] = await Promise.all([first, second])
      assert.deepEqual([one.a.content, two.a.content], ['OK', 'OK'])
      assert.deepEqual([one.succeeded, two.succeeded], [1, 1], 'answered after the one successful patch')
      assert.deepEqual(await statusOf(h), { twins: [{ propertyName: 'speed', reported: { value: '1', metadata: { timestamp: String(T0), type: 'int' } } }], state: 'online' })
      const m = h.cloud.metrics().upstream
      assert.deepEqual([m.patchFailures, m.patchesWritten, m.acked], [2, 1, 2])
      assert.ok(h.logs.some((l) => l.code === 'CLOUD_STATUS_WRITE_FAILED' && l.status === 503))
    } finally {
      await h.close()
    }
  })
})
