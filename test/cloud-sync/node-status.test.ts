/**
 * The node status an edge reports and how the cloud writes it (pure): the kubelet's conditions and
 * reasons (pkg/kubelet/nodestatus/setters.go), its eviction thresholds as pressure (memory.available
 * <100Mi, nodefs.available <10%, nodefs.inodesFree <5%; pid.available, which the kubelet leaves
 * unset), allocatable = capacity − thresholds; condition times as the cloud keeps them; the node
 * lifecycle controller's Unknown. And the report queue: persisted, one in flight per key, the
 * latest one sent. And the node's probe (node-probe.ts) measuring this machine: its addresses read
 * from /proc/net at every measurement, its interfaces listed only when those changed, since listing
 * them is a netlink dump that waits for the kernel's RTNL lock on the event loop, and pod networking
 * holds that lock while pods start (listed every 10 s during a burst of 100 pods, it held tern
 * edge's loop 3.9 s); edged.nodeIP as the InternalIP.
 */
import assert from 'node:assert/strict'
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import { MemoryLevel } from 'memory-level'
import { pino, type Logger } from 'pino'
import { fibTrieAddresses, hostAddresses, inet6Addresses, nodeIPProblem } from '../../cloud-sync/edge/node-addresses.js'
import { nodeProbe, RELIST_MS, type AddressSource } from '../../cloud-sync/edge/node-probe.js'
import { NodeReporter } from '../../cloud-sync/edge/node-reporter.js'
import { edgedRuntimeState, kubeletVersion, nodeStatusReport, pressures, type NodeMeasurements } from '../../cloud-sync/edge/node-status.js'
import { ReportQueue, type ReportSpaces } from '../../cloud-sync/edge/report-queue.js'
import { statusPatch, unknownPatch, time } from '../../cloud-sync/cloud/node-object.js'
import { errorResponse, response, Sources, type Envelope } from '../../cloud-sync/messages.js'
import { Session, wirePair } from '../../cloud-sync/session.js'
import { NodeStatusConfig } from '../../schemas/config.js'
import type { NodeStatusReport } from '../../schemas/node-status.js'
import { LevelStore, type AnyLevel } from '../../twin/store.js'
import { ManualClock } from '../support/manual-clock.js'
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
    const first = (statusPatch(report, undefined, t0) as { status: { conditions: Array<{ type: string; status: string; lastHeartbeatTime: string; lastTransitionTime: string }> } }).status.conditions
    assert.ok(first.every((c) => c.lastHeartbeatTime === time(t0) && c.lastTransitionTime === time(t0)))
    const pressured = nodeStatusReport(measured({ memoryAvailableBytes: 1 }), { config, ternVersion: '0.1.0' })
    const second = (statusPatch(pressured, { conditions: first, addresses: [] }, t0 + 10_000) as { status: { conditions: typeof first } }).status.conditions
    assert.equal(second.find((c) => c.type === 'Ready')?.lastTransitionTime, time(t0), 'Ready stayed True')
    assert.equal(second.find((c) => c.type === 'MemoryPressure')?.lastTransitionTime, time(t0 + 10_000), 'MemoryPressure changed')
    assert.ok(second.every((c) => c.lastHeartbeatTime === time(t0 + 10_000)))
    const unknown = (unknownPatch(second, t0 + 60_000) as { status: { conditions: Array<Record<string, string>> } }).status.conditions
    assert.deepEqual(unknown.map((c) => [c.type, c.status, c.reason, c.lastHeartbeatTime]), ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'].map((t) => [t, 'Unknown', 'NodeStatusUnknown', time(t0 + 10_000)]))
    assert.equal(unknownPatch(unknown as never, t0 + 70_000), undefined, 'already Unknown: nothing to write')
  })

  // kubernetes pkg/util/node PatchNodeStatus: NodeStatus.addresses merges by type, so a vanished address would stay
  it('the status patch replaces the Node’s addresses exactly ({"$patch": "replace"}) when it has some and they changed, and only then', () => {
    const report = nodeStatusReport(measured({ internalIP: undefined }), { config, ternVersion: '0.1.0' })
    const addresses = (previous: Parameters<typeof statusPatch>[1]): unknown => (statusPatch(report, previous, 0) as { status: { addresses: unknown } }).status.addresses
    const hostname = { type: 'Hostname', address: report.addresses[0]?.address ?? '' }
    assert.deepEqual(report.addresses, [hostname])
    assert.deepEqual(addresses(undefined), [hostname], 'a new Node: the list as it is (the directive would be stored as an element)')
    assert.deepEqual(addresses({ conditions: [], addresses: [] }), [hostname])
    assert.deepEqual(addresses({ conditions: [], addresses: [{ address: hostname.address, type: 'Hostname' }] }), [hostname], 'unchanged')
    assert.deepEqual(addresses({ conditions: [], addresses: [{ type: 'InternalIP', address: '198.51.100.41' }, hostname] }), [hostname, { $patch: 'replace' }])
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
      await drained(queue)
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
      await drained(queue)
      assert.deepEqual(got.map((m) => m.content), [{ n: 1 }, { n: 5 }], 'only the latest is sent next')
      answer = (m) => cloud.send(errorResponse(m, Sources.cloud, { code: 'CLOUD_NOT_OWNER', reason: 'no' }))
      await queue.put('node-status', report(6))
      await drained(queue)
      assert.equal(queue.size, 0, 'a final refusal drops it')
      await queue.stop()
    })
  })
})

/** Waits until `queue` holds nothing (its reports answered or dropped); generous: a loaded machine stalls for seconds. */
async function drained(queue: ReportQueue): Promise<void> {
  const deadline = Date.now() + 20_000
  while (queue.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
}

/** A gateway whose eth0 has `address`: its /proc/net reads and its listings (counted) agree. */
function interfaces(): AddressSource & { listed: () => number; set: (address: string) => void } {
  let address = '192.0.2.7'
  let listed = 0
  const entry = (a: string, internal: boolean): NetworkInterfaceInfo => ({ address: a, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${a}/24` })
  return {
    read: () => Promise.resolve([address]),
    list: () => {
      listed++
      return { lo: [entry('127.0.0.1', true)], eth0: [entry(address, false)] }
    },
    listed: () => listed,
    set: (a) => (address = a),
  }
}

/** A logger whose lines the test reads. */
function recordingLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) })
  return { log, lines }
}

// as the kernel prints them: fib_trie's Main and Local tables, if_inet6's columns
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.88.0.0/16 2 0 2
        |-- 10.88.0.0
           /16 link UNICAST
        |-- 10.88.0.1
           /32 host LOCAL
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.20
           /32 host LOCAL
        |-- 192.168.1.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.20
           /32 host LOCAL
`
const IF_INET6 = `fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
20010db8000000000000000000000002 04 40 00 00     eth0
fe80000000000000a0b3c4fffed5e6f7 1a 40 20 80 veth1234abcd
`

describe('node addresses: read from /proc/net, off the event loop; the rules for edged.nodeIP', () => {
  it('fib_trie: the local /32 host routes but loopback; if_inet6: the addresses but host and link scope', () => {
    assert.deepEqual(fibTrieAddresses(FIB_TRIE), ['10.88.0.1', '192.168.1.20'])
    assert.deepEqual(inet6Addresses(IF_INET6), ['2001:db8::2'], 'a pod’s veth brings only a link-local address: not counted')
  })

  it('this machine: what /proc/net lists is what os.networkInterfaces() lists, but loopback and link-local', async () => {
    const listed = Object.values(networkInterfaces())
      .flatMap((entries) => entries ?? [])
      .filter((a) => !a.internal && !a.address.startsWith('fe80:'))
      .map((a) => a.address)
    assert.deepEqual(await hostAddresses(), [...new Set(listed)].sort())
  })

  const cases: Array<[string, string | undefined]> = [
    ['192.0.2.7', undefined],
    ['2001:db8::7', undefined],
    ['gw-hall-3', '"gw-hall-3" is not an IPv4 or IPv6 address'],
    ['0.0.0.0', '0.0.0.0 is the unspecified address'],
    ['127.0.1.1', '127.0.1.1 is a loopback address'],
    ['::1', '::1 is a loopback address'],
    ['169.254.10.1', '169.254.10.1 is a link-local address'],
    ['fe80::1', 'fe80::1 is a link-local address'],
    ['239.0.0.1', '239.0.0.1 is a multicast address'],
  ]
  for (const [address, problem] of cases) it(`a node address (the kubelet’s --node-ip checks): ${address}`, () => assert.equal(nodeIPProblem(address), problem))
})

describe('node probe: this machine measured, its interfaces listed only when its addresses changed', () => {
  it('measures cores, memory, the data directory’s filesystem and pids; lists the interfaces at the first measurement and after a change only', async () => {
    const dir = await scratchDir('tern-node-probe-')
    after(() => dir.remove())
    const nics = interfaces()
    const measure = nodeProbe({ dataDir: dir.path, addresses: nics, log })
    const first = await measure()
    assert.equal(first.internalIP, '192.0.2.7')
    assert.ok(first.cpus >= 1 && first.memoryTotalBytes > 0 && (first.memoryAvailableBytes ?? 0) > 0, JSON.stringify(first))
    assert.ok((first.disk?.totalBytes ?? 0) > 0 && (first.pids?.running ?? 0) > 0, JSON.stringify(first))
    for (let i = 0; i < 3; i++) assert.equal((await measure()).internalIP, '192.0.2.7')
    assert.equal(nics.listed(), 1, 'listed once for four measurements of the same addresses')
    nics.set('192.0.2.8') // the DHCP lease changed
    assert.equal((await measure()).internalIP, '192.0.2.8', 'the next measurement has the new address')
    assert.equal((await measure()).internalIP, '192.0.2.8')
    assert.equal(nics.listed(), 2)
  })

  it('an address whose interface is not up yet (not listed): the interfaces are listed again a minute later, not at every update', async () => {
    const dir = await scratchDir('tern-node-probe-')
    after(() => dir.remove())
    const nics = interfaces()
    let up = false
    const clock = new ManualClock()
    const measure = nodeProbe({ dataDir: dir.path, addresses: { read: nics.read, list: () => (up ? nics.list() : (nics.list(), {})) }, clock, log })
    assert.equal((await measure()).internalIP, undefined)
    up = true
    await clock.advance(10_000)
    assert.equal((await measure()).internalIP, undefined, 'the same addresses in /proc/net: not listed again yet')
    assert.equal(nics.listed(), 1)
    await clock.advance(RELIST_MS - 10_000)
    assert.equal((await measure()).internalIP, '192.0.2.7')
    assert.equal(nics.listed(), 2)
    await clock.advance(RELIST_MS)
    await measure()
    assert.equal(nics.listed(), 2, 'the listing shows them all now: not listed again')
  })

  it('edged.nodeIP is the InternalIP, nothing listed; an address this host does not have is warned about (NODE_IP_NOT_LOCAL) at each change', async () => {
    const dir = await scratchDir('tern-node-probe-')
    after(() => dir.remove())
    const nics = interfaces()
    const { log: recorded, lines } = recordingLog()
    const warnings = (): number => lines.filter((l) => l.code === 'NODE_IP_NOT_LOCAL').length
    const measure = nodeProbe({ dataDir: dir.path, nodeIP: '192.0.2.8', addresses: nics, log: recorded })
    assert.equal((await measure()).internalIP, '192.0.2.8')
    assert.equal(warnings(), 1)
    assert.equal((await measure()).internalIP, '192.0.2.8')
    assert.equal(warnings(), 1, 'once per change of the host’s addresses')
    nics.set('192.0.2.8')
    assert.equal((await measure()).internalIP, '192.0.2.8')
    assert.equal(warnings(), 1, 'the host has it now')
    assert.equal(nics.listed(), 0)
    const v6 = nodeProbe({ dataDir: dir.path, nodeIP: '2001:DB8:0::7', addresses: { read: () => Promise.resolve(['2001:db8::7']), list: nics.list }, log: recorded })
    assert.equal((await v6()).internalIP, '2001:db8::7', 'written in its canonical form')
    assert.equal(warnings(), 1)
  })

  it('the reporter’s updates carry a changed address to the cloud; they list nothing while the addresses stay', async () => {
    const dir = await scratchDir('tern-node-probe-')
    after(() => dir.remove())
    const db = new MemoryLevel({ valueEncoding: 'json' }) as unknown as AnyLevel
    await db.open()
    after(() => db.close())
    const queue = new ReportQueue({ store: new LevelStore<ReportSpaces>(db, ['reports'], { prefix: 'cloud-' }), log, retryMs: 50 })
    await queue.start()
    const nics = interfaces()
    const often = { ...config, updateSeconds: 0.02 }
    const reporter = new NodeReporter({ node: 'n1', config: often, ternVersion: '0.1.0', queue, measure: nodeProbe({ dataDir: dir.path, addresses: nics, log }), log })
    after(async () => {
      await reporter.stop()
      await queue.stop()
    })
    const { edge, got } = answeringCloud()
    queue.attach(edge)
    reporter.start()
    reporter.attach(edge)
    await new Promise((r) => setTimeout(r, 200)) // ~10 updates
    assert.equal(nics.listed(), 1, 'the updates listed no interfaces')
    const internalIP = (): string | undefined => (got.at(-1)?.content as NodeStatusReport | undefined)?.addresses.find((x) => x.type === 'InternalIP')?.address
    assert.equal(internalIP(), '192.0.2.7')
    nics.set('192.0.2.8')
    for (let i = 0; i < 200 && internalIP() !== '192.0.2.8'; i++) await new Promise((r) => setTimeout(r, 10))
    assert.equal(internalIP(), '192.0.2.8', 'an update sent the new address, with no reconnect')
    assert.equal(nics.listed(), 2)
  })
})
