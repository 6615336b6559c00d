/**
 * The node status an edge reports and how the cloud writes it (pure): the kubelet's conditions and
 * reasons (pkg/kubelet/nodestatus/setters.go), its eviction thresholds as pressure (memory.available
 * <100Mi, nodefs.available <10%, nodefs.inodesFree <5%; pid.available, which the kubelet leaves
 * unset), allocatable = capacity − thresholds; condition times as the cloud keeps them; the node
 * lifecycle controller's Unknown. And the report queue: persisted, one in flight per key, the
 * latest one sent. And the node's probe (node-probe.ts) measuring this machine, its network
 * addresses listed at the first measurement and at each connect only: listing them is a netlink
 * dump that waits for the kernel's RTNL lock on the event loop, and pod networking holds that lock
 * while pods start (listed every 10 s during a burst of 100 pods, it held tern edge's loop 3.9 s).
 */
import assert from 'node:assert/strict'
import type { NetworkInterfaceInfo } from 'node:os'
import { MemoryLevel } from 'memory-level'
import { pino } from 'pino'
import { nodeProbe, type ListAddresses } from '../../cloud-sync/edge/node-probe.js'
import { NodeReporter } from '../../cloud-sync/edge/node-reporter.js'
import { edgedRuntimeState, kubeletVersion, nodeStatusReport, pressures, type NodeMeasurements } from '../../cloud-sync/edge/node-status.js'
import { ReportQueue, type ReportSpaces } from '../../cloud-sync/edge/report-queue.js'
import { statusPatch, unknownPatch, time } from '../../cloud-sync/cloud/node-object.js'
import { errorResponse, response, Sources, type Envelope } from '../../cloud-sync/messages.js'
import { Session, wirePair } from '../../cloud-sync/session.js'
import { NodeStatusConfig } from '../../schemas/config.js'
import type { NodeStatusReport } from '../../schemas/node-status.js'
import { LevelStore, type AnyLevel } from '../../twin/store.js'
import { scratchDir } from '../support/resources.js'
import { Value } from '@sinclair/typebox/value'

const config = Value.Default(NodeStatusConfig, {}) as NodeStatusConfig
const GiB = 1024 ** 3
const log = pino({ level: 'silent' })

/** An edge session whose cloud side records every message and acknowledges it. */
function answeringCloud(): { edge: Session; got: Envelope[] } {
  const [a, b] = wirePair()
  const edge = new Session(a, { node: 'n1', source: Sources.edge, log })
  const cloud = new Session(b, { node: 'n1', source: Sources.cloud, log })
  const got: Envelope[] = []
  cloud.onMessage((m) => {
    got.push(m)
    cloud.send(response(m, Sources.cloud))
  })
  return { edge, got }
}

function measured(overrides: Partial<NodeMeasurements> = {}): NodeMeasurements {
  return {
    cpus: 4,
    memoryTotalBytes: 4 * GiB,
    memoryAvailableBytes: 2 * GiB,
    disk: { totalBytes: 100 * GiB, availableBytes: 50 * GiB, inodes: 1000, inodesFree: 500 },
    pids: { max: 32768, running: 300 },
    hostname: 'gw',
    internalIP: '192.0.2.7',
    system: { machineID: 'm', systemUUID: 'u', bootID: 'b', kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', operatingSystem: 'linux', architecture: 'arm64' },
    ...overrides,
  }
}

describe('node status: the kubelet’s rules, the cloud’s times, the report queue', () => {
  it('capacity, allocatable (minus the hard thresholds), nodeInfo with kubeletVersion, addresses', () => {
    const report = nodeStatusReport(measured(), { config, ternVersion: '0.1.0' })
    assert.deepEqual(report.capacity, { cpu: '4', memory: '4194304Ki', pods: '110', 'ephemeral-storage': '104857600Ki' })
    assert.deepEqual(report.allocatable, { cpu: '4', memory: `${4194304 - 100 * 1024}Ki`, pods: '110', 'ephemeral-storage': '94371840Ki' })
    assert.equal(report.nodeInfo.kubeletVersion, 'v1.32.0-tern-v0.1.0')
    assert.equal(kubeletVersion('v2.0.0'), 'v1.32.0-tern-v2.0.0')
    assert.deepEqual(report.addresses, [
      { type: 'InternalIP', address: '192.0.2.7' },
      { type: 'Hostname', address: 'gw' },
    ])
    assert.equal(nodeStatusReport(measured(), { config: { ...config, internalIP: '10.1.2.3' }, ternVersion: '0.1.0' }).addresses[0]?.address, '10.1.2.3')
  })

  const cases: Array<[string, Partial<NodeMeasurements>, { memory: boolean; disk: boolean; pid: boolean }]> = [
    ['plenty of everything', {}, { memory: false, disk: false, pid: false }],
    ['MemAvailable 99 MiB < 100 MiB', { memoryAvailableBytes: 99 * 1024 * 1024 }, { memory: true, disk: false, pid: false }],
    ['MemAvailable exactly 100 MiB', { memoryAvailableBytes: 100 * 1024 * 1024 }, { memory: false, disk: false, pid: false }],
    ['9 % disk free < 10 %', { disk: { totalBytes: 100, availableBytes: 9, inodes: 10, inodesFree: 5 } }, { memory: false, disk: true, pid: false }],
    ['4 % inodes free < 5 %', { disk: { totalBytes: 100, availableBytes: 50, inodes: 100, inodesFree: 4 } }, { memory: false, disk: true, pid: false }],
    ['4 % of pid_max free < 5 %', { pids: { max: 1000, running: 961 } }, { memory: false, disk: false, pid: true }],
    ['nothing measurable: no pressure', { memoryAvailableBytes: undefined, disk: undefined, pids: undefined }, { memory: false, disk: false, pid: false }],
  ]
  for (const [name, overrides, expected] of cases) it(`pressure: ${name}`, () => assert.deepEqual(pressures(measured(overrides), config), expected))

  it('conditions with the kubelet’s reasons; Ready follows the runtime hook', () => {
    const low = nodeStatusReport(measured({ memoryAvailableBytes: 1 }), { config, ternVersion: '0.1.0' })
    assert.deepEqual(low.conditions.map((c) => [c.type, c.status, c.reason]), [
      ['Ready', 'True', 'KubeletReady'],
      ['MemoryPressure', 'True', 'KubeletHasInsufficientMemory'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
    ])
    const down = nodeStatusReport(measured(), { config, ternVersion: '0.1.0', runtime: { ready: false, version: 'containerd://1.6.20', message: 'container runtime is down' } })
    assert.deepEqual([down.conditions[0]?.status, down.conditions[0]?.reason, down.conditions[0]?.message], ['False', 'KubeletNotReady', 'container runtime is down'])
    assert.equal(down.nodeInfo.containerRuntimeVersion, 'containerd://1.6.20')
  })

  it('the runtime hook with edged: not ready until edged reached its runtime; without edged nothing to wait for', () => {
    assert.equal(edgedRuntimeState(false, undefined), undefined)
    assert.deepEqual(edgedRuntimeState(true, undefined)?.ready, false, 'edged configured, not started yet')
    const down = edgedRuntimeState(true, { runtimeReady: false, runtimeVersion: undefined }, 'unix:///run/containerd/containerd.sock')
    assert.match(down?.message ?? '', /container runtime is down: .*containerd\.sock/)
    assert.deepEqual(edgedRuntimeState(true, { runtimeReady: true, runtimeVersion: 'containerd://1.6.20~ds1' }), { ready: true, version: 'containerd://1.6.20~ds1' })
  })

  it('the cloud keeps lastTransitionTime until a status changes; Unknown marks every condition once', () => {
    const report = nodeStatusReport(measured(), { config, ternVersion: '0.1.0' })
    const t0 = Date.parse('2026-01-01T00:00:00Z')
    const first = (statusPatch(report, [], t0) as { status: { conditions: Array<{ type: string; status: string; lastHeartbeatTime: string; lastTransitionTime: string }> } }).status.conditions
    assert.ok(first.every((c) => c.lastHeartbeatTime === time(t0) && c.lastTransitionTime === time(t0)))
    const pressured = nodeStatusReport(measured({ memoryAvailableBytes: 1 }), { config, ternVersion: '0.1.0' })
    const second = (statusPatch(pressured, first, t0 + 10_000) as { status: { conditions: typeof first } }).status.conditions
    assert.equal(second.find((c) => c.type === 'Ready')?.lastTransitionTime, time(t0), 'Ready stayed True')
    assert.equal(second.find((c) => c.type === 'MemoryPressure')?.lastTransitionTime, time(t0 + 10_000), 'MemoryPressure changed')
    assert.ok(second.every((c) => c.lastHeartbeatTime === time(t0 + 10_000)))
    const unknown = (unknownPatch(second, t0 + 60_000) as { status: { conditions: Array<Record<string, string>> } }).status.conditions
    assert.deepEqual(unknown.map((c) => [c.type, c.status, c.reason, c.lastHeartbeatTime]), ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'].map((t) => [t, 'Unknown', 'NodeStatusUnknown', time(t0 + 10_000)]))
    assert.equal(unknownPatch(unknown as never, t0 + 70_000), undefined, 'already Unknown: nothing to write')
  })

  describe('report queue', () => {
    let db: AnyLevel
    beforeEach(async () => {
      db = new MemoryLevel({ valueEncoding: 'json' }) as unknown as AnyLevel
      await db.open()
    })
    afterEach(() => db.close())
    const queueOn = async (): Promise<ReportQueue> => {
      const q = new ReportQueue({ store: new LevelStore<ReportSpaces>(db, ['reports'], { prefix: 'cloud-' }), log, retryMs: 50 })
      await q.start()
      return q
    }
    const report = (n: number): { source: string; group: string; resource: string; content: unknown } => ({ source: 'edged', group: 'meta', resource: 'default/nodestatus/n1', content: { n } })

    it('a report put offline survives a restart and is sent on the next session; acknowledged → gone from the store', async () => {
      const offline = await queueOn()
      await offline.put('node-status', report(1))
      await offline.stop()
      const queue = await queueOn()
      assert.equal(queue.size, 1)
      const { edge, got } = answeringCloud()
      queue.attach(edge)
      for (let i = 0; i < 100 && queue.size > 0; i++) await new Promise((r) => setTimeout(r, 10))
      assert.deepEqual(got.map((m) => m.content), [{ n: 1 }])
      assert.equal((await queueOn()).size, 0, 'deleted from the store after the answer')
      await queue.stop()
    })

    it('one in flight per key: reports put meanwhile coalesce to the latest; a retryable error re-sends, a final one drops', async () => {
      const queue = await queueOn()
      const [a, b] = wirePair()
      const edge = new Session(a, { node: 'n1', source: Sources.edge, log, resendMs: 10_000 })
      const cloud = new Session(b, { node: 'n1', source: Sources.cloud, log })
      const got: Envelope[] = []
      let answer: (m: Envelope) => void = () => undefined
      cloud.onMessage((m) => {
        got.push(m)
        answer(m)
      })
      queue.attach(edge)
      await queue.put('node-status', report(1))
      for (let n = 2; n <= 5; n++) await queue.put('node-status', report(n))
      await new Promise((r) => setTimeout(r, 50))
      assert.deepEqual(got.map((m) => m.content), [{ n: 1 }], 'one in flight')
      answer = (m) => cloud.send(errorResponse(m, Sources.cloud, { code: 'CLOUD_KUBE_UNAVAILABLE', reason: 'later' }))
      cloud.send(errorResponse(got[0] as Envelope, Sources.cloud, { code: 'CLOUD_KUBE_UNAVAILABLE', reason: 'later' }))
      await new Promise((r) => setTimeout(r, 30))
      assert.equal(got.length, 1, 'waits retryMs after a retryable error')
      answer = (m) => cloud.send(response(m, Sources.cloud))
      for (let i = 0; i < 100 && queue.size > 0; i++) await new Promise((r) => setTimeout(r, 10))
      assert.deepEqual(got.map((m) => m.content), [{ n: 1 }, { n: 5 }], 'only the latest is sent next')
      answer = (m) => cloud.send(errorResponse(m, Sources.cloud, { code: 'CLOUD_NOT_OWNER', reason: 'no' }))
      await queue.put('node-status', report(6))
      for (let i = 0; i < 100 && queue.size > 0; i++) await new Promise((r) => setTimeout(r, 10))
      assert.equal(queue.size, 0, 'a final refusal drops it')
      await queue.stop()
    })
  })
})

/** The interfaces of a gateway whose eth0 has `address`, counting the listings. */
function interfaces(): { list: ListAddresses; listed: () => number; set(address: string): void } {
  let address = '192.0.2.7'
  let listed = 0
  const entry = (a: string, internal: boolean): NetworkInterfaceInfo => ({ address: a, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${a}/24` })
  return {
    list: () => {
      listed++
      return { lo: [entry('127.0.0.1', true)], eth0: [entry(address, false)] }
    },
    listed: () => listed,
    set: (a) => (address = a),
  }
}

describe('node probe: this machine measured, its addresses listed at start and at each connect', () => {
  it('measures cores, memory, the data directory’s filesystem and pids; lists the addresses at the first measurement and at a connect only', async () => {
    const dir = await scratchDir('tern-node-probe-')
    after(() => dir.remove())
    const nics = interfaces()
    const measure = nodeProbe(dir.path, nics.list)
    const first = await measure(false)
    assert.equal(first.internalIP, '192.0.2.7')
    assert.ok(first.cpus >= 1 && first.memoryTotalBytes > 0 && (first.memoryAvailableBytes ?? 0) > 0, JSON.stringify(first))
    assert.ok((first.disk?.totalBytes ?? 0) > 0 && (first.pids?.running ?? 0) > 0, JSON.stringify(first))
    nics.set('192.0.2.8')
    for (let i = 0; i < 3; i++) assert.equal((await measure(false)).internalIP, '192.0.2.7', 'an update reuses the address listed before')
    assert.equal(nics.listed(), 1, 'listed once for four measurements without a connect')
    assert.equal((await measure(true)).internalIP, '192.0.2.8', 'a connect lists them again')
    assert.equal(nics.listed(), 2)
  })

  it('the reporter’s report at a connect carries the address listed then; its updates list nothing', async () => {
    const dir = await scratchDir('tern-node-probe-')
    after(() => dir.remove())
    const db = new MemoryLevel({ valueEncoding: 'json' }) as unknown as AnyLevel
    await db.open()
    after(() => db.close())
    const queue = new ReportQueue({ store: new LevelStore<ReportSpaces>(db, ['reports'], { prefix: 'cloud-' }), log, retryMs: 50 })
    await queue.start()
    const nics = interfaces()
    const often = { ...config, updateSeconds: 0.02 }
    const reporter = new NodeReporter({ node: 'n1', config: often, ternVersion: '0.1.0', queue, measure: nodeProbe(dir.path, nics.list), log })
    after(async () => {
      await reporter.stop()
      await queue.stop()
    })
    reporter.start()
    await reporter.measured()
    nics.set('192.0.2.8')
    await new Promise((r) => setTimeout(r, 200)) // ~10 updates
    assert.equal(nics.listed(), 1, 'the updates listed no addresses')
    const { edge, got } = answeringCloud()
    queue.attach(edge)
    reporter.attach(edge)
    const internalIP = (): string | undefined => (got.at(-1)?.content as NodeStatusReport | undefined)?.addresses.find((x) => x.type === 'InternalIP')?.address
    for (let i = 0; i < 200 && internalIP() !== '192.0.2.8'; i++) await new Promise((r) => setTimeout(r, 10))
    assert.equal(internalIP(), '192.0.2.8', 'the report sent at the connect has the new address')
    assert.equal(nics.listed(), 2)
  })
})
