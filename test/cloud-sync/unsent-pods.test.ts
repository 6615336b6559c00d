/**
 * UnsentPods in virtual time: pods no edge node can be sent (tern cloud's pod informer refuses
 * them, or their node refused them) are reported Failed once, as a kubelet's rejectPod, and their
 * final delete is made at once when the node never had them, only after the deletion's grace
 * period when it may have had a version (the node may be stopping it), and never for a pod bound to
 * a node that is not an edge Node (a kubelet's, or podgc's). The end-to-end cases with real
 * processes are in pod-deletes-e2e.test.ts.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import type { InvalidHandler } from '../../cloud-sync/cloud/informers.js'
import { KubeRequestError } from '../../cloud-sync/cloud/kube-api.js'
import type { PodRejection } from '../../cloud-sync/cloud/pod-uplink.js'
import { UnsentPods, type RefusedHandler } from '../../cloud-sync/cloud/unsent-pods.js'
import { ManualClock, settle } from '../support/manual-clock.js'

interface Rig {
  clock: ManualClock
  deletes: string[]
  /** what the next deletes throw, in turn (then they succeed) */
  failures: Error[]
  invalid: InvalidHandler<{ metadata: { uid?: string } }>
  refused: RefusedHandler
  rejects: PodRejection[]
  edgeNodes: Set<string>
  nodesChanged: () => void
}

function rig(): Rig {
  const clock = new ManualClock()
  const r = { clock, deletes: [] as string[], failures: [] as Error[], rejects: [] as PodRejection[], edgeNodes: new Set(['edge-1']) } as Rig
  const unsent = new UnsentPods({
    pods: { onInvalid: (handler) => (r.invalid = handler) },
    refusals: { onRefused: (handler) => (r.refused = handler) },
    reject: (pod) => r.rejects.push(pod),
    nodes: { get: (_ns, name) => (r.edgeNodes.has(name) ? { metadata: { name } } : undefined), onChange: (handler) => (r.nodesChanged = handler) },
    deletePod: (namespace, name, uid) => {
      r.deletes.push(`${namespace}/${name}@${uid}`)
      const failure = r.failures.shift()
      return failure === undefined ? Promise.resolve(true) : Promise.reject(failure)
    },
    log: pino({ level: 'silent' }),
    clock,
    retry: { initialMs: 1000, maxMs: 1000 },
  })
  unsent.start()
  return r
}

/** A pod as the API server sent it, with a label value no schema of tern's takes. */
function pod(name: string, node: string, deletionTimestamp?: string, status?: object): unknown {
  return { metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { version: 2 }, ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }) }, spec: { nodeName: node }, ...(status === undefined ? {} : { status }) }
}

const LABEL_PROBLEM = [{ path: '/metadata/labels/version', message: 'must be string' }]

/** A pod as the workload downlink sent it (valid), refused by its node. */
function sentPod(name: string, deletionTimestamp?: string): Parameters<RefusedHandler>[1] {
  return { metadata: { name, namespace: 'default', uid: `uid-${name}`, ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }) } }
}

const iso = (ms: number): string => new Date(ms).toISOString()

describe('UnsentPods: what a kubelet would say and do about pods no edge node can be sent', () => {
  it('a pod tern cloud cannot send: Failed with reason PodUnsendable and what is wrong, once, as the kubelet’s rejectPod', async () => {
    const r = rig()
    r.invalid('default/a', pod('a', 'edge-1'), undefined, LABEL_PROBLEM)
    r.invalid('default/a', pod('a', 'edge-1'), undefined, LABEL_PROBLEM) // the same pod again (a relist)
    await r.clock.advance(1000)
    assert.deepEqual(r.rejects, [
      { node: 'edge-1', namespace: 'default', name: 'a', uid: 'uid-a', reason: 'PodUnsendable', message: 'tern cloud cannot send it to its node: CLOUD_OBJECT_INVALID: /metadata/labels/version: must be string' },
    ])
    assert.deepEqual(r.deletes, [], 'not being deleted')
  })

  it('no status is written for a pod whose status says so already (after a restart), one that finished, or one bound to a node that is not an edge Node until it is one', async () => {
    const r = rig()
    r.invalid('default/m', pod('m', 'edge-1', undefined, { phase: 'Failed', reason: 'PodUnsendable', message: 'Pod was rejected: ...' }), undefined, LABEL_PROBLEM)
    r.invalid('default/s', pod('s', 'edge-1', undefined, { phase: 'Succeeded' }), undefined, LABEL_PROBLEM)
    r.invalid('default/k', pod('k', 'kubelet-node'), undefined, LABEL_PROBLEM)
    await r.clock.advance(1000)
    assert.equal(r.rejects.length, 0)
    r.edgeNodes.add('kubelet-node')
    r.nodesChanged()
    assert.deepEqual(r.rejects.map((p) => p.name), ['k'])
  })

  it('a pod its node refused and never had: Failed with the node’s answer; deleted at once once it is being deleted', async () => {
    const r = rig()
    r.refused('edge-1', sentPod('n'), { code: 'CLOUD_MESSAGE_INVALID', reason: 'frame nests arrays and objects deeper than 64 levels' }, false)
    assert.deepEqual(r.rejects, [{ node: 'edge-1', namespace: 'default', name: 'n', uid: 'uid-n', reason: 'PodUnsendable', message: 'node edge-1 refused it: CLOUD_MESSAGE_INVALID: frame nests arrays and objects deeper than 64 levels' }])
    // the status written, the pod informer takes it for invalid (isUnsendable), with the valid version it replaces
    r.invalid('default/n', pod('n', 'edge-1', undefined, { phase: 'Failed', reason: 'PodUnsendable' }), { metadata: { uid: 'uid-n' } }, [])
    await r.clock.advance(60_000)
    assert.deepEqual(r.deletes, [])
    r.invalid('default/n', pod('n', 'edge-1', iso(r.clock.now() + 30_000), { phase: 'Failed', reason: 'PodUnsendable' }), undefined, [])
    await r.clock.advance(0)
    await settle()
    assert.deepEqual(r.deletes, ['default/n@uid-n'], 'nothing of it runs: no grace period to wait for')
    assert.equal(r.rejects.length, 1)
  })

  it('a pod whose node refused a newer version of it: the node still has the older one, so its final delete waits for the grace period; a refusal of the deletion itself counts', async () => {
    const r = rig()
    const end = r.clock.now() + 30_000
    r.refused('edge-1', sentPod('h', iso(end)), { code: 'CLOUD_MESSAGE_INVALID', reason: '/content/metadata/labels: must be object' }, true)
    r.refused('edge-1', sentPod('h', iso(end)), { code: 'CLOUD_MESSAGE_INVALID', reason: '/content/metadata/labels: must be object' }, false) // the same uid again: what it held counts
    await r.clock.advance(29_000)
    assert.deepEqual(r.deletes, [], 'its node may still be stopping the version it has')
    await r.clock.advance(1000)
    await settle()
    assert.deepEqual(r.deletes, ['default/h@uid-h'])
    assert.equal(r.rejects.length, 1)
  })

  it('a pod the node never had: left alone until it is being deleted, then deleted at once', async () => {
    const r = rig()
    r.invalid('default/a', pod('a', 'edge-1'), undefined)
    await r.clock.advance(60_000)
    assert.deepEqual(r.deletes, [], 'not being deleted: nothing to do')
    r.invalid('default/a', pod('a', 'edge-1', iso(r.clock.now() + 30_000)), undefined)
    await r.clock.advance(0)
    await settle()
    assert.deepEqual(r.deletes, ['default/a@uid-a'])
  })

  it('a pod bound to a node that is not an edge Node is never deleted, until that node is one', async () => {
    const r = rig()
    r.invalid('default/k', pod('k', 'kubelet-node', iso(r.clock.now())), undefined)
    await r.clock.advance(120_000)
    assert.deepEqual(r.deletes, [], "another node's kubelet (or podgc) deletes it")
    r.edgeNodes.add('kubelet-node')
    r.nodesChanged()
    await r.clock.advance(0)
    await settle()
    assert.deepEqual(r.deletes, ['default/k@uid-k'])
  })

  it('a pod sent while valid that turned invalid: deleted only once the deletion’s grace period is over', async () => {
    const r = rig()
    r.invalid('default/s', pod('s', 'edge-1'), { metadata: { uid: 'uid-s' } })
    const end = r.clock.now() + 30_000
    r.invalid('default/s', pod('s', 'edge-1', iso(end)), undefined)
    await r.clock.advance(29_000)
    assert.deepEqual(r.deletes, [], 'its node may still be stopping it')
    await r.clock.advance(1000)
    await settle()
    assert.deepEqual(r.deletes, ['default/s@uid-s'])
  })

  it('a failed delete is retried after back-off; a 409 (the name has another uid) and a pod gone are not', async () => {
    const r = rig()
    r.failures.push(new KubeRequestError('unavailable', 503))
    r.invalid('default/f', pod('f', 'edge-1', iso(r.clock.now())), undefined)
    await r.clock.advance(0)
    await settle()
    assert.deepEqual(r.deletes, ['default/f@uid-f'])
    await r.clock.advance(1000)
    await settle()
    assert.deepEqual(r.deletes, ['default/f@uid-f', 'default/f@uid-f'], 'retried')

    r.failures.push(new KubeRequestError('conflict', 409))
    r.invalid('default/c', pod('c', 'edge-1', iso(r.clock.now())), undefined)
    await r.clock.advance(0)
    await settle()
    await r.clock.advance(10_000)
    assert.equal(r.deletes.filter((d) => d.startsWith('default/c')).length, 1, 'a 409 is not retried')

    r.invalid('default/g', pod('g', 'edge-1', iso(r.clock.now() + 5000)), { metadata: { uid: 'uid-g' } })
    r.invalid('default/g', undefined, undefined) // deleted (or valid again) before its time
    await r.clock.advance(10_000)
    assert.equal(r.deletes.filter((d) => d.startsWith('default/g')).length, 0)
  })
})
