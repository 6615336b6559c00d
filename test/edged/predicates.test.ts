/**
 * Edged's admission against the Node it reports and the pods it has admitted, as the kubelet's
 * predicate admit handler decides (kubernetes pkg/kubelet/lifecycle/predicate.go and its
 * TestGeneralPredicates; the resource cases of pkg/scheduler/framework/plugins/noderesources
 * fit_test.go): the reason and message of the first predicate that fails, through NodeAdmission.
 * Quantities as upstream's tables: cpu in millicores, memory and ephemeral-storage in bytes.
 */
import { strict as assert } from 'node:assert'
import { NodeAdmission } from '../../edged/admission.js'
import { NODE_OS } from '../../edged/predicates.js'
import type { Container, Pod } from '../../schemas/pod.js'

type List = Record<string, string>
const cpuMem = (milliCpu: number, memory: number): List => ({ cpu: `${milliCpu}m`, memory: String(memory) })
const container = (requests: List = {}, extra: Partial<Container> & Record<string, unknown> = {}): Container => ({ name: 'c', image: 'busybox', resources: { requests }, ...extra })

function pod(spec: Partial<Pod['spec']> & Record<string, unknown> = {}, metadata: Partial<Pod['metadata']> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u', ...metadata }, spec: { containers: [container()], ...spec } }
}
const resourcePod = (...requests: List[]): Pod => pod({ containers: requests.map((r) => container(r)) })
const portPod = (...ports: Array<{ hostPort: number; hostIP?: string; protocol?: 'TCP' | 'UDP' }>): Pod => pod({ containers: [container({}, { ports: ports.map((p) => ({ containerPort: 80, ...p })) })] })

/** upstream's makeAllocatableResources(10, 20, 32, 0, 20, 0) */
const ALLOCATABLE = { cpu: '10m', memory: '20', pods: '32', 'ephemeral-storage': '20' }

function node(options: { allocatable?: List; labels?: Record<string, string>; name?: string } = {}): NodeAdmission {
  const n = new NodeAdmission({ name: options.name ?? 'machine1', maxPods: 110 })
  n.allocatable = options.allocatable ?? ALLOCATABLE
  n.labels = options.labels ?? {}
  return n
}

const rejected = (reason: string, message: string) => ({ reason, message: `Pod was rejected: ${message}` })
const outOf = (resource: string, requested: number, used: number, capacity: number) =>
  rejected(`OutOf${resource}`, `Node didn't have enough resource: ${resource}, requested: ${requested}, used: ${used}, capacity: ${capacity}`)

const requiredAffinity = (...terms: unknown[]) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } })

describe('edged admission: the kubelet’s predicates (resources, NodeAffinity, NodeName, NodePorts, OS)', () => {
  const cases: Array<{ name: string; pod: Pod; others?: Pod[]; node?: NodeAdmission; want?: ReturnType<typeof rejected> }> = [
    { name: 'no resources/port/host requested always fits', pod: pod(), others: [resourcePod(cpuMem(9, 19))] },
    { name: 'not enough cpu and memory resource: cpu is reported first', pod: resourcePod(cpuMem(8, 10)), others: [resourcePod(cpuMem(5, 19))], want: outOf('cpu', 8, 5, 10) },
    { name: 'one resource memory fits: cpu does not', pod: resourcePod(cpuMem(2, 1)), others: [resourcePod(cpuMem(9, 5))], want: outOf('cpu', 2, 9, 10) },
    { name: 'one resource cpu fits: memory does not', pod: resourcePod(cpuMem(1, 2)), others: [resourcePod(cpuMem(5, 19))], want: outOf('memory', 2, 19, 20) },
    { name: 'equal edge case fits', pod: resourcePod(cpuMem(5, 1)), others: [resourcePod(cpuMem(5, 19))] },
    { name: 'requests of several containers are summed', pod: resourcePod(cpuMem(3, 1), cpuMem(3, 1)), others: [resourcePod(cpuMem(5, 1))], want: outOf('cpu', 6, 5, 10) },
    { name: 'too many resources fails due to init container cpu', pod: pod({ containers: [container(cpuMem(1, 1))], initContainers: [container(cpuMem(3, 1))] }), others: [resourcePod(cpuMem(8, 19))], want: outOf('cpu', 3, 8, 10) },
    {
      name: 'too many resources fails due to highest init container cpu',
      pod: pod({ containers: [container(cpuMem(1, 1))], initContainers: [container(cpuMem(3, 1)), container(cpuMem(2, 1))] }),
      others: [resourcePod(cpuMem(8, 19))],
      want: outOf('cpu', 3, 8, 10),
    },
    { name: 'init container fits because it is the max, not the sum, of containers and init containers', pod: pod({ containers: [container(cpuMem(1, 1))], initContainers: [container(cpuMem(1, 1)), container(cpuMem(1, 1))] }), others: [resourcePod(cpuMem(9, 19))] },
    {
      name: 'a restartable init container (sidecar) is added to the containers and runs beside later init containers',
      pod: pod({ containers: [container({ cpu: '1m' })], initContainers: [container({ cpu: '1m' }, { restartPolicy: 'Always' }), container({ cpu: '2m' })] }),
      others: [resourcePod({ cpu: '8m' })],
      want: outOf('cpu', 3, 8, 10),
    },
    { name: 'a request left out is the limit', pod: pod({ containers: [{ name: 'c', image: 'busybox', resources: { limits: { memory: '12' } } }] }), others: [resourcePod(cpuMem(0, 10))], want: outOf('memory', 12, 10, 20) },
    { name: 'pod overhead is added to the requests', pod: pod({ containers: [container(cpuMem(1, 1))], overhead: { memory: '15' } }), others: [resourcePod(cpuMem(5, 5))], want: outOf('memory', 16, 5, 20) },
    { name: 'ephemeral local storage request exceeds allocatable', pod: resourcePod({ 'ephemeral-storage': '25' }), want: outOf('ephemeral-storage', 25, 0, 20) },
    { name: 'a 64-cpu request on a node of 4', pod: resourcePod({ cpu: '64' }), node: node({ allocatable: { cpu: '4', memory: '8Gi', pods: '110' } }), want: outOf('cpu', 64000, 0, 4000) },
    { name: 'extended resources are not weighed (the node reports none)', pod: resourcePod({ 'example.com/aaa': '1' }) },
    { name: 'one pod more than allocatable pods', pod: pod(), others: [pod()], node: node({ allocatable: { ...ALLOCATABLE, pods: '1' } }), want: outOf('pods', 1, 1, 1) },
    { name: 'pods are counted before resources', pod: resourcePod({ cpu: '50m' }), others: [pod()], node: node({ allocatable: { ...ALLOCATABLE, pods: '1' } }), want: outOf('pods', 1, 1, 1) },
    { name: 'host not match', pod: pod({ nodeName: 'machine2' }), want: rejected('NodeName', "Predicate NodeName failed: node(s) didn't match the requested node name") },
    { name: 'host match', pod: pod({ nodeName: 'machine1' }) },
    { name: 'hostport conflict', pod: portPod({ hostPort: 123 }), others: [portPod({ hostPort: 123 })], want: rejected('NodePorts', "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports") },
    { name: 'the same hostPort over another protocol does not conflict', pod: portPod({ hostPort: 123, protocol: 'UDP' }), others: [portPod({ hostPort: 123 })] },
    { name: 'two different host addresses do not conflict', pod: portPod({ hostPort: 123, hostIP: '127.0.0.1' }), others: [portPod({ hostPort: 123, hostIP: '127.0.0.2' })] },
    { name: 'an address conflicts with all addresses (0.0.0.0)', pod: portPod({ hostPort: 123, hostIP: '127.0.0.1' }), others: [portPod({ hostPort: 123 })], want: rejected('NodePorts', "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports") },
    {
      name: 'node affinity failure (Exists foo, node without the label)',
      pod: pod(requiredAffinity({ matchExpressions: [{ key: 'foo', operator: 'Exists' }] })),
      want: rejected('NodeAffinity', "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"),
    },
    { name: 'node affinity match (Exists foo)', pod: pod(requiredAffinity({ matchExpressions: [{ key: 'foo', operator: 'Exists' }] })), node: node({ labels: { foo: 'bar' } }) },
    { name: 'nodeSelector match', pod: pod({ nodeSelector: { zone: 'hall-3' } }), node: node({ labels: { zone: 'hall-3', other: 'x' } }) },
    { name: 'nodeSelector mismatch', pod: pod({ nodeSelector: { zone: 'hall-3' } }), node: node({ labels: { zone: 'hall-4' } }), want: rejected('NodeAffinity', "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector") },
    {
      name: 'terms are ORed, expressions ANDed; NotIn matches a missing label; Gt compares integers',
      pod: pod(requiredAffinity({ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }] }, { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['3'] }, { key: 'gpu', operator: 'NotIn', values: ['yes'] }] })),
      node: node({ labels: { cores: '4' } }),
    },
    { name: 'Lt of a label that is not an integer fails', pod: pod(requiredAffinity({ matchExpressions: [{ key: 'cores', operator: 'Lt', values: ['8'] }] })), node: node({ labels: { cores: 'four' } }), want: rejected('NodeAffinity', "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector") },
    { name: 'an empty term matches nothing', pod: pod(requiredAffinity({})), want: rejected('NodeAffinity', "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector") },
    { name: 'matchFields metadata.name In', pod: pod(requiredAffinity({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['machine1'] }] })) },
    {
      name: 'node affinity failure and node name mismatch: affinity is reported first',
      pod: pod({ nodeName: 'some-node-name', ...requiredAffinity({ matchExpressions: [{ key: 'foo', operator: 'Exists' }] }) }),
      want: rejected('NodeAffinity', "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"),
    },
    { name: 'node labels not received yet: affinity is not checked', pod: pod({ nodeSelector: { zone: 'hall-3' } }), node: (() => { const n = node(); n.labels = undefined; return n })() },
    { name: 'kubernetes.io/os label of another OS', pod: pod({}, { labels: { 'kubernetes.io/os': 'dummyOS' } }), want: rejected('PodOSSelectorNodeLabelDoesNotMatch', "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label") },
    { name: 'kubernetes.io/os label of this OS', pod: pod({}, { labels: { 'kubernetes.io/os': NODE_OS } }) },
    { name: 'spec.os of another OS', pod: pod({ os: { name: 'windows' } }), want: rejected('PodOSNotSupported', "Failed to admit pod as the OS field doesn't match node OS") },
    { name: 'static pods are always admitted', pod: pod({ nodeName: 'machine2' }, { annotations: { 'kubernetes.io/config.source': 'file' } }), others: [pod()], node: node({ allocatable: { ...ALLOCATABLE, pods: '1' } }) },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual((c.node ?? node()).check(c.pod, c.others ?? []), c.want)
    })
  }

  it('before the node was measured, allocatable pods is maxPods and nothing else is weighed', () => {
    const n = new NodeAdmission({ name: 'machine1', maxPods: 2 })
    assert.equal(n.check(resourcePod({ cpu: '64' }), [pod()]), undefined)
    assert.deepEqual(n.check(pod(), [pod(), pod()]), outOf('pods', 1, 2, 2))
  })

  it('resource fit first, then the Node spec: a cordoned node that is full refuses with OutOfpods', () => {
    const n = node({ allocatable: { ...ALLOCATABLE, pods: '1' } })
    n.set({ unschedulable: true })
    assert.equal(n.check(pod(), [pod()])?.reason, 'OutOfpods')
    assert.equal(n.check(pod(), [])?.reason, 'TaintToleration')
  })
})
