/**
 * `tern pods` and `tern logs` (the built binary) on what a real Edged leaves on disk: Edged runs a
 * static pod on a private containerd (test/support/edged.ts), its container crash-loops, and the
 * commands read pods.json and the CRI log files — also with Edged stopped. The log lines are
 * checked as the container wrote them: stdout and stderr, a 40,000-byte line containerd splits
 * into partial records, the previous container's log, the last N lines, and a follow that goes on
 * into the next container's file after a restart.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { stringify } from 'yaml'
import { startContainerd, type Containerd } from '../support/containerd.js'
import { busyboxPod, eventually, readSnapshot, startEdgedHarness, writeManifest, type EdgedHarness } from '../support/edged.js'
import { startChild } from '../support/resources.js'
import { TERN_BIN } from '../support/tern.js'

const execFileAsync = promisify(execFile)

interface Run {
  code: number
  stdout: string
  stderr: string
}

async function tern(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [TERN_BIN, ...args], { timeout: 60_000, maxBuffer: 16 << 20 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

// each run prints a marker, three lines, one to stderr and one 40,000 bytes long, then fails
const SCRIPT = 'echo boot; for i in 1 2 3; do echo line-$i; done; echo oops >&2; head -c 40000 /dev/zero | tr "\\0" x; echo; sleep 2; exit 1'

describe('tern pods and tern logs (built binary, real Edged and containerd)', function () {
  this.timeout(240_000)
  let containerd: Containerd | undefined
  let h: (EdgedHarness & { dir: string; removeDir(): Promise<void> }) | undefined
  let config: string

  before(async () => {
    containerd = await startContainerd()
    h = await startEdgedHarness(containerd, { crashBackoff: { initialMs: 1_000, maxMs: 2_000 } })
    config = join(h.dir, 'tern.yaml')
    await writeFile(config, stringify({ dataDir: join(h.dir, 'data'), edged: { rootDir: h.rootDir } }))
    await writeManifest(h.manifests, 'talker.yaml', busyboxPod('talker', { app: SCRIPT, side: 'echo side-car; while true; do sleep 0.2; done' }))
    // two restarts of app: its logs 0.log, 1.log and 2.log exist
    await eventually(async () => ((await readSnapshot(h!.rootDir))?.pods[0]?.status.containerStatuses.find((c) => c.name === 'app')?.restartCount ?? 0) >= 2, 120_000, 'two restarts')
  })
  after(async () => {
    await h?.stop()
    await containerd?.stop()
    await h?.removeDir()
  })

  it('tern pods prints the pod as kubectl get pods -o wide does; -o json is the snapshot', async () => {
    const wide = await tern('pods', '--config', config, '-o', 'wide')
    assert.equal(wide.code, 0, wide.stderr)
    const [header, row, ...more] = wide.stdout.trimEnd().split('\n')
    assert.deepEqual(header?.split(/\s+/), ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE'])
    assert.deepEqual(more, [])
    const cells = row?.split(/\s{2,}/) ?? []
    assert.equal(cells[0], 'default')
    assert.equal(cells[1], 'talker-edge-test')
    assert.match(cells[2] ?? '', /^[012]\/2$/)
    // app crash-loops: its waiting reason, its exit, or Running between the two
    assert.match(cells[3] ?? '', /^(CrashLoopBackOff|Error|Running|NotReady)$/)
    assert.match(cells[4] ?? '', /^[1-9]\d*( \(\d+s ago\))?$/, 'restarts counted')
    assert.match(cells[6] ?? '', /^10\.189\.0\.\d+$/)
    assert.equal(cells[7], 'edge-test')
    const json = await tern('pods', '--config', config, '-o', 'json')
    assert.equal((JSON.parse(json.stdout) as { pods: Array<{ name: string }> }).pods[0]?.name, 'talker-edge-test')
  })

  it('tern logs: the current container by default (naming the choice), stderr and a split long line whole, --tail, --previous, -c', async () => {
    const current = await tern('logs', 'talker-edge-test', '--config', config)
    assert.equal(current.code, 0, current.stderr)
    assert.match(current.stderr, /Defaulted container "app" out of: app, side/)
    // stdout and stderr reach the CRI log through separate pipes: 'oops' may come before 'boot'
    assert.equal(current.stdout.split('\n').filter((l) => l !== 'oops')[0], 'boot')
    // the previous container's log is complete; stdout and stderr are copied apart, so only each stream's order is fixed
    const previous = await tern('logs', 'talker-edge-test', '-c', 'app', '--previous', '--config', config)
    assert.equal(previous.code, 0, previous.stderr)
    const lines = previous.stdout.split('\n')
    assert.deepEqual(lines.filter((l) => l !== 'oops'), ['boot', 'line-1', 'line-2', 'line-3', 'x'.repeat(40_000), ''], 'the partial records of the long line joined')
    assert.ok(lines.includes('oops'), 'stderr is in the log')
    const tail = await tern('logs', 'talker-edge-test', '-c', 'app', '--previous', '--tail', '2', '--config', config)
    const tailLines = tail.stdout.split('\n').slice(0, -1)
    assert.equal(tailLines.length, 2)
    assert.ok(tailLines.includes('x'.repeat(40_000)))
    const side = await tern('logs', 'talker-edge-test', '-c', 'side', '--config', config)
    assert.equal(side.stdout, 'side-car\n')
    const noPrevious = await tern('logs', 'talker-edge-test', '-c', 'side', '--previous', '--config', config)
    assert.equal(noPrevious.code, 1)
    assert.match(noPrevious.stderr, /EDGED_LOG_NOT_FOUND/)
    const nobody = await tern('logs', 'nobody', '--config', config)
    assert.equal(nobody.code, 1)
    assert.match(nobody.stderr, /EDGED_POD_NOT_FOUND/)
  })

  it('tern logs -f goes on into the next container after a restart', async () => {
    const follow = startChild(process.execPath, [TERN_BIN, 'logs', 'talker-edge-test', '-c', 'app', '-f', '--config', config])
    try {
      const boots = (): number => follow.output().split('\n').filter((l) => l === 'boot').length
      await follow.waitForLine((l) => l === 'boot', 30_000)
      const first = boots()
      // the next restart writes a new <n>.log; the follow prints its lines too
      await eventually(() => Promise.resolve(boots() > first), 60_000, 'the next container\'s lines in the follow')
    } finally {
      await follow.stop(5_000)
    }
  })

  it('both work with Edged stopped', async () => {
    await h!.stop()
    const pods = await tern('pods', '--config', config)
    assert.equal(pods.code, 0, pods.stderr)
    assert.match(pods.stdout, /^default\s+talker-edge-test\s/m)
    const logs = await tern('logs', 'talker-edge-test', '-c', 'app', '--tail=-1', '--config', config)
    assert.equal(logs.code, 0, logs.stderr)
    // stdout and stderr reach the CRI log through separate pipes: 'oops' may come before 'boot'
    assert.deepEqual(logs.stdout.split('\n').filter((l) => l !== 'oops').slice(0, 2), ['boot', 'line-1'])
  })
})
