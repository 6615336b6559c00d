/**
 * The private containerd of the tests leaves nothing behind: when it was killed and cannot be
 * started again to stop its tasks, stop() still kills the shims it started and their containers,
 * by PID, and its namespaces' holder with them.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import { CTR_BIN, containerdAvailable, startContainerd, type Containerd } from '../support/containerd.js'
import { startTestPod } from '../support/cri-pod.js'

const execFileAsync = promisify(execFile)

/** Running: present and not a zombie. */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
}

/** The shims reporting to `socket` (their command line names it). */
async function shimPids(socket: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0')
    if (argv[0]?.includes('containerd-shim') === true && argv.includes(socket)) pids.push(Number(entry))
  }
  return pids
}

describe('test support: a private containerd that cannot be restarted', function () {
  this.timeout(180_000)
  let containerd: Containerd | undefined
  let leftovers: number[] = []

  before(async function () {
    if (!(await containerdAvailable())) this.skip()
  })
  after(async () => {
    // whatever a failing run leaves: killed by the PIDs it found
    for (const pid of leftovers) if (await running(pid)) process.kill(pid, 'SIGKILL')
  })

  it('stop() kills its shims and containers by PID when containerd will not start again', async () => {
    containerd = await startContainerd()
    const runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 60_000 })
    const pod = await startTestPod(runtime, { name: 'leftover', uid: 'uid-leftover', logDirectory: join(containerd.dir, 'pods') })
    await pod.run('app', 'while true; do sleep 0.2; done')
    runtime.close()
    const { stdout } = await execFileAsync(CTR_BIN, ['--address', containerd.socket, '--namespace', 'k8s.io', 'tasks', 'ls'])
    const taskPids = stdout
      .split('\n')
      .slice(1)
      .map((l) => Number(l.trim().split(/\s+/)[1]))
      .filter((p) => Number.isInteger(p) && p > 0)
    assert.equal(taskPids.length, 2, `the sandbox and the container run:\n${stdout}`)
    const shims = await shimPids(containerd.socket)
    assert.ok(shims.length >= 1, 'a shim runs the pod')
    leftovers = [...taskPids, ...shims]

    await containerd.kill9()
    // containerd cannot start again: its config is no longer one
    await writeFile(join(containerd.dir, 'config.toml'), 'not = [ toml')
    const dir = containerd.dir
    await containerd.stop()
    containerd = undefined

    for (const pid of leftovers) assert.equal(await running(pid), false, `process ${pid} (a shim or container of the stopped containerd) is gone`)
    await assert.rejects(readdir(dir), { code: 'ENOENT' }, 'the scratch directory is removed')
  })
})
