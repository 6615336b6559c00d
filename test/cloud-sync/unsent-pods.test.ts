/**
 * UnsentPods in virtual time: the final delete of pods tern cloud cannot send their edge node
 * (its pod informer refuses them) is made at once when the node never had them, only after the
 * deletion's grace period when a valid version was in the cache (the node may be stopping it), and
 * never for a pod bound to a node that is not an edge Node (a kubelet's, or podgc's). The
 * end-to-end case with real processes is in pod-deletes-e2e.test.ts.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import type { InvalidHandler } from '../../cloud-sync/cloud/informers.js'
import { KubeRequestError } from '../../cloud-sync/cloud/kube-api.js'
import { UnsentPods } from '../../cloud-sync/cloud/unsent-pods.js'
import { ManualClock, settle } from '../support/manual-clock.js'

interface Rig {
  clock: ManualClock
  deletes: string[]
  /** what the next deletes throw, in turn (then they succeed) */
  failures: Error[]
  invalid: InvalidHandler<{ metadata: { uid?: string } }>
  edgeNodes: Set<string>
  nodesChanged: () => void
}

function rig(): Rig {
  const clock = new ManualClock()
  const r = { clock, deletes: [] as string[], failures: [] as Error[], edgeNodes: new Set(['edge-1']) } as Rig
  const unsent = new UnsentPods({
    pods: { onInvalid: (handler) => (r.invalid = handler) },
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
function pod(name: string, node: string, deletionTimestamp?: string): unknown {
  return { metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { version: 2 }, ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }) }, spec: { nodeName: node } }
}

const iso = (ms: number): string => new Date(ms).toISOString()

describe('UnsentPods: the final delete of pods no edge node can be sent', () => {
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
