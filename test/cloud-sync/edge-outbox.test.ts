/**
 * Upstream cloud sync at the edge: the persistent outbox (DESIGN.md §4.5 — KubeEdge drops twin and
 * state changes made while the link is down, kubeedge-compat.md §5.5). Twin updates and state
 * updates on MQTT reach the fake cloud as `twin/edge_updated` and `state/update` reports with the
 * twin's current values; offline changes coalesce to the latest value; a report is re-sent until
 * answered; marks survive a restart; a change during flight is sent again; the window bounds the
 * devices in flight.
 */
import { strict as assert } from 'node:assert'
import { parseReportResource, validateStateReport, validateTwinReport, type Envelope, type TwinReport } from '../../cloud-sync/messages.js'
import { fan, fanModel, startEdgeHarness, until, type Edge, type EdgeHarness, type FakeCloud } from './edge-harness.js'

function reportsOf(cloud: FakeCloud, device: string, kind: 'twin' | 'state'): Envelope[] {
  return cloud.received.filter((m) => {
    const r = parseReportResource(m.route.resource)
    return r?.name === device && r.kind === kind
  })
}

function twinContent(m: Envelope | undefined): TwinReport {
  assert.ok(m)
  const checked = validateTwinReport(m.content)
  assert.ok(checked.ok, JSON.stringify(m.content))
  return checked.value
}

async function report(edge: Edge, device: string, property: string, value: string): Promise<void> {
  await edge.publish(`$hw/events/device/${device}/twin/update`, { event_id: `${device}-${value}`, twin: { [property]: { actual: { value } } } })
}

function actualOf(edge: Edge, device: string, property = 'speed'): string | undefined {
  return edge.twin.devices.get(`default/${device}`)?.twins[property]?.actual?.value
}

/** Connects, resyncs `devices` fans and waits until every report that caused is acknowledged. */
async function online(h: EdgeHarness, devices: string[], options: { resendMs?: number } = {}): Promise<FakeCloud> {
  const cloud = h.connect(options)
  await cloud.resync({ devices: devices.map((name) => fan(name, { desired: '100', label: true })), models: [fanModel()] })
  await until('outbox clean after the resync', () => h.edge.marks.size === 0 && h.edge.outbox.inFlight === 0)
  return cloud
}

describe('cloud sync, edge: persistent outbox', function () {
  this.timeout(20_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })
  let h: EdgeHarness
  beforeEach(async () => {
    h = await startEdgeHarness(undo, { retryMs: 50 })
  })

  it('§4.2 a twin update on MQTT reaches the cloud as edge_updated with the current twin, versions and type', async () => {
    const cloud = await online(h, ['fan-1'])
    // The resync's desired value was itself reported (→ status observedDesired).
    const desired = twinContent(reportsOf(cloud, 'fan-1', 'twin')[0])
    assert.equal(desired.twin.speed?.expected?.value, '100')

    await report(h.edge, 'fan-1', 'speed', '95')
    const m = await until('twin report', () => reportsOf(cloud, 'fan-1', 'twin').find((r) => twinContent(r).twin.speed?.actual?.value === '95'))
    assert.equal(m.route.resource, 'device/default/fan-1/twin/edge_updated')
    assert.equal(m.route.operation, 'update')
    assert.equal(m.route.source, 'twin')
    const speed = twinContent(m).twin.speed
    assert.ok(speed)
    const record = h.edge.twin.devices.get('default/fan-1')?.twins.speed
    assert.ok(record?.actual && record.expected)
    assert.deepEqual(speed, {
      expected: { value: '100', metadata: { timestamp: record.expected.timestamp } },
      actual: { value: '95', metadata: { timestamp: record.actual.timestamp } },
      optional: record.optional,
      metadata: { type: 'int' },
      expected_version: record.expectedVersion,
      actual_version: record.actualVersion,
    })
    assert.deepEqual(Object.keys(twinContent(m).twin), ['speed'], 'only the changed property')
    await until('mark cleared after the ack', () => h.edge.marks.size === 0)
  })

  it('§4.2 state updates are reported', async () => {
    const cloud = await online(h, ['fan-1'])
    await h.edge.publish('$hw/events/device/fan-1/state/update', { event_id: 's', state: 'Online' })
    const m = await until('state report', () => reportsOf(cloud, 'fan-1', 'state')[0])
    assert.equal(m.route.resource, 'device/default/fan-1/state/update')
    const checked = validateStateReport(m.content)
    assert.ok(checked.ok)
    assert.equal(checked.value.state, 'Online', 'the state as the mapper sent it')
    assert.equal(checked.value.lastOnline, h.edge.twin.devices.get('default/fan-1')?.lastOnline)
    assert.match(checked.value.lastOnline ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  })

  it('DESIGN §4.5 many changes while offline coalesce: after attach only the latest value is sent, once', async () => {
    const first = await online(h, ['fan-1'])
    await first.close()
    for (let i = 1; i <= 30; i++) await report(h.edge, 'fan-1', 'speed', String(i))
    await report(h.edge, 'fan-1', 'label', 'kitchen')
    await until('all applied', () => actualOf(h.edge, 'fan-1') === '30' && actualOf(h.edge, 'fan-1', 'label') === 'kitchen')
    assert.equal(h.edge.marks.size, 2)

    const cloud = h.connect()
    await until('outbox clean', () => h.edge.marks.size === 0 && h.edge.outbox.inFlight === 0)
    const reports = reportsOf(cloud, 'fan-1', 'twin')
    assert.equal(reports.length, 1)
    const content = twinContent(reports[0])
    assert.equal(content.twin.speed?.actual?.value, '30')
    assert.equal(content.twin.label?.actual?.value, 'kitchen')
  })

  it('§5.3 a report whose answer is lost is re-sent (same msg_id) until answered', async () => {
    const cloud = await online(h, ['fan-1'], { resendMs: 40 })
    let dropped = 0
    cloud.answer = (m) => (parseReportResource(m.route.resource) !== undefined && dropped++ < 2 ? 'drop' : 'ok')
    await report(h.edge, 'fan-1', 'speed', '7')
    await until('outbox clean', () => h.edge.marks.size === 0 && h.edge.outbox.inFlight === 0)
    const sent = reportsOf(cloud, 'fan-1', 'twin').filter((m) => twinContent(m).twin.speed?.actual?.value === '7')
    assert.equal(sent.length, 3)
    assert.equal(new Set(sent.map((m) => m.header.msg_id)).size, 1)
  })

  it('DESIGN §4.5 edge restart while offline: twin and state changes made offline reach the cloud after attach', async () => {
    const first = await online(h, ['fan-1', 'fan-2'])
    await first.close()
    await report(h.edge, 'fan-1', 'speed', '55')
    await h.edge.publish('$hw/events/device/fan-2/state/update', { state: 'unhealthy' })
    await until('applied', () => actualOf(h.edge, 'fan-1') === '55' && h.edge.twin.devices.get('default/fan-2')?.state === 'unhealthy')
    assert.equal(h.edge.marks.size, 2)

    const edge = await h.restart()
    assert.equal(edge.marks.size, 2, 'marks reloaded from LevelDB')
    const cloud = h.connect()
    const twin = await until('fan-1 twin report', () => reportsOf(cloud, 'fan-1', 'twin')[0])
    assert.equal(twinContent(twin).twin.speed?.actual?.value, '55')
    const state = await until('fan-2 state report', () => reportsOf(cloud, 'fan-2', 'state')[0])
    assert.equal((state.content as { state: string }).state, 'unhealthy')
    await until('outbox clean', () => edge.marks.size === 0 && edge.outbox.inFlight === 0)
    // Acknowledged marks are gone from the store too: another restart sends nothing.
    const again = await h.restart()
    assert.equal(again.marks.size, 0)
  })

  it('a change while a report is in flight is sent again after the ack; one report per device in flight', async () => {
    const cloud = await online(h, ['fan-1'])
    const held: Envelope[] = []
    cloud.answer = (m) => {
      if (parseReportResource(m.route.resource) === undefined) return 'ok'
      held.push(m)
      return 'drop'
    }
    await report(h.edge, 'fan-1', 'speed', '1')
    await until('first report in flight', () => held.length === 1)
    await report(h.edge, 'fan-1', 'speed', '2')
    await until('second change applied', () => actualOf(h.edge, 'fan-1') === '2')
    await new Promise((resolve) => setTimeout(resolve, 30))
    assert.equal(held.length, 1, 'nothing else sent while the first is unanswered')
    assert.equal(twinContent(held[0]).twin.speed?.actual?.value, '1')

    cloud.answer = () => 'ok'
    const first = held[0]
    assert.ok(first)
    cloud.session.send({ header: { msg_id: 'ack-1', parent_msg_id: first.header.msg_id, timestamp: 0 }, route: { ...first.route, operation: 'response' }, content: 'OK' })
    const resent = await until('the newer value', () => reportsOf(cloud, 'fan-1', 'twin').find((m) => twinContent(m).twin.speed?.actual?.value === '2'))
    assert.notEqual(resent.header.msg_id, first.header.msg_id)
    await until('outbox clean', () => h.edge.marks.size === 0 && h.edge.outbox.inFlight === 0)
  })

  it('a change that lands just after the outbox found the device clean is still sent (it was flying, so its wake-up was not queued)', async () => {
    const cloud = await online(h, ['fan-1'])
    let placed = false
    h.edge.afterRead = (key, result) => {
      if (result !== undefined || key !== 'default/fan-1') return // a read that found marks: a report follows anyway
      h.edge.afterRead = undefined
      placed = true
      // what the twin calls when it applies a change: here between the read and the end of the flush
      h.edge.marks.changed(key, { twins: ['speed'], state: false })
    }
    await report(h.edge, 'fan-1', 'speed', '7')
    await until('the change placed after the clean read', () => placed)
    await until('the change reported again', () => reportsOf(cloud, 'fan-1', 'twin').filter((m) => twinContent(m).twin.speed?.actual?.value === '7').length >= 2)
    await until('outbox clean', () => h.edge.marks.size === 0 && h.edge.outbox.inFlight === 0)
  })

  it('final refusals (unknown device, a status refused for good) drop the marks; other errors keep them and retry', async () => {
    const cloud = await online(h, ['fan-1', 'fan-2', 'fan-3'])
    let failures = 0
    cloud.answer = (m) => {
      const r = parseReportResource(m.route.resource)
      if (r?.name === 'fan-1') return { code: 'CLOUD_DEVICE_UNKNOWN' }
      if (r?.name === 'fan-3') return { code: 'CLOUD_STATUS_WRITE_FAILED' }
      if (r?.name === 'fan-2' && failures++ < 2) return { code: 'CLOUD_KUBE_UNAVAILABLE' }
      return 'ok'
    }
    await report(h.edge, 'fan-1', 'speed', '1')
    await report(h.edge, 'fan-2', 'speed', '2')
    await report(h.edge, 'fan-3', 'speed', '3')
    await until('outbox clean', () => h.edge.marks.size === 0 && h.edge.outbox.inFlight === 0)
    assert.equal(reportsOf(cloud, 'fan-1', 'twin').filter((m) => twinContent(m).twin.speed?.actual?.value === '1').length, 1)
    assert.equal(reportsOf(cloud, 'fan-3', 'twin').filter((m) => twinContent(m).twin.speed?.actual?.value === '3').length, 1)
    assert.equal(reportsOf(cloud, 'fan-2', 'twin').filter((m) => twinContent(m).twin.speed?.actual?.value === '2').length, 3)
    assert.ok(h.edge.logs.some((l) => l.code === 'CLOUD_DEVICE_UNKNOWN'))
    assert.ok(h.edge.logs.some((l) => l.code === 'CLOUD_STATUS_WRITE_FAILED'))
  })

  it('the window bounds the devices in flight; the rest follow as answers come', async () => {
    const windowed = await startEdgeHarness(undo, { window: 3 })
    const names = Array.from({ length: 10 }, (_, i) => `fan-${i}`)
    const first = await online(windowed, names)
    await first.close()
    for (const name of names) await report(windowed.edge, name, 'speed', '9')
    await until('all applied', () => names.every((n) => actualOf(windowed.edge, n) === '9'))

    const cloud = windowed.connect()
    const held: Envelope[] = []
    cloud.answer = (m) => (held.push(m), 'drop')
    await until('three in flight', () => held.length === 3)
    await new Promise((resolve) => setTimeout(resolve, 30))
    assert.equal(held.length, 3)
    assert.equal(windowed.edge.outbox.inFlight, 3)
    cloud.answer = () => 'ok'
    for (const m of held) cloud.session.send({ header: { msg_id: `ack-${m.header.msg_id}`, parent_msg_id: m.header.msg_id, timestamp: 0 }, route: { ...m.route, operation: 'response' }, content: 'OK' })
    await until('outbox clean', () => windowed.edge.marks.size === 0 && windowed.edge.outbox.inFlight === 0)
    assert.deepEqual(new Set(cloud.received.map((m) => parseReportResource(m.route.resource)?.name)), new Set(names))
  })

  it('a device removed by the cloud takes its marks with it', async () => {
    const first = await online(h, ['fan-1', 'fan-2'])
    first.answer = () => 'drop'
    await first.close()
    await report(h.edge, 'fan-1', 'speed', '3')
    await until('marked', () => h.edge.marks.size === 1)
    const cloud = h.connect()
    cloud.answer = (m) => (parseReportResource(m.route.resource) === undefined ? 'ok' : 'drop')
    await cloud.send('delete', 'default/device/fan-1', undefined)
    assert.equal(h.edge.marks.size, 0)
    const edge = await h.restart()
    assert.equal(edge.marks.size, 0)
  })
})
