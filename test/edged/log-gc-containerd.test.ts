/**
 * A crash-looping container's logs do not pile up (the kubelet removes a container's log with the
 * container, and its container GC keeps the newest dead container of each name): Edged on a
 * private containerd, with small log rotation settings, keeps at most the current and the
 * previous restart's log (each in at most containerLogMaxFiles files), `tern logs --previous`
 * (the built binary) shows the log of the container that ended last — also in crash back-off, when
 * only that one is left — and a removed pod's log directory goes. After containerd lost its
 * containers while tern edge was down, the new container counts on from the logs (the kubelet's
 * calcRestartCountByLogDir), the previous log stays and the older ones and those of pods that are
 * gone are removed.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { stringify } from 'yaml'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { readLogLines } from '../../edged/logs/read.js'
import { containerdAvailable, startContainerd, type Containerd } from '../support/containerd.js'
import { busyboxPod, containersOf, eventually, startEdgedHarness, writeManifest } from '../support/edged.js'
import type { ContainerStatus } from '../../schemas/pod.js'
import { scratchDir } from '../support/resources.js'
import { TERN_BIN } from '../support/tern.js'

const execFileAsync = promisify(execFile)

/** ~45 KB over 1.5 s (rotated at 8 KiB), every line with a token of its own, then a failure. */
const CHATTY = 't=$RANDOM$RANDOM; i=0; while [ $i -lt 15 ]; do i=$((i+1)); echo "boot $t $(head -c 3000 /dev/zero | tr "\\0" x)"; sleep 0.1; done; exit 1'
const MAX_FILES = 2

type Harness = Awaited<ReturnType<typeof startEdgedHarness>>

/** The restart count a log file belongs to: `<n>.log` and its rotated `<n>.log.<…>`. */
const attemptOf = (name: string): number | undefined => {
  const m = /^(\d+)\.log(\..*)?$/.exec(name)
  return m === null ? undefined : Number(m[1])
}

/** restart count → its files, in a container's log directory */
async function logFiles(dir: string): Promise<Map<number, string[]>> {
  const byAttempt = new Map<number, string[]>()
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const attempt = attemptOf(name)
    if (attempt !== undefined) byAttempt.set(attempt, [...(byAttempt.get(attempt) ?? []), name])
  }
  return byAttempt
}

/** The token of the container that wrote `text` (a log's lines, or its CRI records). */
const bootOf = (text: string): string | undefined => /(?:^|stdout F )boot (\d+)/m.exec(text)?.[1]

describe('edged: logs go with their containers and pods (real containerd, tern logs --previous)', function () {
  this.timeout(300_000)
  let containerd: Containerd | undefined
  let scratch: Awaited<ReturnType<typeof scratchDir>> | undefined
  let h: Harness | undefined
  let config: string

  const start = async (): Promise<Harness> =>
    startEdgedHarness(containerd!, {
      dir: scratch!.path,
      crashBackoff: { initialMs: 1_500, maxMs: 1_500 },
      logRotation: { containerLogMaxSize: '8Ki', containerLogMaxFiles: MAX_FILES, containerLogMonitorIntervalSeconds: 1 },
    })

  before(async function () {
    if (!(await containerdAvailable())) this.skip()
    containerd = await startContainerd()
    scratch = await scratchDir('tern-loggc-')
    h = await start()
    config = join(scratch.path, 'tern.yaml')
    await writeFile(config, stringify({ dataDir: join(scratch.path, 'data'), edged: { rootDir: h.rootDir } }))
  })
  after(async () => {
    await h?.stop()
    await containerd?.stop()
    await scratch?.remove()
  })

  const podDirOf = async (pod: string): Promise<string> => {
    const dirs = (await readdir(join(h!.rootDir, 'pods'))).filter((d) => d.startsWith(`default_${pod}-edge-test_`))
    assert.equal(dirs.length, 1, `one log directory of ${pod}: ${dirs.join(' ')}`)
    return join(h!.rootDir, 'pods', dirs[0]!)
  }
  // Edged's own status (the snapshot file is written a little later)
  const appStatus = (pod: string): Promise<ContainerStatus | undefined> =>
    Promise.resolve(h!.edged.statuses().find((p) => p.pod.metadata.name === `${pod}-edge-test`)?.status?.containerStatuses.find((c) => c.name === 'app'))
  /** The boot token of the container of `pod` that ended last, as the runtime has it (its own log path). */
  const lastEnded = async (pod: string): Promise<{ id: string; boot: string | undefined } | undefined> => {
    const exited = (await containersOf(h!.runtime, `${pod}-edge-test`, 'CONTAINER_EXITED')).filter((c) => c.labels['io.kubernetes.container.name'] === 'app')
    const newest = exited.sort((a, b) => Number(BigInt(b.createdAt) - BigInt(a.createdAt)))[0]
    if (newest === undefined) return undefined
    const logPath = (await h!.runtime.containerStatus(newest.id)).logPath
    // across its rotated files: right after a rotation the file itself may be empty
    const lines = await readLogLines(logPath).catch(() => ({ lines: [] }))
    return { id: newest.id, boot: bootOf(lines.lines.map((l) => l.text).join('\n')) }
  }
  const ternLogs = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [TERN_BIN, 'logs', ...args, '--config', config], { timeout: 60_000, maxBuffer: 16 << 20 })
      return { code: 0, stdout, stderr }
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string }
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
    }
  }
  /** `tern logs --previous` shows the log of the container that ended last (checked when the runtime did not change meanwhile). */
  const previousIsLastEnded = async (pod: string): Promise<void> => {
    for (let tries = 0; ; tries++) {
      const before = await lastEnded(pod)
      const run = await ternLogs(`${pod}-edge-test`, '-c', 'app', '--previous')
      const after = await lastEnded(pod)
      if (before?.id !== after?.id && tries < 5) continue
      assert.equal(run.code, 0, run.stderr)
      assert.ok(before?.boot !== undefined, 'the last ended container has its log')
      assert.equal(bootOf(run.stdout), before.boot, 'tern logs --previous is the log of the container that ended last')
      return
    }
  }

  it('a crash loop keeps the current and previous restarts\' logs (each <= containerLogMaxFiles files); --previous works in back-off and while running; a removed pod\'s log directory goes', async () => {
    await writeManifest(h!.manifests, 'loop.yaml', busyboxPod('loop', { app: CHATTY }))
    const dir = join(await eventually(() => podDirOf('loop').catch(() => undefined), 60_000, 'the pod log directory'), 'app')
    const violations: string[] = []
    let sawRotated = false
    let maxBytes = 0
    const sampling = { on: true }
    const sampler = (async () => {
      while (sampling.on) {
        const files = await logFiles(dir)
        if (files.size > 2) violations.push(`restarts ${[...files.keys()].join(',')}`)
        for (const [attempt, names] of files) {
          if (names.length > MAX_FILES) violations.push(`restart ${attempt}: ${names.join(' ')}`)
          if (names.some((n) => n !== `${attempt}.log`)) sawRotated = true
        }
        let bytes = 0
        for (const names of files.values()) for (const n of names) bytes += (await stat(join(dir, n)).catch(() => undefined))?.size ?? 0
        maxBytes = Math.max(maxBytes, bytes)
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    try {
      // in crash back-off: only the container that ended last is left, and --previous shows it
      await eventually(async () => {
        const s = await appStatus('loop')
        return s !== undefined && s.restartCount >= 2 && s.state.waiting?.reason === 'CrashLoopBackOff'
      }, 120_000, 'the container in crash back-off after 2 restarts')
      await previousIsLastEnded('loop')
      // running again: --previous is still the one that ended last
      await eventually(async () => (await appStatus('loop'))?.state.running !== undefined, 60_000, 'the container running again')
      await previousIsLastEnded('loop')
      await eventually(async () => ((await appStatus('loop'))?.restartCount ?? 0) >= 6, 120_000, '6 restarts')
    } finally {
      sampling.on = false
      await sampler
    }
    assert.deepEqual(violations, [], 'at most the current and previous restarts, each in at most containerLogMaxFiles files')
    assert.ok(sawRotated, 'the logs were rotated meanwhile')
    const left = await logFiles(dir)
    assert.ok(Math.max(...left.keys()) >= 6, `the newest restart's log is there: ${[...left.keys()].join(',')}`)
    assert.ok(maxBytes < 4 * 64 * 1024, `${maxBytes} bytes at most`)

    const podDir = await podDirOf('loop')
    await rm(join(h!.manifests, 'loop.yaml'))
    await eventually(async () => (await stat(podDir).catch(() => undefined)) === undefined, 60_000, 'the removed pod\'s log directory gone')
    const gone = await ternLogs('loop-edge-test')
    assert.equal(gone.code, 1)
    assert.match(gone.stderr, /EDGED_POD_NOT_FOUND/)
  })

  it('after containerd lost the containers while tern edge was down: the new one counts on from the logs, the previous log stays, older ones and gone pods\' directories go', async () => {
    // crash-loops until /flag/stay exists, then runs on
    const flag = join(scratch!.path, 'flag')
    const pod = busyboxPod('wiped', { app: 'echo "boot $RANDOM$RANDOM"; if [ -e /flag/stay ]; then while true; do sleep 0.2; done; fi; sleep 0.5; exit 1' }, { volumes: [{ name: 'flag', hostPath: { path: flag, type: 'DirectoryOrCreate' } }] })
    ;(pod.spec as { containers: Array<Record<string, unknown>> }).containers[0]!.volumeMounts = [{ name: 'flag', mountPath: '/flag' }]
    await writeManifest(h!.manifests, 'wiped.yaml', pod)
    await eventually(async () => ((await appStatus('wiped'))?.restartCount ?? 0) >= 2, 120_000, '2 restarts')
    await h!.stop()
    h = undefined
    const podDir = await (async () => {
      const dirs = (await readdir(join(scratch!.path, 'root', 'pods'))).filter((d) => d.startsWith('default_wiped-edge-test_'))
      return join(scratch!.path, 'root', 'pods', dirs[0]!)
    })()
    const appDir = join(podDir, 'app')
    const before = await logFiles(appDir)
    const newest = Math.max(...before.keys())
    const previousBoot = bootOf(await readFile(join(appDir, `${newest}.log`), 'utf8'))
    assert.ok(previousBoot !== undefined)
    // containerd's state is lost (a wiped /var/lib/containerd): its sandboxes and containers go
    const runtime: ContainerRuntime = await connectGrpcRuntime({ endpoint: containerd!.endpoint, callTimeoutMs: 60_000 })
    try {
      for (const s of await runtime.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'wiped-edge-test' } })) {
        await runtime.stopPodSandbox(s.id)
        await runtime.removePodSandbox(s.id)
      }
    } finally {
      runtime.close()
    }
    // logs a version that kept every restart's log left, and a pod removed while tern edge was down
    const stale = [`${newest - 2}.log`, `${newest - 3}.log.20260101-000000.gz`]
    for (const name of stale) await writeFile(join(appDir, name), '')
    const ghost = join(scratch!.path, 'root', 'pods', 'default_ghost-edge-test_0123456789abcdef')
    await mkdir(join(ghost, 'app'), { recursive: true })
    await writeFile(join(ghost, 'app', '0.log'), '')

    await writeFile(join(flag, 'stay'), '')
    h = await start()
    const first = await eventually(async () => (await containersOf(h!.runtime, 'wiped-edge-test')).find((c) => c.labels['io.kubernetes.container.name'] === 'app'), 60_000, 'a new container')
    assert.equal(first.metadata.attempt, newest + 1, 'the restart count goes on from the logs')
    await eventually(async () => (await stat(ghost).catch(() => undefined)) === undefined, 30_000, 'the gone pod\'s log directory removed')
    const after = await eventually(async () => {
      const files = await logFiles(appDir)
      return !files.has(newest - 2) && !files.has(newest - 3) && files
    }, 30_000, 'the older logs removed')
    assert.ok(after.has(newest), 'the previous restart\'s log is kept')
    const previous = await ternLogs('wiped-edge-test', '-c', 'app', '--previous')
    assert.equal(previous.code, 0, previous.stderr)
    assert.equal(bootOf(previous.stdout), previousBoot)
  })
})
