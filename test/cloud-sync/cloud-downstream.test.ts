/**
 * Downstream (DESIGN.md §6, kubeedge-compat.md §4.1, §5.3): Device/DeviceModel changes in the
 * API server → resync and acked update/delete messages to the right edge node. Real emulator over
 * HTTP, real client-node, the repo's CRDs; the edge is played by the test on an in-memory wire.
 */
import assert from 'node:assert/strict'
import { errorResponse, Sources, type NodeDeviceSet } from '../../cloud-sync/messages.js'
import { DEVICES, MODELS, device, eventually, model, startHarness, type Harness } from './cloud-harness.js'

type Meta = { name: string; namespace: string; resourceVersion: string }

describe('cloud downstream: API server changes → edge nodes', function () {
  this.timeout(20_000)
  let h: Harness

  beforeEach(async () => {
    h = await startHarness()
    await h.create(MODELS(), model('fan'))
    await h.create(MODELS(), model('pump', ['flow']))
    await h.http('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plant' } })
    await h.create(MODELS('plant'), model('fan', ['speed'], 'plant'))
    await h.create(DEVICES(), device('fan-1', 'edge-1'))
    await h.create(DEVICES(), device('pump-1', 'edge-1', 'pump', { properties: [{ name: 'flow' }] }))
    await h.create(DEVICES(), device('fan-2', 'edge-2'))
    await h.create(DEVICES(), device('loose', undefined))
    await h.create(DEVICES('plant'), device('fan-9', 'edge-1', 'fan', { namespace: 'plant', properties: [{ name: 'speed' }] }))
    await h.mergePatch(`${DEVICES()}/fan-1/status`, { status: { state: 'online' } })
    await eventually(() => h.cloud.informers.devices.list().length === 5 && h.cloud.informers.devices.get('default', 'fan-1')?.status?.state === 'online')
  })
  afterEach(() => h.close())

  it('resync first: the node’s devices (all namespaces) and the models they use, without status', async () => {
    const edge = h.edge('edge-1')
    await edge.waitForCount(1)
    const [first] = edge.received
    assert.equal(first?.route.operation, 'resync')
    assert.equal(first?.route.resource, 'devices')
    assert.equal(first?.route.source, 'devicecontroller')
    const set = first?.content as NodeDeviceSet
    assert.deepEqual(set.devices.map((d) => `${d.metadata.namespace}/${d.metadata.name}`), ['default/fan-1', 'default/pump-1', 'plant/fan-9'])
    assert.deepEqual(set.models.map((m) => `${m.metadata.namespace}/${m.metadata.name}`), ['default/fan', 'default/pump', 'plant/fan'])
    assert.equal(set.devices[0]?.status, undefined, 'status is not sent down')
    assert.equal(set.devices[0]?.kind, 'Device')
    assert.equal(set.models[0]?.apiVersion, 'devices.kubeedge.io/v1beta1')
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(edge.ops(), ['resync devices'], 'nothing else while nothing changes')
    assert.equal(edge.cloudSide.pending, 0, 'the resync was acknowledged')
  })

  it('create, spec change and delete reach the bound node as update/update/delete with resourceversion; status-only changes do not', async () => {
    const edge1 = h.edge('edge-1')
    const edge2 = h.edge('edge-2')
    await edge1.waitForCount(1)
    await edge2.waitForCount(1)
    const created = (await h.create(DEVICES(), device('fan-3', 'edge-1'))).metadata as Meta
    await edge1.waitForCount(2)
    assert.deepEqual(edge1.ops(1), ['update default/device/fan-3'])
    assert.equal(edge1.received[1]?.header.resourceversion, created.resourceVersion)
    assert.equal((edge1.received[1]?.content as { spec: { nodeName: string } }).spec.nodeName, 'edge-1')

    await h.mergePatch(`${DEVICES()}/fan-3/status`, { status: { state: 'offline' } })
    const changed = (await h.mergePatch(`${DEVICES()}/fan-3`, { spec: { properties: [{ name: 'speed', desired: { value: '900' } }] } })).metadata as Meta
    await edge1.waitForCount(3)
    assert.deepEqual(edge1.ops(2), ['update default/device/fan-3'], 'the status patch before it sent nothing')
    assert.equal(edge1.received[2]?.header.resourceversion, changed.resourceVersion)

    await h.http('DELETE', `${DEVICES()}/fan-3`)
    await edge1.waitForCount(4)
    assert.deepEqual(edge1.ops(3), ['delete default/device/fan-3'])
    assert.deepEqual((edge1.received[3]?.content as { metadata: Meta }).metadata.name, 'fan-3')
    assert.deepEqual(edge2.ops(1), [], 'edge-2 is not concerned')
    await eventually(() => edge1.cloudSide.pending === 0, 2000, 'all acked')
  })

  it('a model change fans out to every node with a device using it, and only to those', async () => {
    const edge1 = h.edge('edge-1')
    const edge2 = h.edge('edge-2')
    const edge3 = h.edge('edge-3')
    await Promise.all([edge1.waitForCount(1), edge2.waitForCount(1), edge3.waitForCount(1)])
    await h.mergePatch(`${MODELS()}/fan`, { spec: { properties: [{ name: 'speed', type: 'INT', accessMode: 'ReadWrite', maximum: '3000' }] } })
    await Promise.all([edge1.waitForCount(2), edge2.waitForCount(2)])
    assert.deepEqual(edge1.ops(1), ['update default/devicemodel/fan'])
    assert.deepEqual(edge2.ops(1), ['update default/devicemodel/fan'])
    // A model no device uses goes nowhere; a model in another namespace only where it is used.
    await h.create(MODELS(), model('unused'))
    await h.mergePatch(`${MODELS('plant')}/fan`, { spec: { protocol: 'opcua' } })
    await edge1.waitForCount(3)
    assert.deepEqual(edge1.ops(2), ['update plant/devicemodel/fan'])
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual([edge2.ops(2), edge3.ops(1)], [[], []])
  })

  it('a device moving nodes is deleted from the old node (with its model when unused) and added to the new one (model first)', async () => {
    const edge1 = h.edge('edge-1')
    const edge2 = h.edge('edge-2')
    await Promise.all([edge1.waitForCount(1), edge2.waitForCount(1)])
    await h.mergePatch(`${DEVICES()}/pump-1`, { spec: { nodeName: 'edge-2' } })
    await Promise.all([edge1.waitForCount(3), edge2.waitForCount(3)])
    assert.deepEqual(edge1.ops(1), ['delete default/device/pump-1', 'delete default/devicemodel/pump'])
    assert.deepEqual(edge2.ops(1), ['update default/devicemodel/pump', 'update default/device/pump-1'])
    // Unbinding (no nodeName) is a delete; fan stays on edge-2 because fan-2 still uses it.
    await h.mergePatch(`${DEVICES()}/pump-1`, { spec: { nodeName: null } })
    await edge2.waitForCount(5)
    assert.deepEqual(edge2.ops(3), ['delete default/device/pump-1', 'delete default/devicemodel/pump'])
    // Binding the loose device to edge-1 sends it; its model fan is already there.
    await h.mergePatch(`${DEVICES()}/loose`, { spec: { nodeName: 'edge-1' } })
    await edge1.waitForCount(4)
    assert.deepEqual(edge1.ops(3), ['update default/device/loose'])
  })

  it('a device whose model arrives later gets the model once it exists', async () => {
    const edge1 = h.edge('edge-1')
    await edge1.waitForCount(1)
    await h.create(DEVICES(), device('valve-1', 'edge-1', 'valve'))
    await edge1.waitForCount(2)
    assert.deepEqual(edge1.ops(1), ['update default/device/valve-1'])
    await h.create(MODELS(), model('valve'))
    await edge1.waitForCount(3)
    assert.deepEqual(edge1.ops(2), ['update default/devicemodel/valve'])
  })

  it('changes during an unacknowledged resync wait for its ack, folded to the newest version', async () => {
    const edge1 = h.edge('edge-1')
    edge1.autoAck = false
    await edge1.waitForCount(1)
    await h.mergePatch(`${DEVICES()}/fan-1`, { spec: { properties: [{ name: 'speed', desired: { value: '1' } }] } })
    const last = (await h.mergePatch(`${DEVICES()}/fan-1`, { spec: { properties: [{ name: 'speed', desired: { value: '2' } }] } })).metadata as Meta
    await h.create(DEVICES(), device('fan-4', 'edge-1'))
    await new Promise((r) => setTimeout(r, 150))
    assert.deepEqual(edge1.ops(), ['resync devices'])
    edge1.autoAck = true
    edge1.ack(edge1.received[0] as never)
    await edge1.waitForCount(3)
    assert.deepEqual(edge1.ops(1).sort(), ['update default/device/fan-1', 'update default/device/fan-4'])
    const fan1 = edge1.received.find((m) => m.route.resource === 'default/device/fan-1')
    assert.equal(fan1?.header.resourceversion, last.resourceVersion)
  })

  it('a newer version of an object cancels the older unacknowledged request (keyed queue: newest only)', async () => {
    const edge1 = h.edge('edge-1')
    await edge1.waitForCount(1)
    edge1.autoAck = false
    await h.mergePatch(`${DEVICES()}/fan-1`, { spec: { properties: [{ name: 'speed', desired: { value: '1' } }] } })
    await edge1.waitForCount(2)
    await h.mergePatch(`${DEVICES()}/fan-1`, { spec: { properties: [{ name: 'speed', desired: { value: '2' } }] } })
    await edge1.waitForCount(3)
    assert.equal(edge1.cloudSide.pending, 1, 'only the newest is still being re-sent')
    assert.equal(h.cloud.metrics().downstream.superseded, 1)
    edge1.ack(edge1.received[2] as never)
    await eventually(() => edge1.cloudSide.pending === 0, 2000, 'acked')
  })

  it('a delete cancels the unacknowledged update of the same device: no copy of it can reach the edge after the delete', async () => {
    // The edge keeps no tombstone (KubeEdge's neither): an update re-sent after the delete would bring the device back.
    const edge1 = h.edge('edge-1')
    await edge1.waitForCount(1)
    edge1.autoAck = false
    await h.mergePatch(`${DEVICES()}/fan-1`, { spec: { properties: [{ name: 'speed', desired: { value: '1' } }] } })
    await edge1.waitForCount(2)
    await h.http('DELETE', `${DEVICES()}/fan-1`)
    await edge1.waitForCount(4)
    // its model goes too: no other device of edge-1 in namespace default uses it
    assert.deepEqual(edge1.ops(1), ['update default/device/fan-1', 'delete default/device/fan-1', 'delete default/devicemodel/fan'])
    assert.equal(h.cloud.metrics().downstream.superseded, 1, 'the update was cancelled')
    assert.equal(edge1.cloudSide.pending, 2, 'only the two deletes are still being re-sent')
    for (const m of edge1.received.slice(2)) edge1.ack(m)
    await eventually(() => edge1.cloudSide.pending === 0, 2000, 'acked')
  })

  it('a resync the edge refuses is sent again after a delay, freshly built', async () => {
    await h.close()
    h = await startHarness({ cloud: { resyncRetryMs: 100 } })
    await h.create(MODELS(), model('fan'))
    await h.create(DEVICES(), device('fan-1', 'edge-1'))
    await eventually(() => h.cloud.informers.devices.list().length === 1)
    const edge = h.edge('edge-1')
    edge.autoAck = false
    await edge.waitForCount(1)
    await h.create(DEVICES(), device('fan-2', 'edge-1'))
    await eventually(() => h.cloud.informers.devices.list().length === 2)
    edge.session.send(errorResponse(edge.received[0] as never, Sources.edge, { code: 'TWIN_STORE_FAILED', reason: 'disk full' }))
    await edge.waitForCount(2)
    assert.deepEqual(edge.ops(), ['resync devices', 'resync devices'])
    assert.deepEqual((edge.received[1]?.content as NodeDeviceSet).devices.map((d) => d.metadata.name), ['fan-1', 'fan-2'])
    edge.autoAck = true
    edge.ack(edge.received[1] as never)
    await h.create(DEVICES(), device('fan-3', 'edge-1'))
    await edge.waitForCount(3)
    assert.deepEqual(edge.ops(2), ['update default/device/fan-3'])
    assert.equal(h.cloud.metrics().downstream.refused, 1)
  })

  it('a node that connects again before its old session closed is served on the new session only', async () => {
    const old = h.edge('edge-1')
    await old.waitForCount(1)
    const fresh = h.edge('edge-1')
    await fresh.waitForCount(1)
    assert.deepEqual(fresh.ops(), ['resync devices'])
    await h.create(DEVICES(), device('fan-5', 'edge-1'))
    await fresh.waitForCount(2)
    assert.deepEqual(fresh.ops(1), ['update default/device/fan-5'])
    old.close()
    await h.create(DEVICES(), device('fan-6', 'edge-1'))
    await fresh.waitForCount(3)
    assert.deepEqual(old.ops(1), [])
  })

  it('an offline node gets nothing queued; the resync on reconnect carries the current state', async () => {
    const edge1 = h.edge('edge-1')
    await edge1.waitForCount(1)
    edge1.close()
    await h.http('DELETE', `${DEVICES()}/pump-1`)
    await h.mergePatch(`${DEVICES()}/fan-1`, { spec: { properties: [{ name: 'speed', desired: { value: '7' } }] } })
    await eventually(() => h.cloud.informers.devices.get('default', 'pump-1') === undefined && h.cloud.informers.devices.get('default', 'fan-1')?.spec.properties?.[0]?.desired?.value === '7')
    assert.equal(h.cloud.metrics().downstream.updates, 0)
    const again = h.edge('edge-1')
    await again.waitForCount(1)
    const set = again.received[0]?.content as NodeDeviceSet
    assert.deepEqual(set.devices.map((d) => d.metadata.name), ['fan-1', 'fan-9'])
    assert.deepEqual(set.models.map((m) => `${m.metadata.namespace}/${m.metadata.name}`), ['default/fan', 'plant/fan'])
    assert.equal(set.devices[0]?.spec.properties?.[0]?.desired?.value, '7')
  })
})
