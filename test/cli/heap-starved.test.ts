/**
 * `tern edge`'s young generation (cli/heap.ts) when the machine is busy with other work: a node
 * whose event loop is busy because it waits for a CPU is not a node under heavy traffic, and a
 * young generation grown then is kept for as long as a mapper or app keeps allocating (V8 gives it
 * back only when allocation all but stops). The built command runs in a cgroup that gives it a
 * tenth of a CPU while MQTT clients keep it working; V8's GC trace gives the new space's size.
 */
import { strict as assert } from 'node:assert'
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { deviceRef, deviceTopic } from '../../schemas/topics.js'
import { counterManifests, counterNames, scratchWithDevices } from '../support/manifests.js'
import { startChild } from '../support/resources.js'
import { startTernEdge, type TernEdgeProcess } from '../support/tern.js'
import { newSpaceCommittedMiB } from '../support/v8-trace.js'

const CPU_CGROUPS = '/sys/fs/cgroup/cpu'

describe('cli: tern edge starved of CPU keeps its young generation small', function () {
  this.timeout(120_000)
  const undo: Array<() => Promise<void>> = []
  after(async () => {
    for (const step of undo.reverse()) await step()
  })

  it('holds the new space at its start size while the loop is busy only waiting for a CPU (10 % of one, for 8 s)', async () => {
    const names = counterNames(200)
    const { dir, devices } = await scratchWithDevices(counterManifests(names), undo)
    const node: TernEdgeProcess = await startTernEdge(dir, { node: { name: 'edge-1' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ port: 0 }] } }, [], (command, args) =>
      startChild(command, ['--trace-gc-verbose', ...args]),
    )
    undo.push(() => node.stop())
    const atStart = newSpaceCommittedMiB(node.output())
    assert.ok(atStart !== undefined, 'the GC trace names the new space')
    const group = join(CPU_CGROUPS, `tern-test-${process.pid}-${Date.now()}`)
    mkdirSync(group)
    undo.push(async () => {
      await node.stop()
      rmdirSync(group)
    })
    writeFileSync(join(group, 'cpu.cfs_period_us'), '100000')
    writeFileSync(join(group, 'cpu.cfs_quota_us'), '10000')
    writeFileSync(join(group, 'cgroup.procs'), String(node.pid))

    const port = node.listeners[0]?.port
    const clients = await Promise.all([0, 1, 2, 3].map(() => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 })))
    undo.push(async () => void (await Promise.all(clients.map((c) => c.endAsync(true)))))
    let seq = 0
    const until = Date.now() + 8000
    while (Date.now() < until) {
      // each client keeps 50 QoS 1 updates in flight: the node always has work queued
      await Promise.all(
        clients.map((c, i) =>
          Promise.all(
            Array.from({ length: 50 }, (_, k) => {
              seq++
              const topic = deviceTopic(deviceRef('name', 'default', names[(i * 50 + k) % names.length] ?? 'c-0'), 'twin/update')
              return c.publishAsync(topic, JSON.stringify({ event_id: String(seq), timestamp: Date.now(), twin: { counter: { actual: { value: String(seq) } } } }), { qos: 1 })
            }),
          ),
        ),
      )
    }
    const after = newSpaceCommittedMiB(node.output())
    assert.ok(after !== undefined && after <= atStart, `new space ${after} MiB after 8 s starved (${atStart} MiB at start, ${seq} updates sent)`)
  })
})
