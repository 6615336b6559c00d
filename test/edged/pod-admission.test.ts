/**
 * Edged's side of admission over a real status manager and store (memory-level): a refused pod is
 * reported as the kubelet's rejectPod reports it and remembered until its source drops it, and a
 * verdict survives a restart of tern edge whatever the Node's spec says by then.
 */
import { strict as assert } from 'node:assert'
import { MemoryLevel } from 'memory-level'
import { pino } from 'pino'
import { NodeAdmission } from '../../edged/admission.js'
import type { EventType } from '../../edged/events.js'
import { PodAdmission } from '../../edged/pod-admission.js'
import { PodStore } from '../../edged/pod-store.js'
import { StatusManager } from '../../edged/status-manager.js'
import type { Pod } from '../../schemas/pod.js'
import { ManualClock } from '../support/manual-clock.js'
import { scratchDir } from '../support/resources.js'

const pod = (name: string): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
})

describe('edged pod admission: refusals reported, remembered, and kept across a restart', () => {
  const db = new MemoryLevel<string, unknown>()
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  /** every run's status manager: each may still have a snapshot to write into the scratch directory */
  const managers: StatusManager[] = []
  before(async () => (scratch = await scratchDir()))
  after(async () => {
    await Promise.all(managers.map((m) => m.flush()))
    await db.close()
    await scratch.remove()
  })

  /** One run of edged's admission over the shared store, as after a restart. */
  async function run(node: NodeAdmission) {
    const statuses = new StatusManager({ store: new PodStore(db), rootDir: scratch.path, nodeName: 'edge-1', log: pino({ level: 'silent' }) })
    managers.push(statuses)
    await statuses.load()
    const events: Array<{ pod: string; type: EventType; reason: string; message: string }> = []
    const admission = new PodAdmission({
      node,
      statuses,
      events: { event: (p, type, reason, message) => events.push({ pod: p.metadata.name, type, reason, message }) },
      clock: new ManualClock(),
      hostIP: () => '10.0.0.7',
      log: pino({ level: 'silent' }),
    })
    return { statuses, events, admission }
  }

  it('a cordoned node refuses a new pod: Failed with TaintToleration, a Warning event; forgotten with its status once its source drops it', async () => {
    const node = new NodeAdmission({ name: 'edge-1', maxPods: 110 })
    node.set({ unschedulable: true })
    const { statuses, events, admission } = await run(node)
    assert.equal(await admission.admit(pod('late'), []), false)
    assert.equal(admission.rejected('uid-late'), true)
    const status = statuses.previous('uid-late')
    assert.deepEqual([status?.phase, status?.reason, status?.hostIP], ['Failed', 'TaintToleration', '10.0.0.7'])
    assert.match(status?.message ?? '', /^Pod was rejected: Predicate TaintToleration failed: .*node\.kubernetes\.io\/unschedulable/)
    assert.deepEqual(events.map((e) => [e.pod, e.type, e.reason]), [['late', 'Warning', 'TaintToleration']])
    assert.doesNotMatch(events[0]?.message ?? '', /^Pod was rejected/, 'the event says why without the prefix')
    await admission.keepOnly(new Set(['uid-late']))
    assert.equal(admission.rejected('uid-late'), true, 'still in its source')
    await admission.keepOnly(new Set())
    assert.equal(admission.rejected('uid-late'), false)
    assert.equal(statuses.previous('uid-late'), undefined)
  })

  it('after a restart a refused pod stays refused on an uncordoned node, and an admitted one stays admitted on a cordoned node', async () => {
    const open = new NodeAdmission({ name: 'edge-1', maxPods: 110 })
    const first = await run(open)
    assert.equal(await first.admission.admit(pod('running'), []), true)
    // edged reports the admitted pod's status as it syncs it
    await first.statuses.set(pod('running'), { phase: 'Running', conditions: [], containerStatuses: [] }, false)
    const cordoned = new NodeAdmission({ name: 'edge-1', maxPods: 110 })
    cordoned.set({ unschedulable: true })
    assert.equal(await (await run(cordoned)).admission.admit(pod('refused'), []), false)

    const later = await run(cordoned)
    assert.equal(await later.admission.admit(pod('running'), []), true, 'admitted before the restart')
    const uncordoned = await run(open)
    assert.equal(await uncordoned.admission.admit(pod('refused'), []), false, 'refused before the restart')
    assert.equal(uncordoned.statuses.previous('uid-refused')?.reason, 'TaintToleration')
  })
})
