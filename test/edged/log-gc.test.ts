/**
 * Logs of containers and pods that are gone (edged/logs/gc.ts), on real files: which restarts'
 * logs go (the kubelet keeps the current and the last dead container's, so `logs --previous`
 * works), the log directories of pods that are gone, and readers following a log that is removed
 * meanwhile, which end instead of waiting for ever.
 */
import assert from 'node:assert/strict'
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { logStream } from '../../cloud-sync/streams/log-stream.js'
import { collectLogs, readLogDirs, removeContainerLog, removePodLogs, staleAttempts } from '../../edged/logs/gc.js'
import { containerLogFile, lastAttempt, nextAttempt } from '../../edged/logs/files.js'
import type { ContainerStatus } from '../../schemas/pod.js'
import { followLog } from '../../edged/logs/read.js'
import { eventually } from '../support/edged.js'
import { scratchDir } from '../support/resources.js'

const T = '2026-01-01T00:00:00.000000000Z'

describe('edged: logs of containers and pods that are gone (kubelet removeContainerLog, evictPodLogsDirectories)', function () {
  this.timeout(60_000)
  let dir: Awaited<ReturnType<typeof scratchDir>>
  beforeEach(async () => {
    dir = await scratchDir()
  })
  afterEach(() => dir.remove())

  /** Files `name` with a line each under the pod log directory `<root>/pods/<pod>/`. */
  async function files(pod: string, names: string[]): Promise<string> {
    const podDir = join(dir.path, 'pods', pod)
    for (const name of names) {
      await mkdir(join(podDir, name, '..'), { recursive: true })
      await writeFile(join(podDir, name), `${T} stdout F ${name}\n`)
    }
    return podDir
  }

  it('staleAttempts keeps what the runtime holds, the two newest logs and any log newer than the runtime knows', () => {
    const table: Array<[files: number[], held: number[], stale: number[], why: string]> = [
      [[0, 1, 2, 3, 4], [3, 4], [0, 1, 2], 'a crash loop: the running and the last dead container'],
      [[3, 4], [4], [], 'in crash back-off only the newest instance is held: the one before it is kept until it is removed'],
      [[0, 1, 2, 3, 4, 5], [], [0, 1, 2, 3], 'containerd lost every container: the two newest logs stay'],
      [[4, 5, 6], [6], [4], 'counting on after containerd lost its state: the new container and the one before'],
      [[0, 5, 6], [0], [], 'a log newer than every container held (one started since the listing) is never stale'],
      [[0], [], [], 'one log'],
      [[], [2, 3], [], 'no logs'],
    ]
    for (const [f, held, stale, why] of table) assert.deepEqual(staleAttempts(f, held), stale, why)
  })

  it('removeContainerLog removes the file and its rotated ones, and no other restart\'s (1.log* is not 10.log)', async () => {
    const podDir = await files('default_p_u1', ['app/1.log', 'app/1.log.20260101-000000.gz', 'app/1.log.20260101-000010', 'app/1.log.20260101-000020.tmp', 'app/10.log', 'app/0.log'])
    await removeContainerLog(join(podDir, 'app', '1.log'))
    assert.deepEqual((await readdir(join(podDir, 'app'))).sort(), ['0.log', '10.log'])
  })

  it('collectLogs removes the directories of pods that are gone and the stale restarts of the others; nextAttempt counts on from the logs', async () => {
    await files('default_gone_u-gone', ['app/0.log'])
    const live = await files('default_live_u-live', ['app/0.log', 'app/1.log.20260101-000000.gz', 'app/2.log', 'app/3.log', 'side/0.log', 'notes.txt'])
    await writeFile(join(dir.path, 'pods', 'stray-file'), '')
    const found = await readLogDirs(dir.path)
    const removed = await collectLogs({ found, live: (uid) => uid === 'u-live', held: (_uid, name) => (name === 'app' ? [3] : []) })
    assert.deepEqual(removed.sort(), [join(dir.path, 'pods', 'default_gone_u-gone'), join(live, 'app', '0.log'), join(live, 'app', '1.log')].sort())
    assert.deepEqual((await readdir(join(dir.path, 'pods'))).sort(), ['default_live_u-live', 'stray-file'])
    assert.deepEqual((await readdir(join(live, 'app'))).sort(), ['2.log', '3.log'])
    assert.deepEqual(await readdir(join(live, 'side')), ['0.log'])
    assert.equal(await nextAttempt(join(live, 'app')), 4)
    assert.equal(await nextAttempt(join(live, 'none')), 0)
    await removePodLogs(dir.path, 'u-live')
    assert.deepEqual(await readdir(join(dir.path, 'pods')), ['stray-file'])
  })

  it('--previous is the container that ended last: in crash back-off the newest log; a status a little behind falls back on the files', async () => {
    const status = (restartCount: number, id: string, lastId: string, waiting: boolean): { containerStatuses: ContainerStatus[] } => ({
      containerStatuses: [{ name: 'app', image: 'i', imageID: '', ready: false, restartCount, containerID: id, state: waiting ? { waiting: { reason: 'CrashLoopBackOff' } } : { running: { startedAt: T } }, lastState: { terminated: { exitCode: 1, reason: 'Error', containerID: lastId } } }],
    })
    const inBackoff = lastAttempt({ phase: 'Running', conditions: [], ...status(4, 'containerd://d', 'containerd://d', true) }, 'app')
    const running = lastAttempt({ phase: 'Running', conditions: [], ...status(4, 'containerd://e', 'containerd://d', false) }, 'app')
    assert.deepEqual([inBackoff, running, lastAttempt(undefined, 'app')], [4, 3, undefined])
    const podDir = await files('default_p_u1', ['app/3.log', 'app/4.log'])
    const attemptOf = async (previous: boolean, last?: number): Promise<number> => (await containerLogFile(podDir, 'app', previous, last)).attempt
    assert.deepEqual([await attemptOf(false), await attemptOf(true), await attemptOf(true, 4), await attemptOf(true, 3), await attemptOf(true, 2)], [4, 3, 4, 3, 3])
    await removeContainerLog(join(podDir, 'app', '3.log'))
    // in back-off the one before went with its container; a status naming it is behind: the newest ended
    assert.deepEqual([await attemptOf(true, 4), await attemptOf(true, 3)], [4, 4])
    await assert.rejects(containerLogFile(podDir, 'app', true), { code: 'EDGED_LOG_NOT_FOUND' })
  })

  it('tern logs -f and the kubelet log stream of a log removed while they follow it end, after what was written', async () => {
    const podDir = await files('default_p_u1', ['app/0.log.20260101-000000', 'app/0.log'])
    const containerDir = join(podDir, 'app')
    const abort = new AbortController()
    try {
      const viaTern: string[] = []
      const following = followLog({ containerDir, attempt: 0, offset: 0, rest: '', pending: new Map(), onLine: (l) => viaTern.push(l.text), intervalMs: 20, signal: abort.signal })
      const viaStream: string[] = []
      const streaming = (async () => {
        for await (const chunk of logStream({ containerDir, attempt: 0, follow: true, timestamps: false, running: () => Promise.resolve(true), signal: abort.signal, intervalMs: 20 })) viaStream.push(chunk.toString('utf8'))
      })()
      await appendFile(join(containerDir, '0.log'), `${T} stdout F more\n`)
      await eventually(() => Promise.resolve(viaTern.includes('more') && viaStream.join('').includes('more\n')), 10_000, 'the followers reading the new line')
      await removeContainerLog(join(containerDir, '0.log'))
      const ended = await Promise.race([Promise.all([following, streaming]).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5_000))])
      assert.equal(ended, true, 'both follows ended once the log was removed')
      assert.deepEqual(viaTern, ['app/0.log', 'more'])
      assert.equal(viaStream.join(''), 'app/0.log.20260101-000000\napp/0.log\nmore\n')
    } finally {
      abort.abort()
    }
  })
})
