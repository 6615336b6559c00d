/**
 * What edged puts into a pod's containers from the node, as the kubelet does, checked through its
 * own loop on a real containerd:
 * - the termination message: the file mounted at terminationMessagePath becomes the terminated
 *   state's message; with FallbackToLogsOnError a failed container that wrote none gets its log's tail;
 * - fsGroup: emptyDir volumes (disk and Memory) owned by the pod's fsGroup with setgid, so what
 *   the container writes there is the group's; fsGroup and supplementalGroups as the process's
 *   groups (seen from inside with `id` and `stat`); configMap and secret files read-only to the group.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { containerLogPath, podLogDir } from '../../edged/labels.js'
import { validatePod } from '../../edged/pod/validate.js'
import { VolumeManager } from '../../edged/volumes.js'
import { systemMounter } from '../../edged/volumes/mounter.js'
import { BUSYBOX_IMAGE } from '../support/containerd.js'
import { busyboxPod, containersOf, edgedSuite, eventually, NODE, readSnapshot, SLEEP_FOREVER, writeManifest } from '../support/edged.js'

describe('edged: files the node gives a pod (real containerd)', function () {
  this.timeout(240_000)
  const suite = edgedSuite()

  it('terminationMessagePath and FallbackToLogsOnError: the last state carries the message', async () => {
    const { harness: h } = suite()
    const pod = busyboxPod(
      'ended',
      {
        file: "printf 'disk full' > /dev/termination-log; exit 3",
        custom: "echo ignored; printf 'custom path' > /tmp/why; exit 0",
        logs: 'echo first; echo boom >&2; exit 1',
        quiet: 'echo fine; exit 0',
      },
      { restartPolicy: 'Never' },
    )
    const containers = (pod.spec as { containers: Array<Record<string, unknown>> }).containers
    containers[1]!.terminationMessagePath = '/tmp/why'
    containers[2]!.terminationMessagePolicy = 'FallbackToLogsOnError'
    containers[3]!.terminationMessagePolicy = 'FallbackToLogsOnError'
    await writeManifest(h.manifests, 'ended.yaml', pod)
    const name = `ended-${NODE}`
    const statuses = await eventually(async () => {
      const p = (await readSnapshot(h.rootDir))?.pods.find((x) => x.name === name)
      const all = p?.status.containerStatuses ?? []
      return all.length === 4 && all.every((s) => s.state.terminated !== undefined) && new Map(all.map((s) => [s.name, s.state.terminated!]))
    }, 120_000, 'all four containers terminated in the snapshot')
    assert.equal(statuses.get('file')?.exitCode, 3)
    assert.equal(statuses.get('file')?.message, 'disk full')
    assert.equal(statuses.get('custom')?.message, 'custom path')
    // stdout and stderr reach the log through separate pipes: their relative order is containerd's
    assert.deepEqual(statuses.get('logs')?.message?.split('\n').sort(), ['', 'boom', 'first'], 'the log tail of a failed container that wrote no message')
    assert.equal(statuses.get('quiet')?.message, undefined, 'no fallback for a container that succeeded')
  })

  it('fsGroup owns emptyDir volumes with setgid; fsGroup and supplementalGroups are the process’s groups', async () => {
    const { harness: h } = suite()
    const script = 'id; stat -c "%g %a" /data /mem; touch /data/made /mem/made; stat -c "%g" /data/made /mem/made; echo done'
    const pod = busyboxPod(
      'grouped',
      { app: `${script}; ${SLEEP_FOREVER}` },
      {
        securityContext: { runAsUser: 1000, fsGroup: 1234, supplementalGroups: [5678] },
        volumes: [
          { name: 'data', emptyDir: {} },
          { name: 'mem', emptyDir: { medium: 'Memory' } },
        ],
      },
    )
    ;(pod.spec as { containers: Array<Record<string, unknown>> }).containers[0]!.volumeMounts = [
      { name: 'data', mountPath: '/data' },
      { name: 'mem', mountPath: '/mem' },
    ]
    await writeManifest(h.manifests, 'grouped.yaml', pod)
    const name = `grouped-${NODE}`
    const [running] = await eventually(async () => {
      const list = await containersOf(h.runtime, name, 'CONTAINER_RUNNING')
      return list.length === 1 && list
    }, 90_000, 'the container running')
    const uid = running?.labels['io.kubernetes.pod.uid'] ?? ''
    const logFile = join(podLogDir(h.rootDir, { name, namespace: 'default', uid }), containerLogPath('app', 0))
    const lines = await eventually(async () => {
      const text = await readFile(logFile, 'utf8')
      return text.includes('stdout F done') && text.split('\n').map((l) => l.split(' ').slice(3).join(' '))
    }, 60_000, 'the container’s output')
    assert.match(lines[0] ?? '', /^uid=1000 gid=0\(root\) groups=.*\b1234\b.*\b5678\b/, 'fsGroup and supplementalGroups are the process’s groups')
    assert.deepEqual(lines.slice(1, 5), ['1234 2777', '1234 2777', '1234', '1234'], 'the volumes are the group’s, setgid: what the container makes there is the group’s too')
  })

  it('configMap and secret files: the fsGroup’s, read-only to it; directories setgid', async () => {
    const { harness: h, containerd: cd } = suite()
    const files = {
      configMapFiles: () => Promise.resolve({ 'app.conf': Buffer.from('a=1\n') }),
      secretFiles: () => Promise.resolve({ token: Buffer.from('t0k3n') }),
    }
    const manager = new VolumeManager({ rootDir: h.rootDir, mounter: systemMounter({ namespacePid: cd.pid }), files })
    const pod = validatePod(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'files', uid: randomUUID() },
        spec: {
          securityContext: { fsGroup: 2345 },
          volumes: [
            { name: 'config', configMap: { name: 'cfg' } },
            { name: 'creds', secret: { secretName: 'creds', defaultMode: 0o400 } },
          ],
          containers: [{ name: 'a', image: BUSYBOX_IMAGE }],
        },
      },
      'test',
    )
    const paths = await manager.setUp(pod)
    try {
      const inContainerd = (path: string): string => join(`/proc/${cd.pid}/root`, path)
      const config = await stat(join(paths.get('config')!, 'app.conf'))
      assert.deepEqual([config.gid, config.mode & 0o7777], [2345, 0o644])
      const secret = await stat(inContainerd(join(paths.get('creds')!, 'token')))
      assert.deepEqual([secret.gid, secret.mode & 0o7777], [2345, 0o440], 'the secret’s 0400 gains group read')
      const dir = await stat(inContainerd(paths.get('creds')!))
      assert.deepEqual([dir.gid, dir.mode & 0o2000], [2345, 0o2000])
    } finally {
      await manager.tearDown(pod)
    }
  })
})
