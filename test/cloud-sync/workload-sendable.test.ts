/**
 * Workload objects tern cloud would send a node whose link refuses the frame carrying them
 * (cloud-sync/cloud/workload-set.ts `sendable`): the edge refuses on arrival a frame nesting
 * deeper than MAX_NESTING, so an object that nests deeper than a resync leaves room for is
 * invalid to the informers (and a pod Failed as unsendable), not sent to cost the node its resync.
 */
import { strict as assert } from 'node:assert'
import { nodeWorkloadSet, OBJECT_NESTING_MAX, sendable } from '../../cloud-sync/cloud/workload-set.js'
import { nestedDeeperThan } from '../../cloud-sync/json-depth.js'
import { message, Operations, Sources, WORKLOAD_RESYNC_RESOURCE } from '../../cloud-sync/messages.js'
import { MAX_NESTING } from '../../schemas/cloud-link-limits.js'
import { CloudPod } from '../../schemas/generated/validators.js'
import { validator } from '../../schemas/validate.js'
import type { CloudPod as Pod } from '../../schemas/workloads.js'

/** A pod whose document as sent nests `levels` deep (the pod itself is level 1). */
function podNesting(levels: number): Pod {
  // pod → spec → extra → next … : the spec is level 2, extra level 3
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { nodeName: 'n', containers: [] as unknown[], extra: {} as Record<string, unknown> } }
  let nested = pod.spec.extra
  for (let level = 3; level < levels; level++) nested = nested.next = {}
  return pod
}

/** The resync frame a node would get carrying `pod`. */
function resyncFrame(pod: Pod): unknown {
  const content = nodeWorkloadSet(new Map([['default/pod/p', pod]]))
  return JSON.parse(JSON.stringify(message({ source: Sources.cloud, group: 'resource', operation: Operations.resync, resource: WORKLOAD_RESYNC_RESOURCE }, content)))
}

describe("cloud sync: workload objects deeper than the link's frames take are not sent", () => {
  const check = sendable('pod', validator(CloudPod))

  it(`a pod nesting ${OBJECT_NESTING_MAX} levels is sent, and its resync frame is within MAX_NESTING`, () => {
    const pod = podNesting(OBJECT_NESTING_MAX)
    assert.equal(nestedDeeperThan(pod, OBJECT_NESTING_MAX - 1), true, 'the pod is as deep as meant')
    assert.equal(check(pod).ok, true)
    assert.equal(nestedDeeperThan(resyncFrame(pod), MAX_NESTING), false)
  })

  it('a pod one level deeper is invalid, with why: its resync frame is one the edge refuses', () => {
    const pod = podNesting(OBJECT_NESTING_MAX + 1)
    const checked = check(pod)
    assert.deepEqual(checked.ok ? [] : checked.problems, [{ path: '/', message: `nests arrays and objects deeper than ${OBJECT_NESTING_MAX} levels: no edge node takes it (the link's frames nest at most ${MAX_NESTING})` }])
    assert.equal(nestedDeeperThan(resyncFrame(pod), MAX_NESTING), true)
  })

  it('what the edge never gets does not count: status and managedFields', () => {
    const pod = podNesting(OBJECT_NESTING_MAX) as Pod & { status?: unknown }
    let deep: Record<string, unknown> = {}
    pod.status = deep
    pod.metadata.managedFields = [deep]
    for (let i = 0; i < 100; i++) deep = deep.next = {}
    assert.equal(check(pod).ok, true)
  })
})
