/**
 * validatePod: the schema, the API server's defaults and its rules beyond a schema
 * (pkg/apis/core/validation), each refusal naming the field as `kubectl apply` would.
 */
import assert from 'node:assert/strict'
import { validatePod } from '../../edged/pod/validate.js'
import { TernError } from '../../schemas/tern-error.js'

type Json = Record<string, unknown>
const pod = (spec: Json, metadata: Json = { name: 'web' }): Json => ({ apiVersion: 'v1', kind: 'Pod', metadata, spec })
const app = (extra: Json = {}): Json => ({ name: 'app', image: 'localhost/busybox:1', ...extra })

/** The problem lines of the refusal, asserting its code. */
function refused(input: unknown): string[] {
  try {
    validatePod(input, 'manifests/web.yaml')
  } catch (err) {
    assert.ok(err instanceof TernError, String(err))
    assert.equal(err.code, 'EDGED_POD_INVALID')
    for (const line of err.details) assert.ok(err.message.includes(`manifests/web.yaml: ${line}`), `${line} in ${err.message}`)
    return [...err.details]
  }
  assert.fail('the pod was accepted')
}

function refusedWith(input: unknown, path: string, message: RegExp): void {
  const lines = refused(input)
  assert.ok(
    lines.some((l) => l.startsWith(`${path}: `) && message.test(l)),
    `expected "${path}: ${message}" among:\n${lines.join('\n')}`,
  )
}

describe('edged validatePod', () => {
  it('fills the API server defaults and leaves the input untouched', () => {
    const input = pod({
      hostNetwork: true,
      containers: [
        app({ image: 'localhost/busybox', ports: [{ containerPort: 8080 }], resources: { limits: { cpu: '500m', memory: '64Mi' } } }),
        { name: 'tagged', image: 'registry.local:5000/x:1.2' },
        { name: 'latest', image: 'x:latest' },
        { name: 'digest', image: 'x@sha256:0123' },
      ],
      volumes: [{ name: 'h', hostPath: { path: '/tmp' } }],
    })
    const before = structuredClone(input)
    const out = validatePod(input, 'w')
    assert.deepEqual(input, before)
    assert.equal(out.metadata.namespace, 'default')
    assert.equal(out.spec.restartPolicy, 'Always')
    assert.equal(out.spec.terminationGracePeriodSeconds, 30)
    assert.deepEqual(
      out.spec.containers.map((c) => c.imagePullPolicy),
      ['Always', 'IfNotPresent', 'Always', 'IfNotPresent'],
    )
    const [first] = out.spec.containers
    assert.deepEqual(first?.ports, [{ containerPort: 8080, hostPort: 8080, protocol: 'TCP' }])
    assert.deepEqual(first?.resources?.requests, { cpu: '500m', memory: '64Mi' })
    assert.equal(first?.terminationMessagePath, '/dev/termination-log')
    assert.equal(out.spec.volumes?.[0]?.hostPath?.type, '')
  })

  it('probe defaults are the API server’s', () => {
    const out = validatePod(pod({ containers: [app({ livenessProbe: { exec: { command: ['true'] } } })] }), 'w')
    assert.deepEqual(out.spec.containers[0]?.livenessProbe, { exec: { command: ['true'] }, initialDelaySeconds: 0, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 })
  })

  it('schema problems name the field path', () => {
    refusedWith(pod({ containers: [app(), app({ name: 'Bad_Name' })] }), 'spec.containers[1].name', /Invalid value/)
    refusedWith(pod({ containers: [app({ ports: [{ containerPort: 70000 }] })] }), 'spec.containers[0].ports[0].containerPort', /Invalid value/)
    refusedWith(pod({ containers: [] }), 'spec.containers', /Invalid value/)
    refusedWith(pod({ containers: [app({ image: undefined })] }), 'spec.containers[0].image', /Required value/)
    refusedWith(pod({ containers: [app()], restartPolicy: 'Sometimes' }), 'spec.restartPolicy', /Unsupported value: supported values: "Always", "OnFailure", "Never"/)
    refusedWith({ ...pod({ containers: [app()] }), kind: 'Deployment' }, 'kind', /Unsupported value: must be "Pod"/)
    refusedWith(pod({ containers: [app({ resources: { limits: { memory: '1MB' } } })] }), 'spec.containers[0].resources.limits.memory', /Invalid value/)
    assert.throws(() => validatePod('not a pod', 'w'), (e: unknown) => e instanceof TernError && e.code === 'EDGED_POD_INVALID')
  })

  it('names are unique across containers and init containers; volumes too', () => {
    refusedWith(pod({ initContainers: [app()], containers: [app()] }), 'spec.containers[0].name', /Duplicate value: "app"/)
    refusedWith(pod({ containers: [app()], volumes: [{ name: 'v', emptyDir: {} }, { name: 'v', emptyDir: {} }] }), 'spec.volumes[1].name', /Duplicate value: "v"/)
  })

  it('ports: names unique and IANA_SVC_NAME, hostPort unique per protocol and address, hostNetwork needs hostPort = containerPort', () => {
    refusedWith(pod({ containers: [app({ ports: [{ name: 'http', containerPort: 80 }, { name: 'http', containerPort: 81 }] })] }), 'spec.containers[0].ports[1].name', /Duplicate value: "http"/)
    refusedWith(pod({ containers: [app({ ports: [{ name: '8080', containerPort: 80 }] })] }), 'spec.containers[0].ports[0].name', /Invalid value/)
    refusedWith(pod({ containers: [app({ ports: [{ name: 'a--b', containerPort: 80 }] })] }), 'spec.containers[0].ports[0].name', /Invalid value/)
    const two = (p0: Json, p1: Json): Json => pod({ containers: [app({ ports: [p0] }), { name: 'b', image: 'x:1', ports: [p1] }] })
    refusedWith(two({ containerPort: 80, hostPort: 8080 }, { containerPort: 81, hostPort: 8080 }), 'spec.containers[1].ports[0].hostPort', /Duplicate value: "8080\/TCP"/)
    refusedWith(two({ containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' }, { containerPort: 81, hostPort: 8080 }), 'spec.containers[1].ports[0].hostPort', /Duplicate/)
    validatePod(two({ containerPort: 80, hostPort: 8080 }, { containerPort: 80, hostPort: 8080, protocol: 'UDP' }), 'w')
    validatePod(two({ containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' }, { containerPort: 80, hostPort: 8080, hostIP: '127.0.0.2' }), 'w')
    refusedWith(pod({ hostNetwork: true, containers: [app({ ports: [{ containerPort: 80, hostPort: 8080 }] })] }), 'spec.containers[0].ports[0].containerPort', /must match `hostPort`/)
  })

  it('volumes: exactly one source, unsupported sources refused by name, mounts refer to volumes', () => {
    refusedWith(pod({ containers: [app()], volumes: [{ name: 'v' }] }), 'spec.volumes[0]', /Required value: must specify a volume type/)
    refusedWith(pod({ containers: [app()], volumes: [{ name: 'v', emptyDir: {}, hostPath: { path: '/tmp' } }] }), 'spec.volumes[0].hostPath', /may not specify more than 1 volume type/)
    refusedWith(pod({ containers: [app()], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'c' } }] }), 'spec.volumes[0].persistentVolumeClaim', /Unsupported by edged: volume source persistentVolumeClaim/)
    refusedWith(pod({ containers: [app({ volumeMounts: [{ name: 'nope', mountPath: '/data' }] })] }), 'spec.containers[0].volumeMounts[0].name', /Not found: "nope"/)
    const vol = { volumes: [{ name: 'v', emptyDir: {} }] }
    refusedWith(pod({ ...vol, containers: [app({ volumeMounts: [{ name: 'v', mountPath: '/a' }, { name: 'v', mountPath: '/a' }] })] }), 'spec.containers[0].volumeMounts[1].mountPath', /must be unique/)
    refusedWith(pod({ ...vol, containers: [app({ volumeMounts: [{ name: 'v', mountPath: '/a', subPath: '../etc' }] })] }), 'spec.containers[0].volumeMounts[0].subPath', /must not contain '\.\.'/)
    refusedWith(pod({ containers: [app()], volumes: [{ name: 'h', hostPath: { path: 'relative/dir' } }] }), 'spec.volumes[0].hostPath.path', /absolute/)
    refusedWith(pod({ containers: [app()], volumes: [{ name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '0' } }] }), 'spec.volumes[0].emptyDir.sizeLimit', /greater than zero/)
  })

  it('probes and hooks: exactly one handler, successThreshold 1 for liveness and startup, none on init containers', () => {
    refusedWith(pod({ containers: [app({ livenessProbe: { periodSeconds: 5 } })] }), 'spec.containers[0].livenessProbe', /Required value: must specify a handler type/)
    refusedWith(pod({ containers: [app({ readinessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 } } })] }), 'spec.containers[0].readinessProbe.tcpSocket', /more than 1 handler/)
    refusedWith(pod({ containers: [app({ livenessProbe: { exec: { command: ['true'] }, successThreshold: 2 } })] }), 'spec.containers[0].livenessProbe.successThreshold', /must be 1/)
    validatePod(pod({ containers: [app({ readinessProbe: { exec: { command: ['true'] }, successThreshold: 2 } })] }), 'w')
    refusedWith(pod({ initContainers: [app({ readinessProbe: { exec: { command: ['true'] } } })], containers: [{ name: 'b', image: 'x:1' }] }), 'spec.initContainers[0].readinessProbe', /Forbidden/)
    refusedWith(pod({ containers: [app({ lifecycle: { preStop: {} } })] }), 'spec.containers[0].lifecycle.preStop', /Required value/)
    refusedWith(pod({ containers: [app({ livenessProbe: { httpGet: { port: 'Not-A-Name' } } })] }), 'spec.containers[0].livenessProbe.httpGet.port', /Invalid value/)
  })

  it('resources: cpu and memory quantities, requests ≤ limits, unknown resources refused', () => {
    refusedWith(pod({ containers: [app({ resources: { requests: { cpu: '2' }, limits: { cpu: '1500m' } } })] }), 'spec.containers[0].resources.requests[cpu]', /must be less than or equal to cpu limit of 1500m/)
    refusedWith(pod({ containers: [app({ resources: { limits: { memory: '-1Mi' } } })] }), 'spec.containers[0].resources.limits[memory]', /greater than or equal to 0/)
    refusedWith(pod({ containers: [app({ resources: { limits: { 'nvidia.com/gpu': 1 } } })] }), 'spec.containers[0].resources.limits[nvidia.com/gpu]', /Unsupported by edged/)
    validatePod(pod({ containers: [app({ resources: { requests: { cpu: 0.25, memory: '64Mi' }, limits: { cpu: '250m', memory: '0.0625Gi' } } })] }), 'w')
  })

  it('env: names, one source, the downward-API fields edged fills', () => {
    refusedWith(pod({ containers: [app({ env: [{ name: '1BAD', value: 'x' }] })] }), 'spec.containers[0].env[0].name', /Invalid value/)
    refusedWith(pod({ containers: [app({ env: [{ name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] })] }), 'spec.containers[0].env[0].valueFrom', /may not be specified when `value` is not empty/)
    refusedWith(pod({ containers: [app({ env: [{ name: 'A', valueFrom: {} }] })] }), 'spec.containers[0].env[0].valueFrom', /exactly one of/)
    refusedWith(pod({ containers: [app({ env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } }] })] }), 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath', /Unsupported by edged/)
    refusedWith(pod({ containers: [app({ envFrom: [{}] })] }), 'spec.containers[0].envFrom[0]', /exactly one of/)
    validatePod(pod({ containers: [app({ env: [{ name: 'L', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } }, { name: 'M', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } }] })] }), 'w')
  })

  it('fields the API server accepts but edged does not run are refused by name', () => {
    refusedWith(pod({ containers: [app()], ephemeralContainers: [app()] }), 'spec.ephemeralContainers', /Unsupported by edged/)
    refusedWith(pod({ containers: [app()], hostAliases: [{ ip: '10.0.0.1', hostnames: ['a'] }] }), 'spec.hostAliases', /Unsupported by edged/)
    refusedWith(pod({ initContainers: [app({ restartPolicy: 'Always' })], containers: [{ name: 'b', image: 'x:1' }] }), 'spec.initContainers[0].restartPolicy', /sidecar/)
    refusedWith(pod({ containers: [app()], securityContext: { sysctls: [{ name: 'net..bad', value: '1' }] } }), 'spec.securityContext.sysctls[0].name', /Invalid value/)
    refusedWith(pod({ containers: [app({ securityContext: { privileged: true, allowPrivilegeEscalation: false } })] }), 'spec.containers[0].securityContext', /allowPrivilegeEscalation/)
    // Scheduling fields are kept and not acted on.
    validatePod(pod({ containers: [app()], nodeSelector: { a: 'b' }, tolerations: [], serviceAccountName: 'sa', dnsPolicy: 'ClusterFirst' }), 'w')
  })

  it('more than 256 containers or init containers (a pod status carries at most 256 of each): refused, 256 accepted', () => {
    const many = (n: number, prefix: string): Json[] => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, image: 'localhost/busybox:1' }))
    refusedWith(pod({ containers: many(1000, 'c') }), 'spec.containers', /Unsupported by edged: 1000 containers, at most 256/)
    refusedWith(pod({ initContainers: many(257, 'i'), containers: [app()] }), 'spec.initContainers', /Unsupported by edged: 257 initContainers, at most 256/)
    validatePod(pod({ initContainers: many(256, 'i'), containers: many(256, 'c') }), 'w')
  })

  it('reports every problem at once, one line per field', () => {
    const lines = refused(pod({ containers: [app({ ports: [{ name: 'p', containerPort: 1 }, { name: 'p', containerPort: 2 }], volumeMounts: [{ name: 'x', mountPath: '/x' }] })], volumes: [{ name: 'v', nfs: {} }] }))
    assert.equal(lines.length, 3, lines.join('\n'))
  })
})
