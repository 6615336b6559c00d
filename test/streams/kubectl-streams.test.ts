/**
 * kubectl logs, exec and port-forward reach a pod on a tern node through tern cloud's kubelet
 * stream endpoint and the node's stream tunnel (kubeedge-compat.md §5.4: KubeEdge's
 * CloudStream/EdgeStream), end to end with real processes: the API emulator routing pods/log,
 * pods/exec and pods/portforward to the node's daemonEndpoints as the API server does, `tern
 * cloud`, `tern edge` running beside a private containerd in its network namespace (as on a node:
 * the runtime's streaming server is on that namespace's 127.0.0.1), and the real kubectl.
 */
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startCloudEdge, startCloudWorld, type CloudWorld } from '../support/cloud.js'
import { containerdAvailable, startContainerd, type Containerd } from '../support/containerd.js'
import { busyboxPod, eventually, writeManifest } from '../support/edged.js'
import { relayIntoNetns } from '../support/netns-relay.js'
import { startChild } from '../support/resources.js'

const NODE = 'edge-s1'

describe('kubectl logs, exec and port-forward through the stream tunnel (real processes)', function () {
  this.timeout(300_000)
  const undo: Array<() => Promise<void>> = []
  let containerd: Containerd
  let world: CloudWorld
  let manifests: string

  before(async function () {
    if (!(await containerdAvailable())) this.skip()
    containerd = await startContainerd()
    undo.push(() => containerd.stop())
    world = await startCloudWorld(undo, { streams: {}, nodes: { leaseRenewSeconds: 1, gracePeriodSeconds: 30, monitorPeriodSeconds: 1 } })
    const relay = await relayIntoNetns(containerd.pid, world.dir, world.cloud.hubPort)
    undo.push(() => relay.stop())
    manifests = join(world.dir, 'manifests')
    await mkdir(manifests)
    await writeManifest(manifests, 'web.yaml', busyboxPod('web', { app: 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done' }))
    // tern edge in the runtime's network namespace, as on a node; CloudHub through the relay
    const spawn = (command: string, args: readonly string[]): ReturnType<typeof startChild> => startChild('nsenter', [`--net=/proc/${containerd.pid}/ns/net`, '--', command, ...args])
    await startCloudEdge(world, NODE, `wss://127.0.0.1:${world.cloud.hubPort}`, { spawn, nodeStatus: { updateSeconds: 1 }, edged: { runtimeEndpoint: containerd.endpoint, podManifestsDir: manifests, rootDir: join(world.dir, 'edged') } })
    // the static pod's Pod object, as a mirror pod would be (until pods come from the cluster)
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `web-${NODE}`, namespace: 'default' }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'localhost/busybox:1' }] } }
    const applied = await world.kubectl.run(['apply', '-f', '-'], stringify(pod))
    assert.equal(applied.code, 0, applied.stderr)
    await eventually(async () => {
      const r = await world.kubectl.run(['get', 'node', NODE, '-o', 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port} {.status.conditions[?(@.type=="Ready")].status}'])
      return r.code === 0 && r.stdout === `${world.cloud.streamsPort ?? ''} True`
    }, 60_000, 'the node Ready with its stream endpoint')
    await eventually(async () => {
      const r = await world.kubectl.run(['logs', `web-${NODE}`])
      return r.code === 0 && r.stdout.includes('tick-2')
    }, 60_000, 'the pod logging')
  })
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn().catch(() => undefined)
  })

  it('kubectl logs prints the container log; --tail and --timestamps as the kubelet serves them', async () => {
    const all = await world.kubectl.run(['logs', `web-${NODE}`])
    assert.equal(all.code, 0, all.stderr)
    assert.match(all.stdout, /^tick-1\ntick-2\n/)
    const tail = await world.kubectl.run(['logs', `web-${NODE}`, '--tail=1', '--timestamps'])
    assert.equal(tail.code, 0, tail.stderr)
    assert.match(tail.stdout, /^\d{4}-\d\d-\d\dT\S+Z tick-\d+\n$/)
  })

  it('kubectl exec -- cat /etc/hostname prints the pod hostname; exit codes come back', async () => {
    const cat = await world.kubectl.run(['exec', `web-${NODE}`, '--', 'cat', '/etc/hostname'])
    assert.equal(cat.code, 0, cat.stderr)
    assert.equal(cat.stdout.trim(), `web-${NODE}`)
    const failed = await world.kubectl.run(['exec', `web-${NODE}`, '--', 'sh', '-c', 'exit 3'])
    assert.equal(failed.code, 3, failed.stderr)
  })
})
