/**
 * The waiting reasons of a status taken while a pod's sync is under way (edged/status.ts
 * waitingSoFar), as the kubelet's reasonCache keeps them between syncs: what this sync found so far
 * wins; a container it has not come to yet keeps the reason the last status gave it, except the
 * "not made yet" reasons, which the runtime's view decides afresh.
 */
import assert from 'node:assert/strict'
import type { ContainerStatus, PodStatus } from '../../schemas/pod.js'
import { waitingSoFar } from '../../edged/status.js'

const waiting = (name: string, reason: string, message?: string): ContainerStatus => ({
  name,
  image: 'localhost/busybox:1',
  imageID: '',
  ready: false,
  started: false,
  restartCount: 1,
  state: { waiting: { reason, ...(message === undefined ? {} : { message }) } },
  lastState: {},
})
const running: ContainerStatus = { ...waiting('web', 'x'), state: { running: { startedAt: '2026-12-06T10:00:00Z' } } }

const previous: PodStatus = {
  phase: 'Running',
  conditions: [],
  initContainerStatuses: [waiting('setup', 'PodInitializing')],
  containerStatuses: [waiting('crashy', 'CrashLoopBackOff', 'back-off 20s restarting failed container=crashy pod=default/p'), waiting('pull', 'ErrImagePull', 'no registry'), waiting('new', 'ContainerCreating'), running],
}

describe('edged: waiting reasons of a status taken while a sync is under way', () => {
  it('keeps the last status’s reasons for containers this sync has not come to, this sync’s own for the others', () => {
    const sync = { waiting: new Map([['pull', { reason: 'ImagePullBackOff', message: 'Back-off pulling image' }]]), initFailed: false, acted: true }
    const merged = waitingSoFar(previous, sync)
    assert.deepEqual(Object.fromEntries(merged.waiting), {
      pull: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' },
      crashy: { reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=crashy pod=default/p' },
    })
    assert.equal(merged.acted, true)
    assert.equal(sync.waiting.size, 1, 'the sync’s own outcome is not changed')
  })

  it('without an earlier status, only this sync’s reasons', () => {
    assert.deepEqual([...waitingSoFar(undefined, { waiting: new Map(), initFailed: false, acted: false }).waiting], [])
  })
})
