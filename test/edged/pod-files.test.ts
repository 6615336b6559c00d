/**
 * What edged puts into a pod's containers from the node, as the kubelet does, checked through its
 * own loop on a real containerd:
 * - the termination message: the file mounted at terminationMessagePath becomes the terminated
 *   state's message; with FallbackToLogsOnError a failed container that wrote none gets its log's tail.
 */
import assert from 'node:assert/strict'
import { busyboxPod, edgedSuite, eventually, NODE, readSnapshot, writeManifest } from '../support/edged.js'

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
    assert.equal(statuses.get('logs')?.message, 'first\nboom\n', 'the log tail of a failed container that wrote no message')
    assert.equal(statuses.get('quiet')?.message, undefined, 'no fallback for a container that succeeded')
  })
})
