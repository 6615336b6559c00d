/**
 * What a kubelet writes, written by `tern cloud` for an edge node (issue: pod status and Events up
 * to Kubernetes, cordon), with real processes: the API emulator with tern cloud's RBAC from
 * deploy/cloud, `tern cloud`, the real kubectl, and an edge node speaking the link protocol itself
 * (EdgeHub), so each answer can be checked: pod status → `kubectl get pods -o wide`; reports about
 * another node's pod, a recreated pod or no pod → CLOUD_NOT_OWNER; Events created and their repeats
 * counted (`kubectl get events`); `kubectl cordon` → the Node's spec sent down.
 */
import { strict as assert } from 'node:assert'
import { readFile } from 'node:fs/promises'
import pino from 'pino'
import { parse } from 'yaml'
import { EdgeHub } from '../../cloud-sync/link/edge-hub.js'
import { message, Operations, type Envelope } from '../../cloud-sync/messages.js'
import { nodeSpecResource, podReportResource, POD_REPORT_ROUTE } from '../../cloud-sync/pod-messages.js'
import type { Session } from '../../cloud-sync/session.js'
import { startCloudWorld, until, type CloudWorld } from '../support/cloud.js'

const pod = (name: string, node: string): string => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default }
spec: { nodeName: ${node}, containers: [{ name: app, image: busybox:1.36 }] }
`

function runningStatus(restarts: number, ip: string): Record<string, unknown> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  return {
    phase: 'Running',
    conditions: [
      { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: now },
      { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: now },
      { type: 'ContainersReady', status: 'True', lastProbeTime: null, lastTransitionTime: now },
      { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now },
    ],
    hostIP: '10.1.2.3',
    podIP: ip,
    podIPs: [{ ip }],
    startTime: now,
    containerStatuses: [{ name: 'app', image: 'busybox:1.36', imageID: 'sha256:1', containerID: 'containerd://c1', ready: true, started: true, restartCount: restarts, state: { running: { startedAt: now } }, lastState: {} }],
    qosClass: 'BestEffort',
  }
}

describe('pod status, Events and the Node spec between tern cloud and an edge node (real processes)', function () {
  this.timeout(120_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) await fn()
  })

  async function edgeLink(world: CloudWorld, node: string): Promise<{ session: Session; received: Envelope[] }> {
    const secret = (await readFile(world.secretFile, 'utf8')).trim()
    const sessions: Session[] = []
    const received: Envelope[] = []
    const hub = new EdgeHub({
      url: `wss://127.0.0.1:${world.cloud.hubPort}`,
      node,
      secret,
      // keepalives well within the world's 3 s CloudHub timeout: kubectl calls between two reports take seconds under load
      heartbeatMs: 500,
      ca: await readFile(world.pki.ca),
      log: pino({ level: 'silent' }),
      onSession: (s) => {
        sessions.push(s)
        s.onMessage((m) => {
          received.push(m)
          s.send(message({ source: 'edged', group: m.route.group, operation: Operations.response, resource: m.route.resource }, 'OK', { parent_msg_id: m.header.msg_id }))
        })
      },
    })
    await hub.start()
    undo.push(() => hub.stop())
    const session = await until(`${node} connected`, () => Promise.resolve(sessions[0]), (s) => s.open)
    return { session, received }
  }

  async function uidOf(world: CloudWorld, name: string): Promise<string> {
    const got = await world.kubectl.run(['get', 'pod', name, '-o', 'jsonpath={.metadata.uid}'])
    assert.equal(got.code, 0, got.stderr)
    return got.stdout.trim()
  }

  const report = (session: Session, name: string, content: unknown): Promise<Envelope> =>
    session.request(message({ ...POD_REPORT_ROUTE, operation: Operations.update, resource: podReportResource('podstatus', 'default', name) }, content))

  const codeOf = (answer: Envelope): string | undefined => (answer.route.operation === Operations.error ? (answer.content as { code: string }).code : undefined)

  it('a status report → kubectl get pods -o wide shows Running, READY, RESTARTS and the IP; reports about pods the node does not own → CLOUD_NOT_OWNER', async () => {
    const world = await startCloudWorld(undo)
    for (const [name, node] of [['web', 'edge-p'], ['theirs', 'edge-q']] as const) {
      const applied = await world.kubectl.run(['apply', '-f', '-'], pod(name, node))
      assert.equal(applied.code, 0, applied.stderr)
    }
    const { session } = await edgeLink(world, 'edge-p')
    const uid = await uidOf(world, 'web')

    const ok = await report(session, 'web', { uid, status: runningStatus(2, '10.88.0.5') })
    assert.equal(ok.route.operation, Operations.response, JSON.stringify(ok.content))
    const table = (await world.kubectl.run(['get', 'pods', '-o', 'wide'])).stdout
    assert.match(table, /^web\s+1\/1\s+Running\s+2\s+\S+\s+10\.88\.0\.5\s+edge-p\s/m)

    // another node's pod, a pod recreated under the same name (another uid), no such pod: refused, nothing written
    const theirs = await report(session, 'theirs', { uid: await uidOf(world, 'theirs'), status: runningStatus(0, '10.88.0.9') })
    assert.equal(codeOf(theirs), 'CLOUD_NOT_OWNER')
    assert.equal(codeOf(await report(session, 'web', { uid: 'not-the-uid', status: runningStatus(7, '10.88.0.7') })), 'CLOUD_NOT_OWNER')
    assert.equal(codeOf(await report(session, 'nobody', { uid: 'x', status: runningStatus(0, '10.88.0.8') })), 'CLOUD_NOT_OWNER')
    const line = await world.cloud.waitForLine((l) => l.includes('CLOUD_NOT_OWNER') && l.includes('theirs'), 5000)
    assert.match(line, /"node":"edge-p"/)
    const after = (await world.kubectl.run(['get', 'pods', '-o', 'wide'])).stdout
    assert.match(after, /^web\s+1\/1\s+Running\s+2\s+\S+\s+10\.88\.0\.5\s/m, 'the refused report changed nothing')
    assert.match(after, /^theirs\s+0\/1\s+Pending\s+0\s/m)
    // a malformed status
    assert.equal(codeOf(await report(session, 'web', { uid, status: { phase: 'Sleeping' } })), 'CLOUD_MESSAGE_INVALID')
  })

  it('events: created with the node as source, a repeat raises count on the same Event; an event about another node’s pod is refused', async () => {
    const world = await startCloudWorld(undo)
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], pod('crashy', 'edge-e') + '---\n' + pod('other', 'edge-f'))).code, 0)
    const { session } = await edgeLink(world, 'edge-e')
    const uid = await uidOf(world, 'crashy')
    const event = (count: number, about = { name: 'crashy', uid }): Record<string, unknown> => ({
      involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: 'default', ...about },
      reason: 'BackOff',
      message: 'Back-off restarting failed container app',
      type: 'Warning',
      count,
      firstTimestamp: '2026-01-01T00:00:00Z',
      lastTimestamp: `2026-01-01T00:00:0${count}Z`,
      source: { component: 'kubelet', host: 'forged-host' },
    })
    const send = (name: string, content: unknown): Promise<Envelope> => session.request(message({ ...POD_REPORT_ROUTE, operation: 'insert', resource: podReportResource('event', 'default', name) }, content))
    assert.equal((await send('crashy.1', event(1))).route.operation, Operations.response)
    assert.equal((await send('crashy.1', event(3))).route.operation, Operations.response)
    const got = await world.kubectl.run(['get', 'event', 'crashy.1', '-o', 'yaml'])
    assert.equal(got.code, 0, got.stderr)
    const doc = parse(got.stdout) as { count: number; lastTimestamp: string; source: { component: string; host: string }; involvedObject: { name: string; uid: string } }
    assert.equal(doc.count, 3)
    assert.equal(doc.lastTimestamp, '2026-01-01T00:00:03Z')
    assert.deepEqual(doc.source, { component: 'kubelet', host: 'edge-e' }, 'the source host is the authenticated node, not what the edge wrote')
    assert.equal(doc.involvedObject.uid, uid)
    assert.match((await world.kubectl.run(['get', 'events'])).stdout, /Warning\s+BackOff\s+pod\/crashy\s+Back-off restarting failed container app/)

    const other = await send('other.1', event(1, { name: 'other', uid: await uidOf(world, 'other') }))
    assert.equal(codeOf(other), 'CLOUD_NOT_OWNER')
    assert.equal((await world.kubectl.run(['get', 'event', 'other.1'])).code === 0, false, 'no Event written')
  })

  it('kubectl cordon / uncordon and kubectl label → the Node spec and labels are sent down to the node', async () => {
    const world = await startCloudWorld(undo)
    const node = 'apiVersion: v1\nkind: Node\nmetadata: { name: edge-c, labels: { node-role.kubernetes.io/edge: "" } }\n'
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], node)).code, 0)
    const { received } = await edgeLink(world, 'edge-c')
    const specs = (): Array<{ unschedulable?: boolean }> => received.filter((m) => m.route.resource === nodeSpecResource('edge-c')).map((m) => (m.content as { spec: { unschedulable?: boolean } }).spec)
    await until('the spec on connect', () => Promise.resolve(specs()), (s) => s.length >= 1)
    assert.equal(specs()[0]?.unschedulable, false)
    assert.equal((await world.kubectl.run(['cordon', 'edge-c'])).code, 0)
    await until('the cordoned spec', () => Promise.resolve(specs()), (s) => s.at(-1)?.unschedulable === true)
    assert.match((await world.kubectl.run(['get', 'nodes'])).stdout, /edge-c\s+\S*SchedulingDisabled/)
    assert.equal((await world.kubectl.run(['uncordon', 'edge-c'])).code, 0)
    await until('the uncordoned spec', () => Promise.resolve(specs()), (s) => s.at(-1)?.unschedulable === false)
    const labels = (): Array<Record<string, string> | undefined> => received.filter((m) => m.route.resource === nodeSpecResource('edge-c')).map((m) => (m.content as { labels?: Record<string, string> }).labels)
    assert.deepEqual(labels()[0], { 'node-role.kubernetes.io/edge': '' })
    assert.equal((await world.kubectl.run(['label', 'node', 'edge-c', 'zone=hall-3'])).code, 0)
    await until('the labels with zone', () => Promise.resolve(labels()), (l) => l.at(-1)?.zone === 'hall-3')
  })
})
