/**
 * Pod specs run through edged's configs (validatePod → VolumeManager → sandboxConfig →
 * containerConfig) on a real containerd 1.6 with runc, no sync loop, and their effects checked
 * from outside: the cgroup files of the container's process, files in volumes on the host and in a
 * second container, the tmpfs in containerd's mount table, a hostPort answering in containerd's
 * network namespace, what `id`, `touch` and `env` print in the container.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Backoff } from '../../edged/backoff.js'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { containerConfig } from '../../edged/kuberuntime/container-config.js'
import { sandboxConfig, type PodContext } from '../../edged/kuberuntime/sandbox-config.js'
import { ImageManager } from '../../edged/images.js'
import { containerLogPath, podLogDir } from '../../edged/labels.js'
import { validatePod } from '../../edged/pod/validate.js'
import { VolumeManager } from '../../edged/volumes.js'
import { mountPoints, systemMounter } from '../../edged/volumes/mounter.js'
import { realClock } from '../../mappers/runtime/clock.js'
import { TernError } from '../../schemas/tern-error.js'
import type { Pod } from '../../schemas/pod.js'
import { BUSYBOX_IMAGE, BUSYBOX_NOBODY_IMAGE, startContainerd, type Containerd } from '../support/containerd.js'
import { processCgroups, readCgroupFile } from '../support/cgroups.js'
import { freePort, scratchDir } from '../support/resources.js'

const execFileAsync = promisify(execFile)
type Json = Record<string, unknown>

async function eventually<T>(test: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await test().catch(() => undefined)
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

interface RunningPod {
  pod: Pod
  sandboxId: string
  podIP: string
  /** container name → id */
  ids: Map<string, string>
  /** The container's log lines so far (the text after `<time> <stream> F `). */
  log(container: string): Promise<string[]>
  waitExited(container: string): Promise<number>
  remove(): Promise<void>
}

describe('edged runtime configs on a real containerd', function () {
  // containerd's start and each sandbox take seconds on a loaded 2-core machine
  this.timeout(180_000)
  let containerd: Containerd
  let rt: ContainerRuntime
  let root: { path: string; remove(): Promise<void> }
  let volumes: VolumeManager
  let ctx: PodContext
  let images: ImageManager

  before(async () => {
    containerd = await startContainerd()
    rt = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 90_000 })
    root = await scratchDir('tern-edged-root-')
    ctx = { nodeName: 'edge-1', hostIP: '10.189.0.1', rootDir: root.path }
    // containerd runs in its own mount namespace: tmpfs volumes must be mounted there for its containers to see them.
    volumes = new VolumeManager({ rootDir: root.path, mounter: systemMounter({ namespacePid: containerd.pid }) })
    images = new ImageManager({ runtime: rt, clock: realClock, backoff: new Backoff({ clock: realClock }) })
  })
  after(async () => {
    rt?.close()
    await containerd?.stop()
    await root?.remove()
  })

  async function runPod(spec: Json, metadata: Json = {}): Promise<RunningPod> {
    const pod = validatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', uid: randomUUID(), ...metadata }, spec }, 'test pod')
    const paths = await volumes.setUp(pod)
    const sandbox = sandboxConfig(pod, ctx, 0)
    const sandboxId = await rt.runPodSandbox(sandbox)
    const podIP = (await rt.podSandboxStatus(sandboxId)).network?.ip ?? ''
    const ids = new Map<string, string>()
    for (const c of pod.spec.containers) {
      const imageRef = await images.ensure(pod, c)
      const config = await containerConfig(pod, c, { ...ctx, restartCount: 0, podIP, volumes: paths, imageRef, imageUser: await images.user(imageRef) })
      const id = await rt.createContainer(sandboxId, config, sandbox)
      await rt.startContainer(id)
      ids.set(c.name, id)
    }
    const logDir = podLogDir(root.path, { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid ?? '' })
    const log = async (container: string): Promise<string[]> => {
      const text = await readFile(join(logDir, containerLogPath(container, 0)), 'utf8').catch(() => '')
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split(' ').slice(3).join(' '))
    }
    const id = (container: string): string => ids.get(container) ?? assert.fail(`no container ${container}`)
    return {
      pod,
      sandboxId,
      podIP,
      ids,
      log,
      waitExited: async (container) => {
        const s = await eventually(async () => {
          const status = await rt.containerStatus(id(container))
          return status.state === 'CONTAINER_EXITED' && status
        }, 60_000, `${container} to exit`)
        return s.exitCode
      },
      remove: async () => {
        for (const cid of ids.values()) {
          await rt.stopContainer(cid, 0)
          await rt.removeContainer(cid)
        }
        await rt.stopPodSandbox(sandboxId)
        await rt.removePodSandbox(sandboxId)
        await volumes.tearDown(pod)
      },
    }
  }

  const sh = (name: string, script: string, extra: Json = {}): Json => ({ name, image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', `trap "exit 0" TERM; ${script}`], ...extra })
  const idle = 'while true; do sleep 0.2; done'

  it('resources: the process’s cgroup has the kubelet’s cpu.shares, CFS quota and period, and memory limit', async () => {
    const p = await runPod({ containers: [sh('app', idle, { resources: { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '250m', memory: '64Mi' } } })] })
    try {
      const containerId = p.ids.get('app') ?? ''
      const cgroups = await eventually(() => processCgroups(containerId), 30_000, 'the container process')
      const read = (controller: string, file: string): Promise<string> => readCgroupFile(cgroups, controller, file)
      assert.equal(await read('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024))
      assert.equal(await read('cpu', 'cpu.cfs_quota_us'), '25000')
      assert.equal(await read('cpu', 'cpu.cfs_period_us'), '100000')
      assert.equal(await read('cpu', 'cpu.shares'), '102')
    } finally {
      await p.remove()
    }
  })

  it('emptyDir: a file written by one container is on the host and seen by a second; Memory medium is a sized tmpfs, unmounted and removed by tearDown', async () => {
    const p = await runPod({
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } },
      ],
      containers: [
        sh('writer', `echo hello > /data/a.txt && echo kept-in-memory > /mem/m.txt && grep " /mem " /proc/mounts; ${idle}`, { volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'mem', mountPath: '/mem' }] }),
        sh('reader', `while [ ! -f /shared/a.txt ]; do sleep 0.1; done; echo "read $(cat /shared/a.txt)"; ${idle}`, { volumeMounts: [{ name: 'data', mountPath: '/shared', readOnly: true }] }),
      ],
    })
    const uid = p.pod.metadata.uid ?? ''
    const volumeDir = join(root.path, 'volumes', uid)
    try {
      await eventually(async () => (await p.log('reader')).includes('read hello'), 30_000, 'the reader to see the file')
      assert.equal(await readFile(join(volumeDir, 'data', 'a.txt'), 'utf8'), 'hello\n')
      const [mountLine] = await eventually(async () => {
        const lines = (await p.log('writer')).filter((l) => l.includes(' /mem '))
        return lines.length > 0 && lines
      }, 30_000, 'the writer’s mount line')
      assert.match(mountLine ?? '', /^tmpfs \/mem tmpfs rw,.*size=8192k/)
      // From outside: the tmpfs is in containerd's mount table, and its file is in memory only.
      const containerdMounts = async (): Promise<string[]> => mountPoints(await readFile(`/proc/${containerd.pid}/mountinfo`, 'utf8'))
      assert.ok((await containerdMounts()).includes(join(volumeDir, 'mem')))
      assert.equal(await readFile(join(`/proc/${containerd.pid}/root`, volumeDir, 'mem', 'm.txt'), 'utf8'), 'kept-in-memory\n')
      // A second setUp (every sync calls it) mounts nothing twice.
      await volumes.setUp(p.pod)
      assert.equal((await containerdMounts()).filter((m) => m === join(volumeDir, 'mem')).length, 1)
    } finally {
      await p.remove()
    }
    const left = mountPoints(await readFile(`/proc/${containerd.pid}/mountinfo`, 'utf8')).filter((m) => m.startsWith(volumeDir))
    assert.deepEqual(left, [])
    await assert.rejects(stat(volumeDir), /ENOENT/)
  })

  it('hostPath: the kubelet’s type checks; DirectoryOrCreate and FileOrCreate create, a container writes into the host directory', async () => {
    const dir = join(root.path, 'host')
    await mkdir(dir)
    await writeFile(join(dir, 'config.txt'), 'from the host\n')
    const volume = (name: string, path: string, type: string): Json => ({ name, hostPath: { path, type } })
    const p = await runPod({
      volumes: [volume('created', join(dir, 'new', 'dir'), 'DirectoryOrCreate'), volume('file', join(dir, 'config.txt'), 'File'), volume('touched', join(dir, 'touched.txt'), 'FileOrCreate')],
      containers: [
        sh('app', `cat /etc/app/config.txt && echo written > /out/result.txt && echo done`, {
          volumeMounts: [{ name: 'created', mountPath: '/out' }, { name: 'file', mountPath: '/etc/app/config.txt', readOnly: true }, { name: 'touched', mountPath: '/touched.txt' }],
        }),
      ],
    })
    try {
      assert.equal(await p.waitExited('app'), 0)
      assert.deepEqual(await p.log('app'), ['from the host', 'done'])
      assert.equal(await readFile(join(dir, 'new', 'dir', 'result.txt'), 'utf8'), 'written\n')
      assert.equal((await stat(join(dir, 'new', 'dir'))).mode & 0o777, 0o755)
      assert.equal((await readFile(join(dir, 'touched.txt'), 'utf8')), '')
    } finally {
      await p.remove()
    }
    // tearDown never touches a host path.
    assert.equal(await readFile(join(dir, 'new', 'dir', 'result.txt'), 'utf8'), 'written\n')

    const refused = async (path: string, type: string, message: RegExp): Promise<void> => {
      const pod = validatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hp', uid: randomUUID() }, spec: { volumes: [volume('v', path, type)], containers: [{ name: 'a', image: BUSYBOX_IMAGE }] } }, 'test')
      await assert.rejects(volumes.setUp(pod), (e: unknown) => e instanceof TernError && e.code === 'EDGED_VOLUME_SETUP_FAILED' && message.test(e.message))
    }
    await refused(join(dir, 'absent'), 'Directory', /absent does not exist/)
    await refused(join(dir, 'config.txt'), 'Directory', /is not a directory/)
    await refused(join(dir, 'absent.txt'), 'File', /does not exist/)
    await refused(dir, 'File', /is not a file/)
    await refused(dir, 'FileOrCreate', /is not a file/)
    await refused(join(dir, 'config.txt'), 'Socket', /is not a socket file/)
    await refused('/dev/null', 'BlockDevice', /is not a block device/)
    await refused(join(dir, 'config.txt'), 'DirectoryOrCreate', /is not a directory/)
  })

  it('configMap and secret volumes: keys as files with their modes, the secret on a tmpfs; a new VolumeManager (after a restart) tears down what it finds', async () => {
    const files = {
      configMapFiles: (ns: string, name: string) => Promise.resolve(ns === 'default' && name === 'cfg' ? { 'app.conf': Buffer.from('mode=fast\n'), other: Buffer.from('x') } : undefined),
      secretFiles: (ns: string, name: string) => Promise.resolve(ns === 'default' && name === 'creds' ? { password: Buffer.from('s3cret') } : undefined),
    }
    const manager = new VolumeManager({ rootDir: root.path, mounter: systemMounter({ namespacePid: containerd.pid }), files })
    const pod = validatePod(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'cm', uid: randomUUID() },
        spec: {
          volumes: [
            { name: 'config', configMap: { name: 'cfg', items: [{ key: 'app.conf', path: 'etc/app.conf' }] } },
            { name: 'creds', secret: { secretName: 'creds', defaultMode: 0o400 } },
            { name: 'absent', configMap: { name: 'nope', optional: true } },
          ],
          containers: [{ name: 'a', image: BUSYBOX_IMAGE }],
        },
      },
      'test',
    )
    const uid = pod.metadata.uid ?? ''
    const paths = await manager.setUp(pod)
    const inContainerd = (path: string): string => join(`/proc/${containerd.pid}/root`, path)
    assert.equal(await readFile(join(paths.get('config') ?? '', 'etc', 'app.conf'), 'utf8'), 'mode=fast\n')
    await assert.rejects(stat(join(paths.get('config') ?? '', 'other')), /ENOENT/)
    const secretFile = inContainerd(join(paths.get('creds') ?? '', 'password'))
    assert.equal(await readFile(secretFile, 'utf8'), 's3cret')
    assert.equal((await stat(secretFile)).mode & 0o777, 0o400)
    assert.ok(mountPoints(await readFile(`/proc/${containerd.pid}/mountinfo`, 'utf8')).includes(paths.get('creds') ?? ''), 'the secret is on a tmpfs')
    // Under the tmpfs, on the disk, there is nothing.
    await assert.rejects(stat(join(paths.get('creds') ?? '', 'password')), /ENOENT/)
    const missing = validatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cm2', uid: randomUUID() }, spec: { volumes: [{ name: 's', secret: { secretName: 'nope' } }], containers: [{ name: 'a', image: BUSYBOX_IMAGE }] } }, 'test')
    await assert.rejects(manager.setUp(missing), (e: unknown) => e instanceof TernError && e.code === 'EDGED_VOLUME_SETUP_FAILED' && /secret "nope" not found/.test(e.message))
    await manager.tearDown(missing)

    const restarted = new VolumeManager({ rootDir: root.path, mounter: systemMounter({ namespacePid: containerd.pid }) })
    assert.ok((await restarted.podsWithVolumes()).includes(uid))
    await restarted.tearDownUid(uid)
    assert.deepEqual(mountPoints(await readFile(`/proc/${containerd.pid}/mountinfo`, 'utf8')).filter((m) => m.includes(uid)), [])
    await assert.rejects(stat(join(root.path, 'volumes', uid)), /ENOENT/)
  })

  it('hostPort: the port mapping answers on the node address of containerd’s network namespace', async () => {
    const hostPort = await freePort()
    const p = await runPod({ containers: [sh('web', `mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 8080 -h /www`, { ports: [{ name: 'http', containerPort: 8080, hostPort }] })] })
    try {
      const url = `http://${ctx.hostIP}:${hostPort}/`
      const body = await eventually(async () => {
        // A Node client in that namespace (busybox-static's wget crashes resolving even an address on the host's glibc).
        const get = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).then((t) => process.stdout.write(t))`
        const { stdout } = await execFileAsync('nsenter', [`--target=${containerd.pid}`, '--net', '--', process.execPath, '-e', get], { timeout: 20_000 })
        return stdout
      }, 60_000, `${url} to answer`)
      assert.equal(body, 'pong\n')
    } finally {
      await p.remove()
    }
  })

  it('securityContext: runAsUser/runAsGroup/fsGroup seen by id; readOnlyRootFilesystem refuses a write', async () => {
    const p = await runPod({
      securityContext: { runAsUser: 65534, runAsGroup: 65534, fsGroup: 1234, supplementalGroups: [5678] },
      containers: [
        sh('who', 'id'),
        sh('ro', 'if touch /x 2>/dev/null; then echo wrote; else echo refused; fi; touch /tmp/y 2>/dev/null && echo tmp-writable', { securityContext: { runAsUser: 0, readOnlyRootFilesystem: true } }),
      ],
    })
    try {
      await p.waitExited('who')
      await p.waitExited('ro')
      const [id] = await p.log('who')
      assert.match(id ?? '', /^uid=65534\(nobody\) gid=65534\(nogroup\) groups=.*\b1234\b.*\b5678\b/)
      assert.deepEqual(await p.log('ro'), ['refused'])
    } finally {
      await p.remove()
    }
  })

  it('runAsNonRoot: an image whose config names a non-root user runs as it; an image running as root is refused before the container exists', async () => {
    const p = await runPod({ securityContext: { runAsNonRoot: true }, containers: [{ name: 'who', image: BUSYBOX_NOBODY_IMAGE, command: ['id', '-u'] }] })
    try {
      await p.waitExited('who')
      assert.deepEqual(await p.log('who'), ['65534'])
    } finally {
      await p.remove()
    }
    const before = (await rt.listContainers()).length
    await assert.rejects(
      runPod({ securityContext: { runAsNonRoot: true }, containers: [sh('root', 'id -u')] }, { name: 'rooted' }),
      (e: unknown) => e instanceof TernError && e.code === 'EDGED_CONTAINER_CONFIG_ERROR' && /image will run as root/.test(e.message),
    )
    assert.equal((await rt.listContainers()).length, before)
  })

  it('env: values, $(VAR) expansion in env and args, fieldRefs of the pod and node, resourceFieldRef', async () => {
    const p = await runPod(
      {
        containers: [
          sh('env', 'echo "args: $0"; env | sort', {
            command: ['/bin/sh', '-c', 'echo "args: $1"; env | sort', 'sh', 'hello $(WHO) from $(POD_NAME)'],
            env: [
              { name: 'WHO', value: 'world' },
              { name: 'GREETING', value: 'hi $(WHO) $$(WHO)' },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
              { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
              { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
              { name: 'MEMORY_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            ],
            resources: { limits: { memory: '48Mi' } },
          }),
        ],
      },
      { name: 'env-pod', namespace: 'edge', labels: { tier: 'front' } },
    )
    try {
      assert.equal(await p.waitExited('env'), 0)
      const lines = await p.log('env')
      const env = Object.fromEntries(lines.filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
      assert.equal(lines[0], 'args: hello world from env-pod')
      assert.deepEqual(
        { WHO: env.WHO, GREETING: env.GREETING, POD_NAME: env.POD_NAME, POD_NAMESPACE: env.POD_NAMESPACE, POD_UID: env.POD_UID, NODE_NAME: env.NODE_NAME, POD_IP: env.POD_IP, HOST_IP: env.HOST_IP, TIER: env.TIER, MEMORY_MI: env.MEMORY_MI },
        { WHO: 'world', GREETING: 'hi world $(WHO)', POD_NAME: 'env-pod', POD_NAMESPACE: 'edge', POD_UID: p.pod.metadata.uid, NODE_NAME: 'edge-1', POD_IP: p.podIP, HOST_IP: '10.189.0.1', TIER: 'front', MEMORY_MI: '48' },
      )
      assert.match(p.podIP, /^10\.189\.0\.\d+$/)
    } finally {
      await p.remove()
    }
  })
})
