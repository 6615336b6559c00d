/**
 * Container log rotation (edged/logs/rotate.ts, the kubelet's container log manager) against a
 * real containerd: real containers writing numbered lines, real CRI ReopenContainerLog. The pod log
 * directory is a small tmpfs, mounted before containerd starts so that containerd (in its own mount
 * namespace) writes to the same one, which the tests fill up (no space, no inodes) to make the
 * rotation's steps fail for real.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, rm, stat, writeFile, open } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { pino, type Logger } from 'pino'
import { connectGrpcRuntime } from '../../edged/cri/grpc-runtime.js'
import type { ContainerRuntime } from '../../edged/cri/runtime.js'
import { LogRotator, rotationTime } from '../../edged/logs/rotate.js'
import { followLog, readLogLines } from '../../edged/logs/read.js'
import { logStream } from '../../cloud-sync/streams/log-stream.js'
import { containerdAvailable, startContainerd, type Containerd } from '../support/containerd.js'
import { startTestPod, type TestPod } from '../support/cri-pod.js'
import { eventually } from '../support/edged.js'
import { scratchDir } from '../support/resources.js'

const execFileAsync = promisify(execFile)

/** `n` numbered lines of about 100 bytes every 20 ms, for ever: `seq <i> xxx…`. */
const writer = (n: number): string => `i=0; while true; do j=0; while [ $j -lt ${n} ]; do i=$((i+1)); j=$((j+1)); echo "seq $i ${'x'.repeat(80)}"; done; sleep 0.02; done`

/** `total` numbered lines in bursts of `burst` every 20 ms, then `end`, then nothing (the container runs on). */
const finiteWriter = (total: number, burst: number): string =>
  `i=0; while [ $i -lt ${total} ]; do j=0; while [ $j -lt ${burst} ]; do i=$((i+1)); j=$((j+1)); echo "seq $i ${'x'.repeat(80)}"; done; sleep 0.02; done; echo end; while true; do sleep 1; done`

const seqOf = (text: string): number | 'end' | undefined => (text === 'end' ? 'end' : Number(/^seq (\d+) /.exec(text)?.[1] ?? NaN) || undefined)

/** The sequence numbers in a container's log files, oldest file first (compressed ones unpacked). */
async function sequence(dir: string): Promise<number[]> {
  const names = (await readdir(dir)).sort((a, b) => (a === '0.log' ? 1 : b === '0.log' ? -1 : a.localeCompare(b)))
  const seqs: number[] = []
  for (const name of names) {
    const raw = await readFile(join(dir, name))
    const text = (name.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')
    for (const m of text.matchAll(/ stdout F seq (\d+) /g)) seqs.push(Number(m[1]))
  }
  return seqs
}

function assertContiguous(seqs: number[]): void {
  assert.ok(seqs.length > 0)
  const gaps = seqs.flatMap((s, i) => (i > 0 && s !== seqs[i - 1]! + 1 ? [`${seqs[i - 1]} -> ${s}`] : []))
  assert.deepEqual(gaps, [], 'no line lost or repeated across the files')
}

/** Waits until the container's current log has reached the rotators' 64 KiB. */
async function full(dir: string): Promise<void> {
  await eventually(async () => ((await stat(join(dir, '0.log')).catch(() => undefined))?.size ?? 0) >= 64 * 1024, 30_000, 'a full log')
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('edged: container log rotation on real containerd (kubelet containerLogMaxSize/MaxFiles)', function () {
  this.timeout(180_000)
  let containerd: Containerd | undefined
  let runtime: ContainerRuntime
  let scratch: Awaited<ReturnType<typeof scratchDir>> | undefined
  let logDir: string
  let mounted = false
  let logLines: string[]
  let log: Logger
  let pod: TestPod | undefined
  let podCount = 0

  before(async function () {
    if (!(await containerdAvailable())) this.skip()
    scratch = await scratchDir('tern-logrot-')
    logDir = join(scratch.path, 'logs')
    await mkdir(logDir)
    await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=32m,nr_inodes=2000', 'tmpfs', logDir])
    mounted = true
    containerd = await startContainerd()
    runtime = await connectGrpcRuntime({ endpoint: containerd.endpoint, callTimeoutMs: 60_000 })
  })
  after(async () => {
    runtime?.close()
    await containerd?.stop()
    if (mounted) await execFileAsync('umount', [logDir])
    await scratch?.remove()
  })
  beforeEach(async () => {
    logLines = []
    log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) })
    podCount++
    pod = await startTestPod(runtime, { name: `rot-${podCount}`, uid: `uid-rot-${podCount}`, logDirectory: join(logDir, `pod-${podCount}`) })
  })
  afterEach(async () => {
    await pod?.remove()
    if (pod !== undefined) await rm(pod.logDirectory, { recursive: true, force: true })
  })

  const rotator = (over: Partial<ConstructorParameters<typeof LogRotator>[0]> = {}): LogRotator =>
    new LogRotator({ runtime, maxBytes: 64 * 1024, maxFiles: 3, intervalMs: 1_000, workers: 1, log, ...over })
  const coded = (code: string): unknown[] => logLines.map((l) => JSON.parse(l) as { code?: string }).filter((l) => l.code === code)

  it('renames a full log to <log>.<UTC time>, containerd reopens it; older files gzipped, those past maxFiles deleted, the newest rotated kept plain', async () => {
    await pod!.run('app', writer(200))
    const dir = join(pod!.logDirectory, 'app')
    const r = rotator()
    for (let round = 0; round < 4; round++) {
      await full(dir)
      // distinct seconds: the rotated names carry the time to the second
      await sleep(1_050)
      const before = rotationTime(Date.now())
      await r.round()
      const names = (await readdir(dir)).sort()
      assert.ok(names.length <= 3, `at most maxFiles files: ${names.join(' ')}`)
      assert.ok(names.includes('0.log'), 'containerd writes a new 0.log')
      const rotated = names.filter((n) => n !== '0.log')
      assert.equal(rotated.length, Math.min(round + 1, 2))
      assert.match(rotated.at(-1)!, /^0\.log\.\d{8}-\d{6}$/, 'the newest rotated file stays uncompressed')
      assert.ok(rotated.at(-1)!.slice('0.log.'.length) >= before)
      for (const older of rotated.slice(0, -1)) assert.match(older, /^0\.log\.\d{8}-\d{6}\.gz$/)
    }
    assertContiguous(await sequence(dir))
    assert.deepEqual(coded('EDGED_LOG_ROTATION_FAILED'), [])
  })

  it('logs -f (the kubelet stream and tern logs) gets every line once and in order across rotations; files <= maxFiles, disk bounded; --tail, --since and --previous read the rotated files', async () => {
    const total = 60_000
    const id = await pod!.run('app', finiteWriter(total, 500))
    const dir = join(pod!.logDirectory, 'app')
    const path = join(dir, '0.log')
    const r = rotator({ maxBytes: 256 * 1024 })
    r.start()
    const abort = new AbortController()
    const viaStream: Array<number | 'end' | undefined> = []
    const streaming = (async () => {
      let rest = ''
      const running = async (): Promise<boolean> => (await runtime.containerStatus(id)).state === 'CONTAINER_RUNNING'
      for await (const chunk of logStream({ containerDir: dir, attempt: 0, follow: true, timestamps: false, running, signal: abort.signal, intervalMs: 50 })) {
        const parts = (rest + chunk.toString('utf8')).split('\n')
        rest = parts.pop() ?? ''
        for (const l of parts) viaStream.push(seqOf(l))
      }
    })()
    const viaTernLogs: Array<number | 'end' | undefined> = []
    const following = followLog({ containerDir: dir, attempt: 0, offset: 0, rest: '', pending: new Map(), onLine: (l) => viaTernLogs.push(seqOf(l.text)), intervalMs: 50, signal: abort.signal })
    const rotatedNames = new Set<string>()
    let maxFiles = 0
    let maxBytes = 0
    const began = Date.now()
    try {
      while (!(viaStream.includes('end') && viaTernLogs.includes('end'))) {
        assert.ok(Date.now() - began < 120_000, `both readers got to the end (${viaStream.length}, ${viaTernLogs.length} lines)`)
        const names = await readdir(dir)
        const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, n)).catch(() => undefined))?.size ?? 0))
        maxFiles = Math.max(maxFiles, names.length)
        maxBytes = Math.max(maxBytes, sizes.reduce((a, b) => a + b, 0))
        for (const n of names) if (n !== '0.log') rotatedNames.add(n.replace(/\.gz$/, ''))
        await sleep(100)
      }
    } finally {
      abort.abort()
      await Promise.all([streaming, following])
      await r.stop()
    }
    const seconds = (Date.now() - began) / 1000
    const written = total * 95
    const expected = [...Array.from({ length: total }, (_, i) => i + 1), 'end']
    assert.ok(rotatedNames.size >= 2, `rotated ${rotatedNames.size} times`)
    assert.deepEqual(viaStream, expected, 'kubectl logs -f: every line once, in order')
    assert.deepEqual(viaTernLogs, expected, 'tern logs -f: every line once, in order')
    assert.ok(maxFiles <= 3, `at most maxFiles files: ${maxFiles}`)
    // the log's share of the disk: maxFiles files of the size plus what is written in an interval
    assert.ok(maxBytes <= 3 * (256 * 1024 + 2 * (written / seconds)), `${maxBytes} bytes on disk for ${written} written in ${seconds} s`)
    assert.ok(maxBytes < written, `${maxBytes} bytes on disk for ${written} written`)

    // the last lines, also when the file being written was just rotated and is empty
    await sleep(1_050)
    await rotator({ maxBytes: 1 }).round()
    assert.equal((await stat(path)).size, 0)
    const kept = await sequence(dir)
    const want = kept.slice(-3000)
    assert.ok(kept.length > 3000 && (await readdir(dir)).some((n) => n.endsWith('.gz')), 'the last 3000 lines span a compressed file')
    assert.deepEqual((await readLogLines(path, 3001)).lines.map((l) => seqOf(l.text)), [...want, 'end'])
    let tailed = ''
    for await (const chunk of logStream({ containerDir: dir, attempt: 0, follow: false, tailLines: 3001, timestamps: false, running: () => Promise.resolve(true), signal: new AbortController().signal })) tailed += chunk.toString('utf8')
    assert.deepEqual(tailed.split('\n').slice(0, -1).map(seqOf), [...want, 'end'])
    // --since: the lines written at or after a time inside the compressed file
    const all = (await readLogLines(path)).lines
    assert.deepEqual(all.map((l) => seqOf(l.text)), [...kept, 'end'], 'the whole log is every kept file, oldest first')
    const since = Date.parse(all[Math.floor(all.length / 4)]!.time)
    let sinced = ''
    for await (const chunk of logStream({ containerDir: dir, attempt: 0, follow: false, sinceMs: since, timestamps: false, running: () => Promise.resolve(true), signal: new AbortController().signal })) sinced += chunk.toString('utf8')
    assert.deepEqual(sinced.split('\n').slice(0, -1).map(seqOf), all.filter((l) => Date.parse(l.time) >= since).map((l) => seqOf(l.text)))
    // --previous: once the container restarted, its rotated files are the previous log
    await runtime.stopContainer(id, 0)
    await pod!.run('app', 'echo second; while true; do sleep 1; done', 1)
    let previous = ''
    for await (const chunk of logStream({ containerDir: dir, attempt: 0, follow: false, timestamps: false, running: () => Promise.resolve(false), signal: new AbortController().signal })) previous += chunk.toString('utf8')
    assert.deepEqual(previous.split('\n').slice(0, -1).map(seqOf), [...kept, 'end'])
  })

  it('a container that exits while its log is rotated (ReopenContainerLog refused): its log keeps its name, nothing is logged as a failure', async () => {
    const id = await pod!.run('app', writer(200))
    const dir = join(pod!.logDirectory, 'app')
    await full(dir)
    // the container ends between the rename and the reopen
    const exiting: ContainerRuntime = { ...runtime, reopenContainerLog: async (cid) => {
      await runtime.stopContainer(cid, 0)
      return runtime.reopenContainerLog(cid)
    } }
    await rotator({ runtime: exiting }).round()
    assert.equal((await runtime.containerStatus(id)).state, 'CONTAINER_EXITED')
    assert.deepEqual(await readdir(dir), ['0.log'])
    assertContiguous(await sequence(dir))
    assert.deepEqual(coded('EDGED_LOG_ROTATION_FAILED'), [])
    assert.ok(logLines.some((l) => l.includes('container ended while its log was rotated')))
  })

  it('ReopenContainerLog failing (no inode left for the new file): the name is restored, EDGED_LOG_ROTATION_FAILED, and the next round rotates', async () => {
    await pod!.run('app', writer(20))
    const dir = join(pod!.logDirectory, 'app')
    await full(dir)
    const filler = join(logDir, 'filler')
    await mkdir(filler)
    try {
      await fillInodes(filler)
      const r = rotator()
      await r.round()
      assert.equal(coded('EDGED_LOG_ROTATION_FAILED').length, 1, logLines.join('\n'))
      assert.deepEqual(await readdir(dir), ['0.log'], 'the log is back under its name')
      await rm(filler, { recursive: true })
      // the container kept writing into its file all along
      await sleep(1_050)
      await r.round()
      assert.equal((await readdir(dir)).length, 2)
      assertContiguous(await sequence(dir))
    } finally {
      await rm(filler, { recursive: true, force: true })
    }
  })

  it('a full disk while compressing: the partial .gz is removed, the plain file and the log kept, EDGED_LOG_ROTATION_FAILED; the next round compresses', async () => {
    await pod!.run('app', writer(20))
    const dir = join(pod!.logDirectory, 'app')
    const r = rotator()
    await full(dir)
    await r.round()
    const first = (await readdir(dir)).sort()
    assert.equal(first.length, 2)
    const rotated = first.find((n) => n !== '0.log')!
    const kept = await readFile(join(dir, rotated))
    await full(dir)
    await sleep(1_050)
    const filler = join(logDir, 'filler.bin')
    try {
      await fillSpace(filler)
      await r.round()
      assert.equal(coded('EDGED_LOG_ROTATION_FAILED').length, 1, logLines.join('\n'))
      assert.deepEqual((await readdir(dir)).sort(), first, 'no .tmp left, nothing renamed or removed')
      await rm(filler)
      await r.round()
      const names = (await readdir(dir)).sort()
      assert.equal(names.length, 3)
      assert.ok(names.includes(`${rotated}.gz`), names.join(' '))
      assert.ok(gunzipSync(await readFile(join(dir, `${rotated}.gz`))).equals(kept), 'the compressed file holds the whole rotated log')
    } finally {
      await rm(filler, { force: true })
    }
  })
})

/** Creates empty files in `dir` until the filesystem has no inode left. */
async function fillInodes(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await writeFile(join(dir, String(i)), '')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return
      throw err
    }
  }
}

/** Writes `path` until the filesystem is full. */
async function fillSpace(path: string): Promise<void> {
  const handle = await open(path, 'w')
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size)
      for (;;) {
        try {
          const { bytesWritten } = await handle.write(chunk)
          if (bytesWritten < size) break
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break
          throw err
        }
      }
    }
  } finally {
    await handle.close()
  }
}
