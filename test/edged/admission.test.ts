/**
 * Edged's admission against its Node's spec (kubectl cordon; taints): core/v1
 * Toleration.ToleratesTaint, and the kubelet's rejectPod reason and message.
 */
import { strict as assert } from 'node:assert'
import { admit, tolerates, UNSCHEDULABLE_TAINT } from '../../edged/admission.js'
import type { Pod } from '../../schemas/pod.js'

const pod = (tolerations?: unknown[], annotations?: Record<string, string>): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default', uid: 'u', ...(annotations === undefined ? {} : { annotations }) },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(tolerations === undefined ? {} : { tolerations }) },
})

describe('edged admission: cordon and taints', () => {
  it('ToleratesTaint: empty key with Exists matches every taint, an effect must match when given, Equal compares values', () => {
    const taint = { key: 'k', value: 'v', effect: 'NoSchedule' as const }
    assert.equal(tolerates({ operator: 'Exists' }, taint), true)
    assert.equal(tolerates({ key: 'k', operator: 'Exists', effect: 'NoExecute' }, taint), false)
    assert.equal(tolerates({ key: 'k', value: 'v' }, taint), true)
    assert.equal(tolerates({ key: 'k', value: 'w' }, taint), false)
    assert.equal(tolerates({ key: 'other', operator: 'Exists' }, taint), false)
  })

  it('a cordoned node refuses pods that do not tolerate node.kubernetes.io/unschedulable:NoSchedule, as rejectPod words it', () => {
    const cordoned = { unschedulable: true }
    const refused = admit(pod(), cordoned)
    assert.deepEqual(refused, { reason: 'TaintToleration', message: 'Pod was rejected: Predicate TaintToleration failed: node(s) had untolerated taint {node.kubernetes.io/unschedulable: }' })
    assert.equal(admit(pod([{ key: UNSCHEDULABLE_TAINT.key, operator: 'Exists', effect: 'NoSchedule' }]), cordoned), undefined)
    assert.equal(admit(pod(), { unschedulable: false }), undefined)
    assert.equal(admit(pod(), undefined), undefined, 'no spec received: admitted')
    assert.equal(admit(pod(undefined, { 'kubernetes.io/config.source': 'file' }), cordoned), undefined, 'static pods are admitted')
  })

  it('NoSchedule and NoExecute taints refuse, PreferNoSchedule does not', () => {
    assert.equal(admit(pod(), { taints: [{ key: 'gpu', value: 'yes', effect: 'NoExecute' }] })?.message.endsWith('{gpu: yes}'), true)
    assert.equal(admit(pod(), { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }), undefined)
  })
})
