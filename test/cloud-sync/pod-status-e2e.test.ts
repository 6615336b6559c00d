/**
 * Pod status and Events from the edge in the cluster, end to end with real processes (emulator,
 * tern cloud, tern edge with edged on a private containerd, kubectl): `kubectl apply` of a pod →
 * `kubectl get pods -o wide` shows it Running with its IP; a crashing container → RESTARTS grows
 * and a BackOff Event is listed; the edge stopped → the pod keeps its last reported status; the
 * host's address changes → the pods' hostIP follows the Node's InternalIP.
 */
import { strict as assert } from 'node:assert'
import { makeNetns, netnsUnavailable } from '../support/netns.js'
import { NODE, podsWorlds, podYaml, SLEEPING, startPodsWorld, until } from '../support/pods-world.js'

describe('pod status and Events from tern edge in kubectl (real processes)', function () {
  this.timeout(300_000)
  const undo = podsWorlds()

  it('Running with its IP; a crash loop counts RESTARTS and lists BackOff; the edge stopped → the last status stays', async () => {
    const { world, startEdge } = await startPodsWorld(undo)
    const edge = await startEdge()
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml('web', NODE, SLEEPING) + '---\n' + podYaml('crashy', NODE, 'exit 1'))).code, 0)
    const wide = (): Promise<string> => world.kubectl.run(['get', 'pods', '-o', 'wide']).then((r) => r.stdout)
    const table = await until('web Running with an IP', wide, (t) => /^web\s+1\/1\s+Running\s+0\s+\S+\s+\d+\.\d+\.\d+\.\d+\s+edge-pods\s/m.test(t), 120_000)
    await until('crashy restarting', wide, (t) => /^crashy\s+0\/1\s+(CrashLoopBackOff|Error|Completed|Running)\s+([2-9]|\d\d)\s/m.test(t), 120_000)
    await until('a BackOff event', () => world.kubectl.run(['get', 'events']).then((r) => r.stdout), (t) => /Warning\s+BackOff\s+pod\/crashy\s+Back-off restarting failed container app/.test(t), 60_000)
    assert.match((await world.kubectl.run(['get', 'events'])).stdout, /Normal\s+Started\s+pod\/web\s+Started container app/)
    const ip = /^web\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)/m.exec(table)?.[1]
    await edge.stop()
    await new Promise((r) => setTimeout(r, 2000))
    assert.match(await wide(), new RegExp(`^web\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+${(ip ?? '').replace(/\./g, '\\.')}\\s`, 'm'), 'the last reported status stays')
  })

  // kubelet generateAPIPodStatus: hostIP (and a hostNetwork pod's podIP) from the Node's addresses at
  // every status; edged took it once at start, so a DHCP change left running pods with the old one
  it('pods’ hostIP and hostIPs, and a hostNetwork pod’s podIP, follow the Node’s InternalIP when the host’s address changes; nothing restarts', async function () {
    if (netnsUnavailable() !== undefined) this.skip()
    const ns = await makeNetns()
    undo.push(() => ns.remove())
    // the gateway's link with its first lease (a veth pair inside the namespace: this kernel has no dummy interfaces)
    await ns.ip('link', 'add', 'gw0', 'type', 'veth', 'peer', 'name', 'gw0-peer')
    await ns.ip('link', 'set', 'gw0-peer', 'up')
    await ns.ip('link', 'set', 'gw0', 'up')
    await ns.ip('addr', 'add', '198.51.100.41/24', 'dev', 'gw0')
    const { world, startEdge } = await startPodsWorld(undo, { netns: ns })
    await startEdge({ nodeStatus: { updateSeconds: 0.5 } })
    assert.equal((await world.kubectl.run(['apply', '-f', '-'], podYaml('web', NODE, SLEEPING) + '---\n' + podYaml('hostnet', NODE, SLEEPING, '  hostNetwork: true\n'))).code, 0)
    const row = '{.metadata.name} {.status.phase} {.status.containerStatuses[0].restartCount} hostIP={.status.hostIP} hostIPs={.status.hostIPs[*].ip} podIPs={.status.podIPs[*].ip}'
    const pods = (): Promise<string> => world.kubectl.run(['get', 'pods', '-o', `jsonpath={range .items[*]}${row}{"\\n"}{end}`]).then((r) => r.stdout)
    const internalIP = (): Promise<string> => world.kubectl.run(['get', 'node', NODE, '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}']).then((r) => r.stdout)
    const first = await until('both Running on 198.51.100.41', pods, (t) => /^hostnet Running 0 hostIP=198\.51\.100\.41 hostIPs=198\.51\.100\.41 podIPs=198\.51\.100\.41$/m.test(t) && /^web Running 0 hostIP=198\.51\.100\.41 hostIPs=198\.51\.100\.41 podIPs=\d+\.\d+\.\d+\.\d+$/m.test(t), 120_000)
    const webIP = /^web .* podIPs=(\S+)$/m.exec(first)?.[1] ?? ''

    // a new lease (deleting a primary address deletes its subnet's secondaries: the old one goes first)
    await ns.ip('addr', 'del', '198.51.100.41/24', 'dev', 'gw0')
    await ns.ip('addr', 'add', '198.51.100.42/24', 'dev', 'gw0')
    await until('the Node’s InternalIP 198.51.100.42', internalIP, (ip) => ip === '198.51.100.42', 30_000)
    const after = await until('both pods on 198.51.100.42', pods, (t) => /^hostnet .* hostIP=198\.51\.100\.42 /m.test(t) && /^web .* hostIP=198\.51\.100\.42 /m.test(t), 30_000)
    // hostIPs and podIPs are lists the API server merges by ip: the old address must not stay beside the new one
    assert.match(after, /^hostnet Running 0 hostIP=198\.51\.100\.42 hostIPs=198\.51\.100\.42 podIPs=198\.51\.100\.42$/m)
    assert.match(after, new RegExp(`^web Running 0 hostIP=198\\.51\\.100\\.42 hostIPs=198\\.51\\.100\\.42 podIPs=${webIP.replace(/\./g, '\\.')}$`, 'm'), 'the pod’s own IP is its sandbox’s, unchanged')
  })
})
