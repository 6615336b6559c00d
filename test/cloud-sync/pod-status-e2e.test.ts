/**
 * Pod status and Events from the edge in the cluster, end to end with real processes (emulator,
 * tern cloud, tern edge with edged on a private containerd, kubectl): `kubectl apply` of a pod →
 * `kubectl get pods -o wide` shows it Running with its IP; a crashing container → RESTARTS grows
 * and a BackOff Event is listed; the edge stopped → the pod keeps its last reported status.
 */
import { strict as assert } from 'node:assert'
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
})
