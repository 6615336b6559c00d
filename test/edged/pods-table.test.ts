/**
 * The pure parts of `tern pods` and `tern logs`: kubectl's STATUS, READY and RESTARTS rules
 * (printPod in kubectl's printers), its HumanDuration, and the CRI log record format.
 */
import assert from 'node:assert/strict'
import { humanDuration, podRow } from '../../cli/pods-table.js'
import { parseRecords } from '../../edged/logs/cri-log.js'
import type { PodSnapshotEntry } from '../../edged/status-manager.js'
import type { ContainerStatus, PodStatus } from '../../schemas/pod.js'

const NOW = Date.parse('2026-12-06T12:00:00Z')
const c = (name: string, extra: Partial<ContainerStatus>): ContainerStatus => ({ name, image: 'i', imageID: '', ready: false, restartCount: 0, state: {}, lastState: {}, ...extra })
const pod = (status: Partial<PodStatus>, containers = ['a'], init: string[] = [], deleting = false): PodSnapshotEntry => ({
  name: 'p',
  namespace: 'default',
  uid: 'u',
  createdAt: '2026-12-06T11:00:00Z',
  deleting,
  spec: { containers: containers.map((name) => ({ name })), initContainers: init.map((name) => ({ name })) },
  status: { phase: 'Running', conditions: [], containerStatuses: [], ...status },
})

describe('tern pods: kubectl get pods columns', () => {
  const cases: Array<[string, PodSnapshotEntry, { ready: string; status: string; restarts: string }]> = [
    ['running and ready', pod({ containerStatuses: [c('a', { ready: true, state: { running: { startedAt: '' } } })] }), { ready: '1/1', status: 'Running', restarts: '0' }],
    [
      'a waiting reason wins, restarts with the last restart age',
      pod({ containerStatuses: [c('a', { restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: '2026-12-06T11:59:20Z' } } })] }),
      { ready: '0/1', status: 'CrashLoopBackOff', restarts: '3 (40s ago)' },
    ],
    ['terminated without reason: the exit code', pod({ containerStatuses: [c('a', { state: { terminated: { exitCode: 2, reason: '' } } })] }), { ready: '0/1', status: 'ExitCode:2', restarts: '0' }],
    [
      'Completed while another runs: Running when the pod is Ready',
      pod(
        {
          conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '' }],
          containerStatuses: [c('a', { state: { terminated: { exitCode: 0, reason: 'Completed' } } }), c('b', { ready: true, state: { running: { startedAt: '' } } })],
        },
        ['a', 'b'],
      ),
      { ready: '1/2', status: 'Running', restarts: '0' },
    ],
    [
      'the second init container running: Init:1/2',
      pod({ phase: 'Pending', initContainerStatuses: [c('i1', { state: { terminated: { exitCode: 0, reason: 'Completed' } } }), c('i2', { state: { running: { startedAt: '' } } })], containerStatuses: [c('a', { state: { waiting: { reason: 'PodInitializing' } } })] }, ['a'], ['i1', 'i2']),
      { ready: '0/1', status: 'Init:1/2', restarts: '0' },
    ],
    [
      'a failed init container',
      pod({ phase: 'Pending', initContainerStatuses: [c('i1', { restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } } })], containerStatuses: [] }, ['a'], ['i1']),
      { ready: '0/1', status: 'Init:CrashLoopBackOff', restarts: '1' },
    ],
    ['being deleted: Terminating', pod({ containerStatuses: [c('a', { ready: true, state: { running: { startedAt: '' } } })] }, ['a'], [], true), { ready: '1/1', status: 'Terminating', restarts: '0' }],
  ]
  for (const [name, entry, want] of cases) it(name, () => assert.deepEqual(podRow(entry, NOW), want))

  it('AGE as kubectl HumanDuration', () => {
    const s = 1000
    assert.deepEqual(
      [5 * s, 119 * s, 125 * s, 600 * s, 3 * 3600 * s + 5 * 60 * s, 30 * 3600 * s, 50 * 3600 * s, 400 * 86400 * s, 3 * 365 * 86400 * s + 86400 * s].map(humanDuration),
      ['5s', '119s', '2m5s', '10m', '3h5m', '30h', '2d2h', '400d', '3y1d'],
    )
  })
})

describe('tern logs: CRI log records', () => {
  it('joins partial (P) records per stream into one line and skips records that do not parse', () => {
    const lines = parseRecords([
      '2026-12-06T12:00:00.000000001Z stdout P aaa',
      '2026-12-06T12:00:00.000000002Z stderr F err',
      '2026-12-06T12:00:00.000000003Z stdout P bbb',
      'garbage',
      '2026-12-06T12:00:00.000000004Z stdout F ccc',
      '2026-12-06T12:00:00.000000005Z stdout F',
    ])
    assert.deepEqual(
      lines.map((l) => [l.stream, l.text]),
      [
        ['stderr', 'err'],
        ['stdout', 'aaabbbccc'],
        ['stdout', ''],
      ],
    )
  })
})
