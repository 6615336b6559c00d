/**
 * Which log `kubectl logs` may show, from the pod's status (cloud-sync/streams/log-status.ts): the
 * kubelet's answers, case by case of pkg/kubelet/kubelet_pods.go validateContainerLogStatus (400)
 * and pkg/kubelet/server/server.go getContainerLogs (404 for a container not in the spec).
 */
import assert from 'node:assert/strict'
import { logRefusal } from '../../cloud-sync/streams/log-status.js'
import type { ContainerState, ContainerStatus, PodStatus } from '../../schemas/pod.js'

const spec = { containers: [{ name: 'app', image: 'localhost/busybox:1' }], initContainers: [{ name: 'init', image: 'localhost/busybox:1' }] }
const exited = { exitCode: 1, reason: 'Error', containerID: 'containerd://old' }

function status(state: ContainerState, lastState: ContainerState = {}, name = 'app'): PodStatus {
  const s: ContainerStatus = { name, image: 'localhost/busybox:1', imageID: '', ready: false, restartCount: 0, state, lastState, containerID: 'containerd://now' }
  return { phase: 'Running', conditions: [], containerStatuses: [s] }
}

describe('kubectl logs answers as the kubelet does when there is no log to show (validateContainerLogStatus)', () => {
  const cases: Array<[string, PodStatus | undefined, string, boolean, string | undefined]> = [
    ['running, current log', status({ running: { startedAt: 't' } }), 'app', false, undefined],
    ['running after a restart, previous log', status({ running: { startedAt: 't' } }, { terminated: exited }), 'app', true, undefined],
    ['--previous of a container that has not restarted', status({ running: { startedAt: 't' } }), 'app', true, 'previous terminated container "app" in pod "p" not found'],
    ['--previous when the last state has no container id', status({ running: { startedAt: 't' } }, { terminated: { ...exited, containerID: '' } }), 'app', true, 'previous terminated container "app" in pod "p" not found'],
    ['terminated, its own log', status({ terminated: exited }), 'app', false, undefined],
    ['terminated without an id, the last one has one', status({ terminated: { ...exited, containerID: '' } }, { terminated: exited }), 'app', false, undefined],
    ['terminated without an id at all', status({ terminated: { ...exited, containerID: '' } }), 'app', false, 'container "app" in pod "p" is terminated'],
    ['waiting in back-off after a run: the last run', status({ waiting: { reason: 'CrashLoopBackOff' } }, { terminated: exited }), 'app', false, undefined],
    ['waiting for an image that cannot be pulled', status({ waiting: { reason: 'ErrImagePull' } }), 'app', false, 'container "app" in pod "p" is waiting to start: image can\'t be pulled'],
    ['waiting in image pull back-off', status({ waiting: { reason: 'ImagePullBackOff' } }), 'app', false, 'container "app" in pod "p" is waiting to start: trying and failing to pull image'],
    ['waiting, another reason', status({ waiting: { reason: 'ErrImageNeverPull' } }), 'app', false, 'container "app" in pod "p" is waiting to start: ErrImageNeverPull'],
    ['no state at all', status({}), 'app', false, 'container "app" in pod "p" is waiting to start - no logs yet'],
    ['in the spec, not in the status', status({ running: { startedAt: 't' } }, {}, 'other'), 'app', false, 'container "app" in pod "p" is not available'],
    ['no status yet', undefined, 'app', false, 'container "app" in pod "p" is not available'],
  ]
  for (const [what, podStatus, container, previous, message] of cases) {
    it(`${what}: ${message === undefined ? 'served' : '400'}`, () => {
      const refusal = logRefusal('p', spec, podStatus, container, previous)
      assert.deepEqual(refusal, message === undefined ? undefined : { code: 'STREAM_LOG_UNAVAILABLE', message })
    })
  }

  it('an init container is looked up among the init statuses', () => {
    const podStatus = { ...status({ running: { startedAt: 't' } }), initContainerStatuses: status({ terminated: { ...exited, exitCode: 0, reason: 'Completed' } }, {}, 'init').containerStatuses }
    assert.equal(logRefusal('p', spec, podStatus, 'init', false), undefined)
    assert.equal(logRefusal('p', spec, podStatus, 'init', true)?.code, 'STREAM_LOG_UNAVAILABLE')
  })

  it('a container not in the pod\'s spec: 404, the kubelet server\'s words', () => {
    assert.deepEqual(logRefusal('p', spec, status({ running: { startedAt: 't' } }), 'nope', false), { code: 'STREAM_CONTAINER_NOT_FOUND', message: 'container "nope" not found in pod "p"' })
  })
})
