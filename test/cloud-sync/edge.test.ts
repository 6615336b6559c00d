/**
 * Downstream cloud sync at the edge (DESIGN.md §5, §6): the cloud's resync and incremental
 * Device/DeviceModel messages become the node's membership on MQTT, desired values become
 * expected values (with a delta for the mapper), acks come only after the change is written,
 * bad content is refused with CLOUD_MESSAGE_INVALID, and the object set survives a restart.
 */
import { strict as assert } from 'node:assert'
import { fan, fanModel, NODE, startEdgeHarness, until, type Edge, type EdgeHarness } from './edge-harness.js'

const MEMBERSHIP = `$hw/events/node/${NODE}/membership/updated`

interface Membership {
  added_devices: Array<{ id: string }> | null
  removed_devices: Array<{ id: string }> | null
}

function memberships(edge: Edge): Membership[] {
  return edge.published.filter((p) => p.topic === MEMBERSHIP).map((p) => p.body as unknown as Membership)
}

function expectedOf(edge: Edge, device: string, property = 'speed'): string | undefined {
  return edge.twin.devices.get(`default/${device}`)?.twins[property]?.expected?.value
}

function members(edge: Edge): string[] {
  return [...edge.twin.devices.keys()].sort()
}

describe('cloud sync, edge: downstream reconcile', function () {
  this.timeout(20_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  let h: EdgeHarness
  beforeEach(async () => {
    h = await startEdgeHarness(undo)
  })

  it('DESIGN §6 resync adds, updates and removes devices; membership/updated on MQTT; desired → expected with a delta', async () => {
    const cloud = h.connect()
    const first = await cloud.resync({ devices: [fan('fan-1', { desired: '800' }), fan('fan-2')], models: [fanModel()] })
    assert.equal(first.route.operation, 'response')
    assert.equal(first.content, 'OK')
    // The ack comes after setMembers resolved: the twin already holds the devices.
    assert.deepEqual(members(h.edge), ['default/fan-1', 'default/fan-2'])
    assert.equal(expectedOf(h.edge, 'fan-1'), '800')
    await until('membership/updated for both', () => memberships(h.edge).flatMap((m) => m.added_devices ?? []).length === 2)
    const delta = await until('delta of fan-1', () => h.edge.published.find((p) => p.topic === '$hw/events/device/fan-1/twin/update/delta'))
    assert.deepEqual(delta.body.delta, { speed: '800' })

    const second = await cloud.resync({ devices: [fan('fan-1', { desired: '900', resourceVersion: '2' }), fan('fan-3')], models: [fanModel()] })
    assert.equal(second.route.operation, 'response')
    assert.deepEqual(members(h.edge), ['default/fan-1', 'default/fan-3'])
    assert.equal(expectedOf(h.edge, 'fan-1'), '900')
    await until('fan-2 removed on MQTT', () => memberships(h.edge).some((m) => m.removed_devices?.some((d) => d.id === 'default/fan-2')))
    await until('delta 900', () => h.edge.published.some((p) => p.topic === '$hw/events/device/fan-1/twin/update/delta' && (p.body.delta as Record<string, string>).speed === '900'))
    assert.deepEqual([...h.edge.sync.objects.keys()].sort(), ['default/device/fan-1', 'default/device/fan-3', 'default/devicemodel/fan-model'])
  })

  it('DESIGN §5 a resync re-asserts a cloud-owned desired value that a local app changed', async () => {
    const cloud = h.connect()
    const set = { devices: [fan('fan-1', { desired: '800' })], models: [fanModel()] }
    await cloud.resync(set)
    await h.edge.publish('$hw/events/device/fan-1/twin/update', { event_id: 'app', twin: { speed: { expected: { value: '5' } } } })
    await until('local change applied', () => expectedOf(h.edge, 'fan-1') === '5')
    await cloud.resync(set)
    assert.equal(expectedOf(h.edge, 'fan-1'), '800')
  })

  it('incremental update/insert/delete of devices; an older resourceVersion is acked and ignored', async () => {
    const cloud = h.connect()
    await cloud.resync({ devices: [fan('fan-1', { desired: '1' })], models: [fanModel()] })

    const added = await cloud.send('insert', 'default/device/fan-2', fan('fan-2', { desired: '2' }))
    assert.equal(added.route.operation, 'response')
    assert.equal(expectedOf(h.edge, 'fan-2'), '2')

    await cloud.send('update', 'default/device/fan-1', fan('fan-1', { desired: '1000', resourceVersion: '30' }))
    assert.equal(expectedOf(h.edge, 'fan-1'), '1000')
    // A late re-send of an older watch event (resourceVersion 4 < 30, compared as integers, not text).
    const stale = await cloud.send('update', 'default/device/fan-1', fan('fan-1', { desired: '5', resourceVersion: '4' }))
    assert.equal(stale.route.operation, 'response')
    assert.equal(expectedOf(h.edge, 'fan-1'), '1000')
    assert.equal(h.edge.sync.objects.get('default/device/fan-1')?.doc.metadata.resourceVersion, '30')

    const deleted = await cloud.send('delete', 'default/device/fan-1', { metadata: { name: 'fan-1', namespace: 'default' } })
    assert.equal(deleted.route.operation, 'response')
    assert.deepEqual(members(h.edge), ['default/fan-2'])
    await until('fan-1 removed on MQTT', () => memberships(h.edge).some((m) => m.removed_devices?.some((d) => d.id === 'default/fan-1')))
    // Deleting what is not held is acked (idempotent re-send).
    assert.equal((await cloud.send('delete', 'default/device/fan-1', undefined)).route.operation, 'response')
  })

  it('a DeviceModel update reaches every device of the model', async () => {
    const cloud = h.connect()
    await cloud.resync({ devices: [fan('fan-1'), fan('fan-2')], models: [fanModel()] })
    const before = memberships(h.edge).length
    const model = fanModel('2')
    const speed = model.spec.properties?.[0]
    assert.ok(speed)
    speed.maximum = '500'
    await cloud.send('update', 'default/devicemodel/fan-model', model)
    for (const name of ['fan-1', 'fan-2']) assert.equal(h.edge.twin.devices.get(`default/${name}`)?.spec.properties[0]?.maximum, '500')
    await until('both announced again', () => memberships(h.edge).length >= before + 2)
    // The model's new range is enforced for local requests at once.
    await h.edge.publish('$hw/events/device/fan-1/twin/update', { event_id: 'big', twin: { speed: { expected: { value: '900' } } } })
    const result = await until('result', () => h.edge.published.find((p) => p.topic === '$hw/events/device/fan-1/twin/update/result' && p.body.event_id === 'big'))
    assert.equal(result.body.code, 400)
    assert.equal(result.body.errorCode, 'TWIN_VALUE_OUT_OF_RANGE')

    // Deleting the model leaves its devices unresolvable: they leave the node and are logged.
    await cloud.send('delete', 'default/devicemodel/fan-model', undefined)
    assert.deepEqual(members(h.edge), [])
    assert.ok(h.edge.logs.some((l) => l.code === 'CLOUD_OBJECT_INVALID' && l.device === 'default/fan-1'))
  })

  it('a device that cannot be resolved is logged with its problems and left out; the rest apply', async () => {
    const cloud = h.connect()
    const orphan = fan('orphan')
    orphan.spec.deviceModelRef.name = 'no-such-model'
    const answer = await cloud.resync({ devices: [fan('fan-1'), orphan, fan('elsewhere', { nodeName: 'edge-2' })], models: [fanModel()] })
    assert.equal(answer.route.operation, 'response')
    assert.deepEqual(members(h.edge), ['default/fan-1'])
    const logged = h.edge.logs.find((l) => l.code === 'CLOUD_OBJECT_INVALID' && l.device === 'default/orphan')
    assert.equal(logged?.path, '/spec/deviceModelRef/name')
  })

  describe('bad content is refused with CLOUD_MESSAGE_INVALID and changes nothing', () => {
    const cases: Array<[string, string, string, unknown]> = [
      ['resync without models', 'resync', 'devices', { devices: [] }],
      ['resync with a device of the wrong kind', 'resync', 'devices', { devices: [{ ...fan('x'), kind: 'Pod' }], models: [] }],
      ['resync content a string', 'resync', 'devices', 'everything'],
      ['update with no content', 'update', 'default/device/fan-1', undefined],
      ['update whose object names another device', 'update', 'default/device/fan-1', fan('fan-9')],
      ['update of a model with a device inside', 'update', 'default/devicemodel/fan-model', fan('fan-1')],
    ]
    for (const [what, operation, resource, content] of cases) {
      it(what, async () => {
        const cloud = h.connect()
        await cloud.resync({ devices: [fan('fan-1', { desired: '7' })], models: [fanModel()] })
        const objects = JSON.stringify([...h.edge.sync.objects])
        const answer = await cloud.send(operation, resource, content)
        assert.equal(answer.route.operation, 'error')
        assert.equal((answer.content as { code: string }).code, 'CLOUD_MESSAGE_INVALID')
        assert.deepEqual(members(h.edge), ['default/fan-1'])
        assert.equal(expectedOf(h.edge, 'fan-1'), '7')
        assert.equal(JSON.stringify([...h.edge.sync.objects]), objects)
        assert.ok(h.edge.logs.some((l) => l.code === 'CLOUD_MESSAGE_INVALID'))
        // The session goes on.
        assert.equal((await cloud.send('update', 'default/device/fan-1', fan('fan-1', { desired: '8', resourceVersion: '2' }))).route.operation, 'response')
        assert.equal(expectedOf(h.edge, 'fan-1'), '8')
      })
    }
  })

  it('messages for other parts are left alone (no answer from the edge sync)', async () => {
    const cloud = h.connect({})
    cloud.session.send({ header: { msg_id: 'pod-1', timestamp: 0 }, route: { source: 'edgecontroller', group: 'resource', operation: 'update', resource: 'default/pod/web' }, content: {} })
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(cloud.received.filter((m) => m.header.parent_msg_id === 'pod-1').length, 0)
  })

  it('DESIGN §2 the object set is kept in the meta store: after a restart an incremental update applies to it', async () => {
    const cloud = h.connect()
    await cloud.resync({ devices: [fan('fan-1', { desired: '10' }), fan('fan-2')], models: [fanModel()] })
    await cloud.close()
    const edge = await h.restart()
    assert.deepEqual([...edge.sync.objects.keys()].sort(), ['default/device/fan-1', 'default/device/fan-2', 'default/devicemodel/fan-model'])
    assert.deepEqual(members(edge), ['default/fan-1', 'default/fan-2'])
    assert.equal(expectedOf(edge, 'fan-1'), '10')
    const next = h.connect()
    // A model change after the restart reaches both devices held from before it.
    const model = fanModel('5')
    const speed = model.spec.properties?.[0]
    assert.ok(speed)
    speed.unit = 'rpm'
    assert.equal((await next.send('update', 'default/devicemodel/fan-model', model)).route.operation, 'response')
    for (const name of ['fan-1', 'fan-2']) assert.equal(edge.twin.devices.get(`default/${name}`)?.spec.properties[0]?.unit, 'rpm')
  })

  it('a node that was never synced keeps its membership at start (nothing stored)', async () => {
    assert.equal(await h.edge.sync.start(), undefined)
  })
})
