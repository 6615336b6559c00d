/**
 * Pod spec → CRI configs, as tables against the kubelet's own arithmetic and rules
 * (kuberuntime_container_linux.go, kuberuntime_sandbox.go, security_context.go, expansion).
 * The same configs run real containers in runtime-configs-containerd.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdir, stat, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { containerConfig, type ContainerContext } from '../../edged/kuberuntime/container-config.js'
import { expand, mappingFor } from '../../edged/kuberuntime/expansion.js'
import { linuxResources, milliCpuToQuota, milliCpuToShares } from '../../edged/kuberuntime/resources.js'
import { sandboxConfig } from '../../edged/kuberuntime/sandbox-config.js'
import { CONTAINER_NAME, MANAGED_BY, POD_UID } from '../../edged/labels.js'
import { podQOSClass } from '../../edged/pod/qos.js'
import { validatePod } from '../../edged/pod/validate.js'
import { TernError } from '../../schemas/tern-error.js'
import type { Pod } from '../../schemas/pod.js'
import { scratchDir } from '../support/resources.js'

type Json = Record<string, unknown>
const GiB = 1024 ** 3
function pod(spec: Json, metadata: Json = {}): Pod {
  return validatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'ns1', uid: 'uid-1', ...metadata }, spec }, 'test')
}
/** edged's root for the suite: containerConfig makes each container's termination message file under it */
let rootDir = ''
const ctx = (extra: Partial<ContainerContext> = {}): ContainerContext => ({ nodeName: 'edge-1', hostIP: '10.0.0.5', rootDir, restartCount: 0, podIP: '10.189.0.7', volumes: new Map(), memoryCapacity: 4 * GiB, ...extra })
const first = (p: Pod) => p.spec.containers[0]!
const isConfigError = (e: unknown) => e instanceof TernError && e.code === 'EDGED_CONTAINER_CONFIG_ERROR'

describe('edged runtime configs', () => {
  let root: Awaited<ReturnType<typeof scratchDir>> | undefined
  before(async () => {
    root = await scratchDir('tern-configs-root-')
    rootDir = root.path
  })
  after(async () => {
    await root?.remove()
  })

  it('cpu shares and CFS quota as cm.MilliCPUToShares / milliCPUToQuota', () => {
    assert.deepEqual([0n, 1n, 2n, 250n, 1000n, 300_000n].map(milliCpuToShares), [2, 2, 2, 256, 1024, 262_144])
    assert.deepEqual([0n, 1n, 5n, 10n, 250n, 1500n].map((m) => milliCpuToQuota(m, 100_000)), [0, 1000, 1000, 1000, 25_000, 150_000])
  })

  it('LinuxContainerResources per QoS class: BestEffort, Burstable, Guaranteed', () => {
    const bestEffort = pod({ containers: [{ name: 'a', image: 'x:1' }] })
    assert.equal(podQOSClass(bestEffort), 'BestEffort')
    assert.deepEqual(linuxResources(bestEffort, first(bestEffort), 4 * GiB), { cpuShares: 2, cpuPeriod: 100_000, cpuQuota: 0, oomScoreAdj: 1000 })

    const burstable = pod({ containers: [{ name: 'a', image: 'x:1', resources: { requests: { cpu: '250m', memory: '1Gi' }, limits: { cpu: '500m', memory: '2Gi' } } }] })
    assert.equal(podQOSClass(burstable), 'Burstable')
    // 1000 - 1000 × 1 GiB / 4 GiB = 750
    assert.deepEqual(linuxResources(burstable, first(burstable), 4 * GiB), { cpuShares: 256, cpuPeriod: 100_000, cpuQuota: 50_000, memoryLimitInBytes: 2 * GiB, oomScoreAdj: 750 })

    // Only limits: requests default to them, so the pod is Guaranteed.
    const guaranteed = pod({ containers: [{ name: 'a', image: 'x:1', resources: { limits: { cpu: '1', memory: '64Mi' } } }] })
    assert.equal(podQOSClass(guaranteed), 'Guaranteed')
    assert.deepEqual(linuxResources(guaranteed, first(guaranteed), 4 * GiB), { cpuShares: 1024, cpuPeriod: 100_000, cpuQuota: 100_000, memoryLimitInBytes: 64 * 1024 * 1024, oomScoreAdj: -997 })

    // Burstable with no memory request: 1000 would tie BestEffort, so 999; a huge request floors at 3.
    const noMem = pod({ containers: [{ name: 'a', image: 'x:1', resources: { requests: { cpu: '100m' } } }] })
    assert.equal(linuxResources(noMem, first(noMem), 4 * GiB).oomScoreAdj, 999)
    const huge = pod({ containers: [{ name: 'a', image: 'x:1', resources: { requests: { memory: '4Gi' } } }] })
    assert.equal(linuxResources(huge, first(huge), 4 * GiB).oomScoreAdj, 3)
  })

  it('sandbox: labels (the kubelet’s win over the pod’s), hostname, log directory, port mappings, namespaces, pod security context, sysctls', () => {
    const p = pod(
      {
        containers: [{ name: 'a', image: 'x:1', ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 53, protocol: 'UDP' }], securityContext: { privileged: true } }],
        securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000], sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
        hostIPC: true,
      },
      { labels: { app: 'web', [POD_UID]: 'forged' }, annotations: { note: 'x' } },
    )
    const config = sandboxConfig(p, ctx(), 2)
    assert.deepEqual(config.metadata, { name: 'web', namespace: 'ns1', uid: 'uid-1', attempt: 2 })
    assert.equal(config.hostname, 'web')
    assert.equal(config.logDirectory, join(rootDir, 'pods/ns1_web_uid-1'))
    assert.equal(config.labels?.app, 'web')
    assert.equal(config.labels?.[POD_UID], 'uid-1')
    assert.equal(config.labels?.[MANAGED_BY], 'tern-edged')
    assert.equal(config.annotations?.note, 'x')
    assert.deepEqual(config.portMappings, [
      { protocol: 'TCP', containerPort: 80, hostPort: 8080 },
      { protocol: 'UDP', containerPort: 53 },
    ])
    assert.deepEqual(config.linux, {
      securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'NODE' }, runAsUser: { value: 1000 }, runAsGroup: { value: 3000 }, supplementalGroups: [2000, 4000], privileged: true },
      sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
    })
    const hostNet = sandboxConfig(pod({ hostNetwork: true, hostname: 'ignored', containers: [{ name: 'a', image: 'x:1' }] }), ctx(), 0)
    assert.equal(hostNet.hostname, '')
    assert.equal(hostNet.linux?.securityContext?.namespaceOptions?.network, 'NODE')
  })

  it('$(VAR) expansion as the kubelet’s forked expansion package', () => {
    const m = mappingFor(new Map([['A', 'x'], ['B', 'y']]))
    const table: Array<[string, string]> = [
      ['$(A)', 'x'],
      ['$(A)-$(B)', 'x-y'],
      ['$(C)', '$(C)'],
      ['$$(A)', '$(A)'],
      ['$$$(A)', '$x'],
      ['$(A', '$(A'],
      ['a$b', 'a$b'],
      ['$', '$'],
      ['$()', '$()'], // an empty name is not defined, so it is kept
      ['$(A)$', 'x$'],
    ]
    for (const [input, out] of table) assert.equal(expand(input, m), out, input)
  })

  it('env: envFrom then env in order, expansion against earlier variables, fieldRefs, resourceFieldRefs, ConfigMap and Secret keys', async () => {
    const p = pod(
      {
        nodeName: 'edge-1',
        containers: [
          {
            name: 'a',
            image: 'x:1',
            command: ['/bin/sh', '-c'],
            args: ['echo $(GREETING) $(POD_NAME) $(MISSING) $$(POD_NAME)'],
            envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }, { secretRef: { name: 'absent', optional: true } }],
            env: [
              { name: 'NAME', value: 'world' },
              { name: 'GREETING', value: 'hello $(NAME) $(LATER)' },
              { name: 'LATER', value: 'late' },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
              { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
              { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
              { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
              { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
              { name: 'KEY', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
              { name: 'PASS', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
              { name: 'OPT', valueFrom: { secretKeyRef: { name: 'creds', key: 'none', optional: true } } },
            ],
            resources: { limits: { memory: '64Mi', cpu: '500m' } },
          },
        ],
      },
      { labels: { app: 'shop' } },
    )
    const resolve = {
      configMap: (ns: string, name: string) => Promise.resolve(ns === 'ns1' && name === 'cfg' ? { mode: 'fast', 'bad-name!': 'x', level: '3' } : undefined),
      secret: (ns: string, name: string) => Promise.resolve(ns === 'ns1' && name === 'creds' ? { password: 's3cret' } : undefined),
    }
    const config = await containerConfig(p, first(p), ctx({ resolve }))
    const env = Object.fromEntries((config.envs ?? []).map((e) => [e.key, e.value]))
    assert.deepEqual(env, {
      CFG_mode: 'fast',
      CFG_level: '3',
      NAME: 'world',
      GREETING: 'hello world $(LATER)',
      LATER: 'late',
      POD_NAME: 'web',
      POD_NS: 'ns1',
      POD_UID: 'uid-1',
      NODE: 'edge-1',
      POD_IP: '10.189.0.7',
      HOST_IP: '10.0.0.5',
      APP: 'shop',
      MEM_MI: '64',
      CPU: '1',
      KEY: 'fast',
      PASS: 's3cret',
    })
    assert.deepEqual(config.args, ['echo hello world $(LATER) web $(MISSING) $(POD_NAME)'])
  })

  it('a missing ConfigMap, Secret or key that is not optional is EDGED_CONTAINER_CONFIG_ERROR naming it', async () => {
    const withEnv = (env: Json[]) => pod({ containers: [{ name: 'a', image: 'x:1', env }] })
    const none = { configMap: () => Promise.resolve(undefined), secret: () => Promise.resolve({ other: 'x' }) }
    for (const [p, name] of [
      [withEnv([{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }]), /configmap "cfg" not found/],
      [withEnv([{ name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]), /couldn't find key k in secret ns1\/s/],
      [pod({ containers: [{ name: 'a', image: 'x:1', envFrom: [{ configMapRef: { name: 'cfg' } }] }] }), /configmap "cfg" not found/],
    ] as const) {
      await assert.rejects(containerConfig(p, first(p), ctx({ resolve: none })), (e: unknown) => isConfigError(e) && name.test((e as Error).message))
    }
    // No resolver at all (no cloud objects on this node): the same refusal.
    const p = withEnv([{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }])
    await assert.rejects(containerConfig(p, first(p), ctx()), isConfigError)
  })

  it('security context: the container’s over the pod’s, fsGroup in the groups, no_new_privs, capabilities, runAsNonRoot checked', async () => {
    const p = pod({
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
      containers: [{ name: 'a', image: 'x:1', securityContext: { runAsUser: 1001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } } }],
    })
    const config = await containerConfig(p, first(p), ctx())
    assert.deepEqual(config.linux?.securityContext, {
      namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      runAsUser: { value: 1001 },
      runAsGroup: { value: 1000 },
      readonlyRootfs: true,
      supplementalGroups: [2000],
      capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] },
      noNewPrivs: true,
    })
    const nonRoot = (sc: Json, imageUser?: { uid?: number; username?: string }) => {
      const q = pod({ securityContext: { runAsNonRoot: true, ...sc }, containers: [{ name: 'a', image: 'x:1' }] })
      return containerConfig(q, first(q), ctx(imageUser === undefined ? {} : { imageUser }))
    }
    await assert.rejects(nonRoot({ runAsUser: 0 }), (e: unknown) => isConfigError(e) && /runAsUser breaks non-root policy/.test((e as Error).message))
    await assert.rejects(nonRoot({}, { uid: 0 }), (e: unknown) => isConfigError(e) && /image will run as root/.test((e as Error).message))
    await assert.rejects(nonRoot({}, { username: 'app' }), (e: unknown) => isConfigError(e) && /non-numeric user \(app\)/.test((e as Error).message))
    await assert.rejects(nonRoot({}), isConfigError)
    await nonRoot({}, { uid: 65534 })
    await nonRoot({ runAsUser: 1000 }, { uid: 0 })
  })

  it('container: metadata attempt, labels, annotations, log path, mounts with subPath, image reference', async () => {
    const dir = await scratchDir('tern-configs-')
    try {
      const data = join(dir.path, 'data')
      await mkdir(data)
      await symlink('/etc', join(data, 'escape'))
      const p = pod({
        volumes: [{ name: 'data', emptyDir: {} }],
        containers: [{ name: 'a', image: 'x:1', workingDir: '/w', volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }, { name: 'data', mountPath: '/logs', subPath: 'logs/a' }] }],
      })
      const config = await containerConfig(p, first(p), ctx({ restartCount: 3, volumes: new Map([['data', data]]), imageRef: 'sha256:abc' }))
      assert.deepEqual(config.metadata, { name: 'a', attempt: 3 })
      assert.deepEqual(config.image, { image: 'sha256:abc' })
      assert.equal(config.workingDir, '/w')
      assert.equal(config.logPath, join('a', '3.log'))
      assert.equal(config.labels?.[CONTAINER_NAME], 'a')
      assert.equal(config.labels?.[POD_UID], 'uid-1')
      assert.equal(config.annotations?.['io.kubernetes.container.restartCount'], '3')
      assert.equal(config.annotations?.['io.kubernetes.pod.terminationGracePeriod'], '30')
      const terminationLog = join(rootDir, 'containers', 'uid-1', 'a', 'termination-log-3')
      assert.deepEqual(config.mounts, [
        { containerPath: '/data', hostPath: data, readonly: true, propagation: 'PROPAGATION_PRIVATE' },
        { containerPath: '/logs', hostPath: join(data, 'logs', 'a'), readonly: false, propagation: 'PROPAGATION_PRIVATE' },
        // the kubelet's makeMounts: an empty file, any user of the container may write
        { containerPath: '/dev/termination-log', hostPath: terminationLog, readonly: false, propagation: 'PROPAGATION_PRIVATE' },
      ])
      assert.equal((await stat(terminationLog)).mode & 0o777, 0o666)
      assert.equal((await stat(terminationLog)).size, 0)
      assert.equal(config.annotations?.['io.kubernetes.container.terminationMessagePath'], '/dev/termination-log')
      assert.equal(config.annotations?.['io.kubernetes.container.terminationMessagePolicy'], 'File')
      const escaping = pod({ volumes: [{ name: 'data', emptyDir: {} }], containers: [{ name: 'a', image: 'x:1', volumeMounts: [{ name: 'data', mountPath: '/e', subPath: 'escape' }] }] })
      await assert.rejects(containerConfig(escaping, first(escaping), ctx({ volumes: new Map([['data', data]]) })), (e: unknown) => isConfigError(e) && /leads out of volume data/.test((e as Error).message))
      await assert.rejects(containerConfig(escaping, first(escaping), ctx()), (e: unknown) => isConfigError(e) && /not set up/.test((e as Error).message))
    } finally {
      await dir.remove()
    }
  })
})
